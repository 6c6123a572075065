"""The plumbing: settings, health, login, and a task through a real broker to a real worker."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from recognition.models import WorkerProbe
from recognition.services.probes import worker_probe_answer, worker_probe_create
from tests.helpers import wait_for

REPO_ROOT = Path(__file__).resolve().parent.parent
REAL_SECRET_KEY = "k3y-" + "x7Qp9LmZ2vR8tY4wN6bC1dF5gH0jK3sA" * 2


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_task_goes_through_broker_to_a_worker_and_its_result_reaches_the_database(celery_worker_process):
    probe = worker_probe_create()

    def answered():
        probe.refresh_from_db()
        return probe.answered_at is not None

    wait_for(answered, timeout=60, message="the worker to answer the probe")
    assert probe.worker_hostname == celery_worker_process
    assert WorkerProbe.objects.filter(answered_at__isnull=False).count() == 1


def test_the_task_names_services_send_are_the_workers_tasks():
    import workers.tasks  # noqa: F401 (registers the tasks with the app)
    from hwr_site.celery import app
    from recognition.services import enqueue

    for name in (enqueue.ANSWER_WORKER_PROBE, enqueue.PROCESS_PAGE, enqueue.RETRAIN_MODEL):
        assert name in app.tasks, name


@pytest.mark.django_db(transaction=True)
def test_in_celery_eager_mode_a_task_sent_by_name_runs_in_this_process():
    from hwr_site.celery import app

    app.conf.task_always_eager = True
    try:
        probe = worker_probe_create()
    finally:
        app.conf.task_always_eager = False
    probe.refresh_from_db()
    assert probe.answered_at is not None


def test_nothing_in_recognition_imports_the_workers_package():
    """Imports go one way: workers -> recognition -> engine (services send tasks by name)."""
    offenders = []
    for path in sorted((REPO_ROOT / "recognition").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module or ""]
            else:
                continue
            if any(module == "workers" or module.startswith("workers.") for module in modules):
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert offenders == []


@pytest.mark.django_db
def test_answering_a_probe_twice_keeps_the_first_answer():
    probe = WorkerProbe.objects.create()
    first = worker_probe_answer(probe_id=probe.pk, worker_hostname="first@host")
    second = worker_probe_answer(probe_id=probe.pk, worker_hostname="second@host")
    assert second.worker_hostname == "first@host"
    assert second.answered_at == first.answered_at


@pytest.mark.django_db
def test_home_requires_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


@pytest.mark.django_db
def test_health_reports_database_and_broker(client):
    response = client.get(reverse("health"))
    assert response.status_code == 200
    body = response.json()
    assert body["database"] is True
    assert body["broker"] is True
    assert isinstance(body["workers"], list)


@pytest.mark.django_db
def test_api_requires_authentication(client):
    assert client.get("/api/health/").status_code in (401, 403)


@pytest.mark.django_db
def test_openapi_schema_is_served_to_a_logged_in_user(client, django_user_model):
    user = django_user_model.objects.create_user("schema-reader", password="pw-12345-long")
    client.force_login(user)
    response = client.get(reverse("api-schema"))
    assert response.status_code == 200
    assert b"openapi" in response.content


def run_with_production_settings(args: list[str], **env: str) -> subprocess.CompletedProcess:
    clean_env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS", "DEBUG"}}
    clean_env.update(DJANGO_SETTINGS_MODULE="hwr_site.settings_production", **env)
    return subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, env=clean_env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"ALLOWED_HOSTS": "hwr.example.org"}, "SECRET_KEY"),
        ({"SECRET_KEY": "django-insecure-local-development-only", "ALLOWED_HOSTS": "h.org"}, "SECRET_KEY"),
        ({"SECRET_KEY": REAL_SECRET_KEY}, "ALLOWED_HOSTS"),
        ({"SECRET_KEY": REAL_SECRET_KEY, "ALLOWED_HOSTS": "h.org", "DEBUG": "true"}, "DEBUG"),
    ],
)
def test_production_settings_refuse_insecure_defaults(env, complaint):
    result = run_with_production_settings(["manage.py", "check"], **env)
    assert result.returncode != 0
    assert complaint in result.stderr


def test_production_settings_pass_the_deploy_check():
    result = run_with_production_settings(
        ["manage.py", "check", "--deploy"],
        SECRET_KEY=REAL_SECRET_KEY,
        ALLOWED_HOSTS="hwr.example.org",
    )
    assert result.returncode == 0, result.stderr
    # Security findings are only warnings to Django, but each one is a real
    # hole in a deployment: none may be left.
    assert "(security." not in result.stdout + result.stderr


def test_the_web_process_never_imports_tensorflow():
    """URLs, views, API, admin, services and selectors load without TensorFlow or Keras (workers only)."""
    code = (
        "import sys, django; django.setup(); "
        "import hwr_site.urls, hwr_site.wsgi, recognition.admin, workers.tasks; "
        "from django.urls import get_resolver; get_resolver().url_patterns; "
        "heavy = sorted(name for name in ('tensorflow', 'keras', 'jax', 'torch') if name in sys.modules); "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "hwr_site.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
