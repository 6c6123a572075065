"""Browser URLs of the recognition app."""

from django.urls import path

from recognition import views

urlpatterns = [
    path("", views.home, name="home"),
    path("health/", views.health, name="health"),
]
