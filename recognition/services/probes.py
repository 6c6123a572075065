"""The worker health probe: the web process creates one, a worker answers it."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from recognition.models import WorkerProbe
from recognition.services.enqueue import ANSWER_WORKER_PROBE, task_enqueue


def worker_probe_create() -> WorkerProbe:
    """Create a probe and send it to a worker once the row is committed."""
    with transaction.atomic():
        probe = WorkerProbe.objects.create()
        transaction.on_commit(lambda: task_enqueue(name=ANSWER_WORKER_PROBE, args=[probe.pk]))
    return probe


def worker_probe_answer(*, probe_id: int, worker_hostname: str) -> WorkerProbe:
    """Stamp a probe as answered; answering twice keeps the first answer."""
    with transaction.atomic():
        probe = WorkerProbe.objects.select_for_update().get(pk=probe_id)
        if probe.answered_at is None:
            probe.answered_at = timezone.now()
            probe.worker_hostname = worker_hostname[:255]
            probe.save(update_fields=["answered_at", "worker_hostname"])
    return probe
