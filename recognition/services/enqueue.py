"""Send worker tasks by their names, so that nothing here imports the workers package."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import current_app

# The workers' task names (workers/tasks.py); settings.CELERY_TASK_ROUTES sends each to its queue by
# the part before the dot.
ANSWER_WORKER_PROBE = "default.answer_worker_probe"
PROCESS_PAGE = "pages.process_page"
RETRAIN_MODEL = "training.retrain_model"


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
