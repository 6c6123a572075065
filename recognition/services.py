"""Business rules that change data: one function per action, one transaction each."""

from django.db import transaction
from django.utils import timezone

from recognition.models import WorkerProbe


def worker_probe_create() -> WorkerProbe:
    """Create a probe and send it to a worker once the row is committed."""
    from workers.tasks import answer_worker_probe

    with transaction.atomic():
        probe = WorkerProbe.objects.create()
        transaction.on_commit(lambda: answer_worker_probe.delay(probe.pk))
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
