"""Template filters that ask the user's role, so pages show only the links a user may follow."""

from django import template

from recognition import permissions

register = template.Library()


@register.filter
def is_reviewer(user) -> bool:
    return permissions.is_reviewer(user)


@register.filter
def is_admin(user) -> bool:
    return permissions.is_admin(user)
