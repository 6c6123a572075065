"""The answer to a sign-in while its user name and address are locked out (django-axes' lockout callable)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

LOCKED_OUT_STATUS = 429


def lockout_minutes() -> int:
    return max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def locked_out_message() -> str:
    return (
        f"Too many failed sign-ins for this user name from your address: try again in {lockout_minutes()} "
        "minutes."
    )


def locked_out_answer() -> dict:
    """The API's body for a locked-out sign-in."""
    return {"detail": locked_out_message(), "code": "locked_out"}


def sign_in_locked_out(
    request: HttpRequest, credentials: dict | None = None, *_args, **_kwargs
) -> HttpResponse:
    """429 with the reason and how long to wait: JSON for the API, a page for the browser."""
    if request.path.startswith("/api/"):
        return JsonResponse(locked_out_answer(), status=LOCKED_OUT_STATUS)
    context = {"minutes": lockout_minutes(), "failure_limit": settings.AXES_FAILURE_LIMIT}
    return render(request, "registration/locked_out.html", context, status=LOCKED_OUT_STATUS)
