"""Session-wide test fixtures: a real Redis broker and a real Celery worker process.

Locally the tests use SQLite and a Redis this session starts; in CI, the
`./dev test` command points DATABASE_URL and CELERY_BROKER_URL at the
machine's PostgreSQL and Redis. Nothing runs in Celery's eager mode: a task
goes through the broker to a separate worker process, as in production.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from django.conf import settings

from scripts.local_redis import LocalRedis, find_or_start_redis, free_port, start_redis

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKER_QUEUES = "default,pages,training"
WORKER_READY_TIMEOUT = 90.0


def pytest_configure(config: pytest.Config) -> None:
    # The broker must be known before any test sends a task. A Redis named in
    # the environment is used as it is (CI); otherwise this session starts one.
    redis = find_or_start_redis(os.environ.get("CELERY_BROKER_URL"))
    config._hwr_redis = redis  # stopped in pytest_unconfigure
    os.environ["CELERY_BROKER_URL"] = redis.url
    settings.CELERY_BROKER_URL = redis.url
    from hwr_site.celery import app

    app.conf.broker_url = redis.url
    # Retraining in tests fine-tunes for a few steps only; the worker process
    # reads the same values from its environment.
    settings.RETRAIN_STEPS = 150
    settings.RETRAIN_MIN_SAMPLES = 5


def pytest_unconfigure(config: pytest.Config) -> None:
    redis = getattr(config, "_hwr_redis", None)
    if redis is not None:
        redis.stop()


@pytest.fixture(scope="session")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One MEDIA_ROOT for the test process and the worker process alike."""
    path = tmp_path_factory.mktemp("media")
    settings.MEDIA_ROOT = path
    return path


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the shipped models: tests retrain into it, never into the repository."""
    path = tmp_path_factory.mktemp("models") / "models"
    shutil.copytree(REPO_ROOT / "models", path)
    settings.MODEL_DIR = path
    return path


def database_url_for(database: dict) -> str:
    """A DATABASE_URL naming the database Django is connected to now (the test database)."""
    if database["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{database['NAME']}"
    base = urlsplit(os.environ.get("DATABASE_URL", ""))
    user = quote(database.get("USER") or "")
    password = f":{quote(database['PASSWORD'])}" if database.get("PASSWORD") else ""
    credentials = f"{user}{password}@" if user else ""
    netloc = f"{credentials}{database.get('HOST') or '127.0.0.1'}:{database.get('PORT') or 5432}"
    return urlunsplit((base.scheme or "postgresql", netloc, f"/{database['NAME']}", "", ""))


def worker_environment(*, broker_url: str, media_root: Path, model_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a worker process that shares the test database, media and models."""
    return {
        **os.environ,
        "DATABASE_URL": database_url_for(settings.DATABASES["default"]),
        "DATABASE_CONN_MAX_AGE": "0",
        "CELERY_BROKER_URL": broker_url,
        "MEDIA_ROOT": str(media_root),
        "MODEL_DIR": str(model_dir),
        "RETRAIN_STEPS": str(settings.RETRAIN_STEPS),
        "RETRAIN_MIN_SAMPLES": str(settings.RETRAIN_MIN_SAMPLES),
        "FEMNIST_DIR": str(settings.FEMNIST_DIR),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def start_celery_worker(*, app, name: str, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """Start a real `celery worker` process on all queues and wait until it answers a ping through `app`."""
    command = [
        sys.executable, "-m", "celery", "-A", "hwr_site", "worker",
        "--pool=solo", "--queues", WORKER_QUEUES, "--hostname", name,
        "--without-gossip", "--without-mingle", "--loglevel", "INFO",
    ]  # fmt: skip
    with log_path.open("a") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + WORKER_READY_TIMEOUT
    while not app.control.ping(destination=[name], timeout=0.5):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            raise RuntimeError(f"Celery worker did not start; its log:\n{log_path.read_text()}")
    return process


def stop_process(process: subprocess.Popen, timeout: float = 20) -> None:
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup, django_db_blocker, media_root: Path, model_dir: Path, tmp_path_factory
):
    """A real `celery worker` process on all queues, using the test database.

    Use it from tests marked `django_db(transaction=True)`, so that what the
    test writes is committed and the worker can see it.
    """
    from hwr_site.celery import app

    worker_name = f"pytest-{uuid.uuid4().hex[:8]}@localhost"
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    env = worker_environment(
        broker_url=settings.CELERY_BROKER_URL, media_root=media_root, model_dir=model_dir
    )
    process = start_celery_worker(app=app, name=worker_name, env=env, log_path=log_path)
    try:
        yield worker_name
    finally:
        stop_process(process)
        if os.environ.get("HWR_SHOW_WORKER_LOG"):
            sys.stderr.write(log_path.read_text())


@dataclass
class PrivateBroker:
    """A Redis of one test's own, which the test may stop and start again, and a Celery app sending to it."""

    port: int
    redis: LocalRedis | None
    app: object

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.redis is not None:
            self.redis.stop()
            self.redis = None

    def start(self) -> None:
        if self.redis is None:
            self.redis = start_redis(port=self.port)

    def client(self):
        import redis

        return redis.Redis.from_url(self.url)

    def messages(self, queue: str) -> list[dict]:
        """The task messages waiting in a queue, oldest first (kombu pushes on the left)."""
        import json

        return [json.loads(raw) for raw in reversed(self.client().lrange(queue, 0, -1))]


@pytest.fixture
def private_broker():
    """A private broker that the test process sends tasks to (the current Celery app) until the test ends.

    Workers this test starts get `private_broker.url`; the session's worker never sees these
    tasks, and the test may stop the broker to see what happens when it is down.
    """
    from celery import Celery, current_app

    port = free_port()
    app = Celery("hwr_site_private_broker", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    broker = PrivateBroker(port=port, redis=start_redis(port=port), app=app)
    # CELERY_BROKER_URL in the environment outranks broker_url; the write and read URLs outrank it.
    app.conf.update(broker_write_url=broker.url, broker_read_url=broker.url)
    previous = current_app._get_current_object()
    app.set_current()
    try:
        yield broker
    finally:
        previous.set_current()
        app.close()
        broker.stop()
