"""Browser tests: Playwright drives Debian's headless Chromium against a live server and a real worker."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from django.urls import reverse

from recognition.models import Correction, FieldResult, FormTemplate
from tests.web.conftest import digits_template, filled_form, make_user

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists() and os.environ.get("CI", "").lower() != "true",
        reason="Debian's chromium is not installed (apt-get install chromium); CI always runs these tests",
    ),
]


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API runs an event loop in this thread; the ORM calls of the test are still
    # synchronous, so Django's async-safety guard is told to stand down for these tests only.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def log_in(page, live_server, username: str) -> None:
    page.goto(live_server.url + reverse("login"))
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-" + username)
    page.press("#id_password", "Enter")
    page.wait_for_url(live_server.url + reverse("home"))


def drop_file(page, selector: str, name: str, data: bytes, mime: str) -> None:
    """Drop a file onto an element the way a person drags one from the desktop."""
    transfer = page.evaluate_handle(
        """([name, encoded, mime]) => {
            const bytes = Uint8Array.from(atob(encoded), (character) => character.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: mime }));
            return transfer;
        }""",
        [name, base64.b64encode(data).decode(), mime],
    )
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_drop_upload_then_watch_progress_until_the_results(page, live_server, celery_worker_process):
    from recognition.services.templates import templates_seed_bundled

    templates_seed_bundled()
    template = digits_template(FormTemplate.objects.get(name="sample_form"))
    make_user("uma", "uploaders")
    log_in(page, live_server, "uma")

    page.goto(live_server.url + reverse("upload"))
    page.select_option("#template", str(template.pk))
    drop_file(page, "#drop-zone", "form.png", filled_form(template), "image/png")
    assert page.inner_text("#file-list").startswith("form.png")
    page.click("#upload-button")

    page.wait_for_selector("#document-status")
    assert "/documents/" in page.url
    # The page follows the worker by itself: no reload by the test, the results appear when read.
    page.wait_for_selector("table.fields tr.field-row", timeout=90_000)
    assert page.inner_text("#document-status") == "Done"
    assert page.inner_text("#progress-text") == "1 of 1 pages read"
    rows = page.locator("tr.field-row")
    assert rows.count() == len(template.fields)
    # The page itself comes first, with the field boxes drawn on it; the crops below load as they show.
    assert page.locator("svg.page-overlay image").count() == 1
    assert page.locator("svg.page-overlay g.field-box").count() == len(template.fields)
    crop = page.locator("tr.field-row img.crop").first
    crop.scroll_into_view_if_needed()
    crop.evaluate("image => image.decode()")
    assert crop.evaluate("image => image.naturalWidth") > 0


@pytest.mark.django_db(transaction=True)
def test_a_bad_file_is_refused_with_a_message(page, live_server):
    from recognition.services.templates import templates_seed_bundled

    templates_seed_bundled()
    make_user("uma", "uploaders")
    log_in(page, live_server, "uma")
    page.goto(live_server.url + reverse("upload"))
    drop_file(page, "#drop-zone", "notes.png", b"plain text, not a picture", "image/png")
    page.click("#upload-button")
    assert "not a PNG, JPEG, TIFF or PDF" in page.inner_text("#upload-error")


@pytest.mark.django_db(transaction=True)
def test_keyboard_only_review(page, live_server, read_document):
    owner = make_user("olga", "uploaders")
    make_user("rita", "reviewers")
    read_document(
        owner,
        {"payee": "ANNA", "date": "01012020", "amount": "12"},
        {"payee": 0.2, "date": 0.3, "amount": 0.4},
    )
    payee, date, amount = (FieldResult.objects.get(name=name) for name in ("payee", "date", "amount"))
    log_in(page, live_server, "rita")

    page.goto(live_server.url + reverse("review-next"))
    page.wait_for_url(live_server.url + reverse("review-field", args=[payee.pk]))
    assert page.locator("#chars .char.low").count() == 4  # coloured by confidence
    # The text box has the focus: select all, type the correction, Enter saves and opens the next field.
    page.keyboard.press("Control+A")
    page.keyboard.type("anne")
    page.keyboard.press("Enter")
    page.wait_for_url(live_server.url + reverse("review-field", args=[date.pk]))
    # Tab only moves the focus (it used to accept the field as read).
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "save-button"
    assert page.url == live_server.url + reverse("review-field", args=[date.pk])
    # Page Down skips the date; it stays in the queue and comes round again after the amount.
    page.keyboard.press("PageDown")
    page.wait_for_url(live_server.url + reverse("review-field", args=[amount.pk]))
    page.keyboard.press("Control+A")
    page.keyboard.type("13")
    page.keyboard.press("Enter")
    page.wait_for_url(live_server.url + reverse("review-field", args=[date.pk]))
    # Ctrl+Enter accepts the field as read; nothing is left, so the document opens.
    page.keyboard.press("Control+Enter")
    page.wait_for_url(f"**{reverse('document-detail', args=[payee.page.document_id])}")

    payee.refresh_from_db()
    date.refresh_from_db()
    amount.refresh_from_db()
    assert (payee.text, payee.review_state) == ("ANNE", "corrected")
    assert (date.text, date.review_state) == ("01012020", "accepted")
    assert (amount.text, amount.review_state) == ("13", "corrected")
    assert Correction.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_template_editor_draws_a_field_and_saves_it(page, live_server):
    from recognition.services.templates import templates_seed_bundled

    template = next(template for template in templates_seed_bundled() if template.name == "check")
    make_user("ada", "admins")
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server, "ada")
    page.goto(live_server.url + reverse("template-edit", args=[template.pk]))
    canvas = page.locator("#editor-canvas")
    page.wait_for_function("document.getElementById('editor-canvas').width === 1200")
    box = canvas.bounding_box()
    scale = box["width"] / 1200  # the canvas may be shown smaller than the image

    # Drag a rectangle on an empty part of the blank check: from (40, 420) to (340, 500) in image pixels.
    page.mouse.move(box["x"] + 40 * scale, box["y"] + 420 * scale)
    page.mouse.down()
    page.mouse.move(box["x"] + 340 * scale, box["y"] + 500 * scale, steps=5)
    page.mouse.up()
    rows = page.locator("#field-table tbody tr")
    assert rows.count() == len(template.fields) + 1
    new_row = rows.last
    new_row.locator("input").first.fill("account")
    new_row.locator("select").select_option("digits")
    new_row.locator("input[type=number]").fill("6")
    page.click("#save-template")
    page.wait_for_selector("#save-status.ok")

    template.refresh_from_db()
    added = template.fields[-1]
    assert (added["name"], added["kind"], added["cells"]) == ("account", "digits", 6)
    x, y, width, height = added["box"]
    assert abs(x - 40) <= 3 and abs(y - 420) <= 3 and abs(width - 300) <= 4 and abs(height - 80) <= 4
    assert errors == []


@pytest.mark.django_db(transaction=True)
def test_template_editor_moves_and_resizes_a_field_and_shows_whole_kind_names(page, live_server):
    from recognition.services.templates import templates_seed_bundled

    template = next(template for template in templates_seed_bundled() if template.name == "check")
    make_user("ada", "admins")
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server, "ada")
    page.goto(live_server.url + reverse("template-edit", args=[template.pk]))
    page.wait_for_function("document.getElementById('editor-canvas').width === 1200")
    box = page.locator("#editor-canvas").bounding_box()
    scale = box["width"] / 1200

    def at(x: float, y: float) -> tuple[float, float]:
        return box["x"] + x * scale, box["y"] + y * scale

    # Every kind is offered, and no select cuts its names short.
    options = page.locator("#field-table select").first.locator("option").all_inner_texts()
    assert options == ["digits", "letters", "alnum", "date", "amount", "text"]
    narrowest = page.evaluate(
        """() => {
          const measure = document.createElement("canvas").getContext("2d");
          return Math.min(...[...document.querySelectorAll("#field-table select")].map((select) => {
            measure.font = getComputedStyle(select).font;
            const widths = [...select.options].map((option) => measure.measureText(option.text).width);
            const longest = Math.max(...widths);
            return select.clientWidth - longest;  // room left for the drop-down arrow
          }));
        }"""
    )
    assert narrowest >= 16, narrowest

    first = template.fields[0]
    x, y, width, height = first["box"]
    # Drag from inside the box: it moves by (+30, +20).
    page.mouse.move(*at(x + width / 2, y + height / 2))
    page.mouse.down()
    page.mouse.move(*at(x + width / 2 + 30, y + height / 2 + 20), steps=5)
    page.mouse.up()
    # Drag its bottom-right corner: it grows by (+40, +10).
    page.mouse.move(*at(x + 30 + width, y + 20 + height))
    page.mouse.down()
    page.mouse.move(*at(x + 30 + width + 40, y + 20 + height + 10), steps=5)
    page.mouse.up()
    assert page.locator("#field-table tbody tr").count() == len(template.fields)  # nothing new was drawn
    page.click("#save-template")
    page.wait_for_selector("#save-status.ok")

    template.refresh_from_db()
    moved = template.fields[0]
    assert moved["name"] == first["name"]
    new_x, new_y, new_width, new_height = moved["box"]
    assert abs(new_x - (x + 30)) <= 3 and abs(new_y - (y + 20)) <= 3
    assert abs(new_width - (width + 40)) <= 4 and abs(new_height - (height + 10)) <= 4
    assert errors == []


@pytest.mark.django_db(transaction=True)
def test_no_page_breaks_the_content_security_policy(page, live_server, read_document):
    from recognition.services.templates import templates_seed_bundled

    template = next(template for template in templates_seed_bundled() if template.name == "check")
    make_user("ada", "admins")
    document = read_document(make_user("olga", "uploaders"), {"payee": "ANNA"}, {"payee": 0.3})
    refused = []
    page.on(
        "console",
        lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None,
    )
    log_in(page, live_server, "ada")
    for url in [
        reverse("home"),
        reverse("upload"),
        reverse("document-detail", args=[document.pk]),
        reverse("review-next"),
        reverse("template-edit", args=[template.pk]),
        reverse("retraining"),
        reverse("model-versions"),
        reverse("api-token"),
    ]:
        page.goto(live_server.url + url)
        page.wait_for_load_state("networkidle")
    page.goto(live_server.url + reverse("api-docs"))
    page.wait_for_selector(".swagger-ui .info")  # Swagger UI started from its own files
    assert refused == []
