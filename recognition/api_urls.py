"""REST API URLs (Django REST framework), mounted under /api/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from recognition import api

router = SimpleRouter()
router.register("batches", api.BatchViewSet, basename="api-batch")
router.register("documents", api.DocumentViewSet, basename="api-document")
router.register("fields", api.FieldViewSet, basename="api-field")
router.register("templates", api.TemplateViewSet, basename="api-template")
router.register("model-versions", api.ModelVersionViewSet, basename="api-model-version")
router.register("retraining-runs", api.RetrainingRunViewSet, basename="api-retraining-run")
router.register("training-samples", api.TrainingSampleViewSet, basename="api-training-sample")

urlpatterns = [
    path("health/", api.HealthView.as_view(), name="api-health"),
    path("auth/token/", api.AuthTokenView.as_view(), name="api-auth-token"),
    *router.urls,
]
