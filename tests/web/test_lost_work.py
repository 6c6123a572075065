"""No lost work: an upload while the broker is down, the sweep, and a worker killed mid-page."""

from __future__ import annotations

import base64
import json
import os
import signal
import time
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from recognition.models import Document, FieldResult, FormTemplate, Page
from recognition.services.enqueue import PROCESS_PAGE, task_enqueue
from recognition.services.pages import page_claim, pages_sweep
from tests.conftest import start_celery_worker, stop_process, worker_environment
from tests.helpers import wait_for
from tests.web.conftest import digits_template, filled_form, make_user, png_bytes, upload_file

NOW = timedelta(0)


def sweep_now() -> dict[str, list[int]]:
    """A sweep that does not wait the minute a page normally gets to reach a worker."""
    return pages_sweep(queued_after=NOW)


def published_page_ids(broker) -> list[int]:
    """The page ids of the recognition tasks waiting in the broker's `pages` queue, oldest first."""
    page_ids = []
    for message in broker.messages("pages"):
        assert message["headers"]["task"] == PROCESS_PAGE
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        page_ids.extend(args)
    return page_ids


@pytest.mark.django_db
def test_an_upload_while_the_broker_is_down_is_stored_and_queued_with_a_note_and_swept_later(
    private_broker, client_for, alice, check_template, django_capture_on_commit_callbacks
):
    private_broker.stop()
    client = client_for(alice)
    with django_capture_on_commit_callbacks(execute=True):
        browser = client.post(
            reverse("upload"),
            {"template": check_template.pk, "files": [upload_file("a.png", png_bytes())]},
        )
    assert browser.status_code == 302
    detail = client.get(browser["Location"]).content.decode()
    assert "Queued" in detail
    assert "could not be reached" in detail and "Nothing needs to be uploaded again" in detail

    with django_capture_on_commit_callbacks(execute=True):
        api = client.post(
            reverse("api-document-list"),
            {"template": check_template.pk, "files": [upload_file("b.png", png_bytes())]},
        )
    assert api.status_code == 201, api.content
    assert api.json()["pages"][0]["status"] == "queued"
    assert "could not be reached" in api.json()["note"]
    assert Page.objects.filter(status=Page.Status.QUEUED, published_at__isnull=True).count() == 2

    # While the broker is down the sweep publishes nothing and loses nothing.
    swept = sweep_now()
    assert len(swept["left"]) == 2 and not swept["unpublished"]

    private_broker.start()
    # Pages younger than the grace period are left to the upload's own publish.
    assert pages_sweep() == {"unpublished": [], "lost": [], "stale": [], "left": []}
    swept = sweep_now()
    page_ids = sorted(Page.objects.values_list("pk", flat=True))
    assert sorted(swept["unpublished"]) == page_ids
    assert published_page_ids(private_broker) == page_ids
    assert not Page.objects.filter(published_at__isnull=True).exists()
    progress = client.get(reverse("api-document-progress", args=[api.json()["id"]])).json()
    assert progress["note"] == ""
    # Published pages still waiting in the queue are not published again.
    assert sweep_now() == {"unpublished": [], "lost": [], "stale": [], "left": []}

    # A broker that restarts without its data lost the messages: the oldest waiting pages go again.
    private_broker.client().flushdb()
    swept = sweep_now()
    assert sorted(swept["lost"]) == page_ids
    assert published_page_ids(private_broker) == page_ids


@pytest.mark.django_db
def test_a_page_with_a_live_worker_is_not_taken_twice_and_a_silent_one_is_swept(
    private_broker, alice, check_template, settings
):
    settings.PAGE_STALE_AFTER_SECONDS = 60
    document = Document.objects.create(owner=alice, template=check_template, name="scan.png")
    page = Page.objects.create(
        document=document, number=1, source_name="scan.png", published_at=timezone.now()
    )
    assert page_claim(page_id=page.pk) is not None
    # A duplicate delivery while the worker beats is dropped; its retry after a transient error is not.
    assert page_claim(page_id=page.pk) is None
    assert page_claim(page_id=page.pk, retry=True) is not None
    assert sweep_now()["stale"] == []

    long_ago = timezone.now() - timedelta(minutes=5)
    Page.objects.filter(pk=page.pk).update(heartbeat_at=long_ago, started_at=long_ago, published_at=long_ago)
    assert sweep_now()["stale"] == [page.pk]
    # Published again and not yet taken: the next sweep leaves it alone.
    assert sweep_now()["stale"] == []
    assert page_claim(page_id=page.pk) is not None
    page.refresh_from_db()
    assert page.attempts == 3


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_page_whose_worker_is_killed_mid_page_is_read_again_once(
    private_broker, client_for, media_root, model_dir, tmp_path
):
    from recognition.services.templates import templates_seed_bundled

    templates_seed_bundled()
    template = digits_template(FormTemplate.objects.get(name="sample_form"))
    client = client_for(make_user("uploader", "uploaders"))
    env = worker_environment(
        broker_url=private_broker.url,
        media_root=media_root,
        model_dir=model_dir,
        PAGE_HEARTBEAT_SECONDS="0.5",
        PAGE_STALE_AFTER_SECONDS="3",
    )
    log_path = tmp_path / "workers.log"
    first = start_celery_worker(
        app=private_broker.app, name=f"doomed-{uuid.uuid4().hex[:6]}@localhost", env=env, log_path=log_path
    )
    try:
        response = client.post(
            reverse("api-document-list"),
            {"template": template.pk, "files": [upload_file("form.png", filled_form(template))]},
        )
        assert response.status_code == 201, response.content
        page = Page.objects.get(document_id=response.json()["id"])
        # The worker's first page loads the models, which takes seconds: kill it while it reads.
        wait_for(
            lambda: Page.objects.filter(pk=page.pk, status=Page.Status.PROCESSING).exists(),
            timeout=60,
            interval=0.02,
            message="the worker to take the page",
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop_process(first)
    page.refresh_from_db()
    assert (page.status, page.attempts) == (Page.Status.PROCESSING, 1), page.error
    # Its message is unacknowledged in the broker until Redis's visibility timeout (an hour):
    # only the sweep brings the page back, once its heartbeat has been silent long enough.
    assert pages_sweep(stale_after=timedelta(seconds=60))["stale"] == []
    time.sleep(3.5)
    assert pages_sweep(stale_after=timedelta(seconds=3))["stale"] == [page.pk]

    second_name = f"survivor-{uuid.uuid4().hex[:6]}@localhost"
    second = start_celery_worker(app=private_broker.app, name=second_name, env=env, log_path=log_path)
    try:
        wait_for(
            lambda: Page.objects.filter(pk=page.pk, status__in=Page.FINISHED).exists(),
            timeout=180,
            interval=0.2,
            message=f"the second worker to read the page; log:\n{log_path.read_text()}",
        )
        page.refresh_from_db()
        assert page.status == Page.Status.DONE, page.error
        assert page.attempts == 2
        names = list(FieldResult.objects.filter(page=page).values_list("name", flat=True))
        assert names == [field["name"] for field in template.fields]

        # A late duplicate (Redis handing the dead worker's message out again) changes nothing.
        task_enqueue(name=PROCESS_PAGE, args=[page.pk])

        def idle():
            active = private_broker.app.control.inspect(destination=[second_name], timeout=1).active()
            return not private_broker.messages("pages") and active and not active.get(second_name)

        wait_for(idle, timeout=30, interval=0.3, message="the duplicate to be consumed")
        page.refresh_from_db()
        assert page.attempts == 2
        assert FieldResult.objects.filter(page=page).count() == len(names)
    finally:
        stop_process(second)
