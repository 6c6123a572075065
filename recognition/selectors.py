"""Read-only queries used by views, the API and services."""

import logging
from datetime import timedelta

from django.utils import timezone

from recognition.models import WorkerProbe

logger = logging.getLogger(__name__)


def worker_probe_latest_answered(*, within: timedelta = timedelta(minutes=5)) -> WorkerProbe | None:
    """The newest probe a worker answered within the given time, if any."""
    since = timezone.now() - within
    return WorkerProbe.objects.filter(answered_at__gte=since).order_by("-answered_at").first()


def system_status(*, worker_timeout: float = 1.0) -> dict:
    """Database, broker and worker reachability, for the health page and the home page."""
    from django.db import connection

    from hwr_site.celery import app

    status: dict = {"database": False, "broker": False, "workers": []}
    try:
        connection.ensure_connection()
        status["database"] = True
    except Exception as error:  # any failure means "not reachable" on a health page
        logger.warning("Health check: database unreachable: %s", error)
    try:
        with app.connection_for_write() as broker_connection:
            broker_connection.ensure_connection(max_retries=1, timeout=worker_timeout)
        status["broker"] = True
        replies = app.control.ping(timeout=worker_timeout) or []
        status["workers"] = sorted(name for reply in replies for name in reply)
    except Exception as error:
        logger.warning("Health check: broker unreachable: %s", error)
    return status
