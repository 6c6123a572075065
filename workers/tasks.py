"""Celery tasks. Each takes ids, loads rows, calls one service and returns."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError

from recognition import readers
from recognition.models import Page, RetrainingRun
from recognition.services.pages import page_fail, page_process
from recognition.services.probes import worker_probe_answer
from recognition.services.retraining import retraining_execute, retraining_fail

logger = logging.getLogger(__name__)

# Errors worth another try: the database or the file store hiccuped. Anything
# else is either a page problem (the service marks it failed) or a bug.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError, OSError)
PAGE_MAX_RETRIES = 3


@shared_task(name="default.answer_worker_probe", time_limit=30, soft_time_limit=20)
def answer_worker_probe(probe_id: int) -> None:
    """Prove a worker is consuming: stamp the probe the web process created."""
    hostname = answer_worker_probe.request.hostname or "unknown"
    worker_probe_answer(probe_id=probe_id, worker_hostname=hostname)


@shared_task(
    name="pages.process_page",
    bind=True,
    # Idempotent (the page's status machine refuses to redo a finished page),
    # so the message is acknowledged only after the work: a worker killed
    # mid-page leaves the message to be delivered again.
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=PAGE_MAX_RETRIES,
    time_limit=300,
    soft_time_limit=270,
)
def process_page(self, page_id: int) -> None:
    """Recognize one page of a document."""
    try:
        # A retry continues this task's own claim; a fresh delivery must not take a page a live worker reads.
        page_process(page_id=page_id, read_page=readers.read_page, retry=self.request.retries > 0)
    except Page.DoesNotExist:
        logger.info("Page %s no longer exists (its document was deleted); nothing to do.", page_id)
    except SoftTimeLimitExceeded:
        page_fail(page_id=page_id, reason="Reading this page took too long.")
    except TRANSIENT_ERRORS as error:
        if self.request.retries >= PAGE_MAX_RETRIES:
            page_fail(page_id=page_id, reason=f"Gave up after {PAGE_MAX_RETRIES + 1} tries: {error}")
            return
        logger.warning("Page %s: transient error, retrying: %s", page_id, error)
        raise self.retry(exc=error, countdown=2**self.request.retries) from error
    except Exception as error:
        # A bug, not the page's fault: record it on the page so it does not spin forever, and log it.
        page_fail(
            page_id=page_id,
            reason=f"This page could not be read because of a fault in the recognition software "
            f"({type(error).__name__}); it is logged for the administrators. Uploading it again will "
            "not help until it is fixed.",
        )
        raise


@shared_task(
    name="training.retrain_model",
    bind=True,
    # Idempotent (a finished run is never redone), so acknowledged after the
    # work: a training worker killed mid-run leaves the run to be taken again.
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=3600,
    soft_time_limit=3500,
)
def retrain_model(self, run_id: int) -> None:
    """Fine-tune a model on the corrections and promote it if the gate says it is better."""
    try:
        retraining_execute(run_id=run_id)
    except RetrainingRun.DoesNotExist:
        logger.info("Retraining run %s no longer exists; nothing to do.", run_id)
    except SoftTimeLimitExceeded:
        retraining_fail(run_id=run_id, reason="Retraining took longer than the time limit.")
    except Exception as error:
        retraining_fail(run_id=run_id, reason=f"Internal error while retraining ({type(error).__name__}).")
        raise
