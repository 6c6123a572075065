"""Celery tasks. Each takes ids, loads rows, calls one service and returns."""

from __future__ import annotations

import json
import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError

from recognition import services
from recognition.models import Page, RetrainingRun

logger = logging.getLogger(__name__)

# Errors worth another try: the database or the file store hiccuped. Anything
# else is either a page problem (the service marks it failed) or a bug.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError, OSError)
PAGE_MAX_RETRIES = 3

# FormReaders of this worker process by the model versions they read with,
# made on the first page task that needs them: models load lazily, never at
# import time and never before the worker forks. A promotion changes the
# active versions; the next task builds (once) a reader for them, so workers
# pick up a new model without a restart.
_form_readers: dict[tuple, object] = {}
# Parsed templates by their JSON text: the reader caches each template's
# alignment features per template object, so the same object must come back.
_engine_templates: dict[str, object] = {}
ENGINE_TEMPLATE_CACHE_SIZE = 32


def form_reader():
    """The worker process's FormReader for the active model versions (imports Keras on first use)."""
    from recognition import selectors

    versions = selectors.active_model_versions()
    key = tuple(sorted(versions.items()))
    reader = _form_readers.get(key)
    if reader is None:
        from recognition.engine.fields.reader import FormReader

        # The reader of superseded versions is dropped; its models stay in
        # the classifier cache of recognition.engine.characters.classify (a few MB per
        # version), so rolling back to them costs no reload.
        _form_readers.clear()
        reader = _form_readers[key] = FormReader(settings.MODEL_DIR, versions=versions or None)
    return reader


def engine_template(definition: dict):
    """The engine's FormTemplate for a template document, parsed once per worker process."""
    key = json.dumps(definition, sort_keys=True)
    template = _engine_templates.get(key)
    if template is None:
        from recognition.engine.pages.templates import parse_template

        template = parse_template(definition)
        if len(_engine_templates) >= ENGINE_TEMPLATE_CACHE_SIZE:
            _engine_templates.clear()
        _engine_templates[key] = template
    return template


def read_page(definition: dict, page_image):
    """Read one page image against a template document with this process's FormReader."""
    return form_reader().read_page(engine_template(definition), page_image)


@shared_task(name="default.answer_worker_probe", time_limit=30, soft_time_limit=20)
def answer_worker_probe(probe_id: int) -> None:
    """Prove a worker is consuming: stamp the probe the web process created."""
    hostname = answer_worker_probe.request.hostname or "unknown"
    services.worker_probe_answer(probe_id=probe_id, worker_hostname=hostname)


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
        services.page_process(page_id=page_id, read_page=read_page)
    except Page.DoesNotExist:
        logger.info("Page %s no longer exists (its document was deleted); nothing to do.", page_id)
    except SoftTimeLimitExceeded:
        services.page_fail(page_id=page_id, reason="Reading this page took too long.")
    except TRANSIENT_ERRORS as error:
        if self.request.retries >= PAGE_MAX_RETRIES:
            services.page_fail(page_id=page_id, reason=f"Gave up after {PAGE_MAX_RETRIES + 1} tries: {error}")
            return
        logger.warning("Page %s: transient error, retrying: %s", page_id, error)
        raise self.retry(exc=error, countdown=2**self.request.retries) from error
    except Exception as error:
        # A bug, not the page's fault: record it on the page so it does not spin forever, and log it.
        services.page_fail(
            page_id=page_id, reason=f"Internal error while reading the page ({type(error).__name__})."
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
        services.retraining_execute(run_id=run_id)
    except RetrainingRun.DoesNotExist:
        logger.info("Retraining run %s no longer exists; nothing to do.", run_id)
    except SoftTimeLimitExceeded:
        services.retraining_fail(run_id=run_id, reason="Retraining took longer than the time limit.")
    except Exception as error:
        services.retraining_fail(
            run_id=run_id, reason=f"Internal error while retraining ({type(error).__name__})."
        )
        raise
