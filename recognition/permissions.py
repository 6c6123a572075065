"""Roles by Django group: who may upload, review, and manage templates and models."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

UPLOADERS = "uploaders"
REVIEWERS = "reviewers"
ADMINS = "admins"
ROLE_GROUPS = (UPLOADERS, REVIEWERS, ADMINS)


def _in_group(user, name: str) -> bool:
    if not user.is_authenticated:
        return False
    # Cached on the user object: a page asks several times per request.
    groups = getattr(user, "_hwr_group_names", None)
    if groups is None:
        groups = set(user.groups.values_list("name", flat=True))
        user._hwr_group_names = groups
    return name in groups


def is_admin(user) -> bool:
    """Admins manage templates and model versions; superusers and staff are admins too."""
    return bool(user.is_authenticated and (user.is_superuser or user.is_staff or _in_group(user, ADMINS)))


def is_reviewer(user) -> bool:
    """Reviewers work the review queue across all documents."""
    return is_admin(user) or _in_group(user, REVIEWERS)


def can_upload(user) -> bool:
    return is_reviewer(user) or _in_group(user, UPLOADERS)


def can_see_all_documents(user) -> bool:
    return is_reviewer(user)


class IsReviewer(BasePermission):
    message = "Only reviewers may do this."

    def has_permission(self, request, view) -> bool:
        return is_reviewer(request.user)


class IsUploader(BasePermission):
    message = "Only uploaders may do this."

    def has_permission(self, request, view) -> bool:
        return can_upload(request.user)


class IsAdmin(BasePermission):
    message = "Only admins manage retraining and model versions."

    def has_permission(self, request, view) -> bool:
        return is_admin(request.user)


class IsAdminOrReadOnly(BasePermission):
    """Everyone signed in may read; only admins may write."""

    message = "Only admins may change this."

    def has_permission(self, request, view) -> bool:
        if not request.user.is_authenticated:
            return False
        return request.method in ("GET", "HEAD", "OPTIONS") or is_admin(request.user)
