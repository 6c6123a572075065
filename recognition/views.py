"""Browser pages: thin views that call selectors and services and render templates."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from recognition import selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "recognition/home.html", {"status": selectors.system_status()})


def health(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and the run script: database, broker and worker state."""
    status = selectors.system_status()
    return JsonResponse(status, status=200 if status["database"] and status["broker"] else 503)
