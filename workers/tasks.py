"""Celery tasks. Each takes ids, loads rows, calls one service and returns."""

from celery import shared_task

from recognition import services


@shared_task(name="default.answer_worker_probe", time_limit=30, soft_time_limit=20)
def answer_worker_probe(probe_id: int) -> None:
    """Prove a worker is consuming: stamp the probe the web process created."""
    hostname = answer_worker_probe.request.hostname or "unknown"
    services.worker_probe_answer(probe_id=probe_id, worker_hostname=hostname)
