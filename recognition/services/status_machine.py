"""Take a row of a status machine (a page, a retraining run) for work, or fail it, under its row lock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone


def claim_for_work(
    queryset,
    pk: int,
    *,
    running_status: str,
    max_attempts: int,
    finish_failed,
    is_alive: Callable[[Any], bool] | None = None,
    **reset_fields,
):
    """Take one row of a status machine (a page, a retraining run) for work, under its row lock.

    None when the row is already finished (a duplicate delivery) or has been
    started `max_attempts` times without finishing (it keeps killing its
    worker: it is failed instead of looping). A row already running was
    taken by a worker that died; it is taken again, unless `is_alive` says
    its worker is still at it (then this delivery is a duplicate: None).
    """
    with transaction.atomic():
        # of=("self",): lock only this row, also when a nullable relation is joined in.
        row = queryset.select_for_update(of=("self",)).get(pk=pk)
        if row.status in row.FINISHED:
            return None
        if row.status == running_status and is_alive is not None and is_alive(row):
            return None
        if row.attempts >= max_attempts:
            finish_failed(row, f"Gave up after {row.attempts} attempts that did not finish.")
            return None
        row.status = running_status
        row.attempts += 1
        row.started_at = timezone.now()
        for name, value in reset_fields.items():
            setattr(row, name, value)
        row.save(update_fields=["status", "attempts", "started_at", *reset_fields])
    return row


def fail_unless_finished(model, pk: int, reason: str, finish_failed):
    """Fail a row of a status machine (a page, a retraining run) with a reason; a finished row is left."""
    with transaction.atomic():
        row = model.objects.select_for_update().get(pk=pk)
        if row.status not in row.FINISHED:
            finish_failed(row, reason)
    return row
