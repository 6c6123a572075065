"""Browser URLs of the recognition app."""

from django.urls import path

from recognition import views

urlpatterns = [
    path("", views.home, name="home"),
    path("health/", views.health, name="health"),
    path("account/token/", views.api_token, name="api-token"),
    path("upload/", views.upload, name="upload"),
    path("documents/", views.document_list, name="document-list"),
    path("batches/<int:batch_id>/", views.batch_detail, name="batch-detail"),
    path("batches/<int:batch_id>/progress.json", views.batch_progress, name="batch-progress"),
    path("documents/<int:document_id>/", views.document_detail, name="document-detail"),
    path("documents/<int:document_id>/progress.json", views.document_progress, name="document-progress"),
    path(
        "documents/<int:document_id>/export.<str:export_format>",
        views.document_export,
        name="document-export",
    ),
    path("pages/<int:page_id>/image.png", views.page_image, name="page-image"),
    path("pages/<int:page_id>/aligned.png", views.page_aligned_image, name="page-aligned-image"),
    path("fields/<int:field_id>/crop.png", views.field_crop, name="field-crop"),
    path("review/", views.review_queue, name="review-queue"),
    path("review/next/", views.review_next, name="review-next"),
    path("review/<int:field_id>/", views.review_field, name="review-field"),
    path("templates/", views.template_list, name="template-list"),
    path("templates/new/", views.template_create, name="template-create"),
    path("templates/<int:template_id>/edit/", views.template_edit, name="template-edit"),
    path("templates/<int:template_id>/image.png", views.template_image, name="template-image"),
    path("templates/<int:template_id>/template.json", views.template_export, name="template-export"),
    path(
        "templates/<int:template_id>/results.<str:export_format>",
        views.template_results_export,
        name="template-results-export",
    ),
    path("retraining/", views.retraining, name="retraining"),
    path("retraining/runs/<int:run_id>/progress.json", views.retraining_progress, name="retraining-progress"),
    path("retraining/samples/<int:sample_id>.png", views.training_sample_image, name="training-sample-image"),
    path("models/", views.model_versions, name="model-versions"),
    path("models/<int:version_id>/<str:plot>.png", views.model_version_plot, name="model-version-plot"),
]
