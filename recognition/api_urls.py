"""REST API URLs (Django REST framework), mounted under /api/."""

from django.urls import path

from recognition import api

urlpatterns = [
    path("health/", api.HealthView.as_view(), name="api-health"),
]
