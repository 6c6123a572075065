"""Database models of the recognition app."""

from django.db import models


class WorkerProbe(models.Model):
    """A round trip through the broker to a worker, for the health page.

    The web process creates the row and enqueues a task; a worker stamps it.
    A probe that stays unanswered says no worker is consuming the queue.
    """

    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    worker_hostname = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        state = f"answered by {self.worker_hostname}" if self.answered_at else "waiting"
        return f"Worker probe {self.pk} ({state})"
