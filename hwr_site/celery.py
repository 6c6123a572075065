"""The Celery application: broker, queues and routing come from Django settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hwr_site.settings")

app = Celery("hwr_site")
# Every CELERY_* setting in hwr_site/settings.py configures this app, so queues
# and routes live in one place and call sites never name a queue.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])
