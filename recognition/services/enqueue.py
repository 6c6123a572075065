"""Send worker tasks by their names, so that nothing here imports the workers package."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import current_app
from kombu.exceptions import OperationalError as BrokerOperationalError

# The workers' task names (workers/tasks.py); settings.CELERY_TASK_ROUTES sends each to its queue by
# the part before the dot.
ANSWER_WORKER_PROBE = "default.answer_worker_probe"
PROCESS_PAGE = "pages.process_page"
RETRAIN_MODEL = "training.retrain_model"

# What sending raises when the broker cannot be reached (refused, timed out, gone mid-publish).
BROKER_ERRORS = (BrokerOperationalError, ConnectionError, TimeoutError, OSError)


def task_enqueue(*, name: str, args: Sequence[Any]) -> None:
    """Send the task called `name` with positional arguments to the broker.

    send_task ignores CELERY_TASK_ALWAYS_EAGER, so with that setting the task is looked up by its
    name (importing the modules Celery autodiscovers) and run here, as `delay` would have run it.
    """
    app = current_app
    if app.conf.task_always_eager:
        app.loader.import_default_modules()
        app.tasks[name].apply(args=list(args))
        return
    app.send_task(name, args=list(args))


def broker_queue_length(queue: str) -> int | None:
    """Messages waiting in a broker queue; None when the broker cannot be asked."""
    from amqp.exceptions import ChannelError

    try:
        with current_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
            try:
                return connection.default_channel.queue_declare(queue=queue, passive=True).message_count
            except ChannelError:
                # Redis keeps no empty lists: a queue nobody has written to (or that is empty) is absent.
                return 0
    except BROKER_ERRORS:
        return None
