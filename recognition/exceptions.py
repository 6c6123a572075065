"""Domain exceptions and the one place that maps them to HTTP, for the API and the browser views."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class DomainError(Exception):
    """A business rule said no; the message is safe to show to the user."""

    http_status = 400
    code = "invalid"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    """The request carries data the rules refuse (a bad file, a label outside the field's alphabet)."""


class NotFound(DomainError):
    """The object does not exist, or the user may not know it exists (so no 403 leaks its id)."""

    http_status = 404
    code = "not_found"


class Forbidden(DomainError):
    """The user is known but their role does not allow the action."""

    http_status = 403
    code = "forbidden"


class Conflict(DomainError):
    """The object is not in a state that allows the action (e.g. a page still being read)."""

    http_status = 409
    code = "conflict"


class StaleVersion(Conflict):
    """The change was made on a version of the object that someone else has changed since."""

    code = "stale"

    def __init__(self, message: str, *, current: dict):
        super().__init__(message)
        self.current = current


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, plus domain errors as {"detail": ..., "code": ...} with their status.

    A stale change also carries the object as it is now ("current"), so the client can show what changed.
    """
    if isinstance(exc, DomainError):
        body = {"detail": exc.message, "code": exc.code}
        if isinstance(exc, StaleVersion):
            body["current"] = exc.current
        return Response(body, status=exc.http_status)
    return drf_exception_handler(exc, context)


def domain_errors_stay_on_the_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A refusal of a form sent from a page (too few samples, a run already going, bad input) is shown on
    that page, with the refusal's status and the message at its top, not on an error page with no way back.

    Not found and forbidden keep their own status and page; GET requests are left alone.
    """

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        try:
            return view(request, *args, **kwargs)
        except (Conflict, InvalidInput) as error:
            messages.error(request, error.message)
            # The same page as a GET of its address would show it (the query string kept), message first.
            request.method = "GET"
            response = view(request, *args, **kwargs)
            response.status_code = error.http_status
            return response

    return wrapper


def handle_domain_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Render a domain error raised by a browser view as an error page with its HTTP status."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except DomainError as error:
            return render(request, "recognition/error.html", {"error": error}, status=error.http_status)

    return wrapper
