"""Project package: settings, URLs, WSGI/ASGI entry points and the Celery app."""

# Importing the Celery app here makes @shared_task bind to it in every process
# that loads Django (the web process only sends tasks, it never runs them).
from hwr_site.celery import app as celery_app

__all__ = ("celery_app",)
