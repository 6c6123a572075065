"""The learning loop: corrections to a retraining on a real worker, gated promotion, rollback and roles."""

import json
import shutil
from pathlib import Path

import pytest
from django.urls import reverse

from bench.learning_loop import enter_corrections, style_accuracy, style_sets
from recognition import selectors
from recognition.exceptions import Conflict, InvalidInput
from recognition.models import (
    FieldResult,
    FormTemplate,
    ModelChange,
    ModelVersion,
    RetrainingRun,
    TrainingSample,
)
from recognition.services.models import (
    MODEL_KINDS,
    SERVED_KINDS,
    model_promote,
    model_rollback,
    model_versions_sync,
)
from recognition.services.retraining import check_retraining_possible, retraining_request
from recognition.services.templates import templates_seed_bundled
from tests.helpers import wait_for
from tests.web.conftest import digits_template, filled_form, make_user, upload_file

REPO_MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture
def two_digit_versions(tmp_path, settings):
    """A MODEL_DIR with digits versions 1 (active) and 2, both the shipped model's file, registered."""
    source = REPO_MODELS / "digits" / (REPO_MODELS / "digits" / "ACTIVE").read_text().strip()
    for version in ("1", "2"):
        shutil.copytree(source, tmp_path / "digits" / version)
    (tmp_path / "digits" / "ACTIVE").write_text("1\n")
    settings.MODEL_DIR = tmp_path
    model_versions_sync(model_dir=tmp_path)
    return {row.version: row for row in ModelVersion.objects.filter(kind="digits")}


def active_file(settings) -> str:
    return (Path(settings.MODEL_DIR) / "digits" / "ACTIVE").read_text().strip()


@pytest.mark.django_db
def test_promoting_by_hand_logs_who_and_why_and_moves_the_active_file(
    two_digit_versions, admin_user, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        model_promote(version_id=two_digit_versions["2"].pk, user=admin_user, reason="reads branch B better")
    assert selectors.active_model_versions() == {"digits": "2"}
    assert ModelVersion.objects.get(kind="digits", version="1").status == ModelVersion.Status.CANDIDATE
    change = ModelChange.objects.get()
    assert (change.version.version, change.previous.version, change.user, change.reason) == (
        "2",
        "1",
        admin_user,
        "reads branch B better",
    )
    assert active_file(settings) == "2"


@pytest.mark.django_db
def test_rollback_returns_to_the_version_active_before(
    two_digit_versions, admin_user, settings, django_capture_on_commit_callbacks
):
    with pytest.raises(Conflict, match="no earlier"):
        model_rollback(kind="digits", user=admin_user, reason="nothing to go back to")
    with django_capture_on_commit_callbacks(execute=True):
        model_promote(version_id=two_digit_versions["2"].pk, user=admin_user, reason="try 2")
        model_rollback(kind="digits", user=admin_user, reason="2 misreads sevens")
    assert selectors.active_model_versions() == {"digits": "1"}
    assert active_file(settings) == "1"
    assert list(ModelChange.objects.values_list("action", flat=True)) == ["rolled_back", "promoted"]


@pytest.mark.django_db
def test_the_pair_reader_can_be_promoted_and_rolled_back_but_not_retrained(
    tmp_path, settings, admin_user, django_capture_on_commit_callbacks
):
    from recognition.engine.characters.pairs import PAIR_KIND

    assert PAIR_KIND in SERVED_KINDS and PAIR_KIND not in MODEL_KINDS
    source = REPO_MODELS / PAIR_KIND / (REPO_MODELS / PAIR_KIND / "ACTIVE").read_text().strip()
    for version in ("1", "2"):
        shutil.copytree(source, tmp_path / PAIR_KIND / version)
    (tmp_path / PAIR_KIND / "ACTIVE").write_text("1\n")
    settings.MODEL_DIR = tmp_path
    model_versions_sync(model_dir=tmp_path)
    second = ModelVersion.objects.get(kind=PAIR_KIND, version="2")
    with django_capture_on_commit_callbacks(execute=True):
        model_promote(version_id=second.pk, user=admin_user, reason="reads pairs better")
        model_rollback(kind=PAIR_KIND, user=admin_user, reason="cuts single nines")
    assert selectors.active_model_versions() == {PAIR_KIND: "1"}
    assert (tmp_path / PAIR_KIND / "ACTIVE").read_text().strip() == "1"
    with pytest.raises(InvalidInput, match="Unknown model kind"):
        model_rollback(kind="nonsense", user=admin_user, reason="no such kind")
    with pytest.raises(InvalidInput, match="Unknown model kind"):
        check_retraining_possible(kind=PAIR_KIND)


@pytest.mark.django_db
def test_promotion_needs_a_reason_and_a_version_not_already_active(two_digit_versions, admin_user):
    with pytest.raises(InvalidInput):
        model_promote(version_id=two_digit_versions["2"].pk, user=admin_user, reason="  ")
    with pytest.raises(Conflict, match="already active"):
        model_promote(version_id=two_digit_versions["1"].pk, user=admin_user, reason="again")
    assert not ModelChange.objects.exists()


def make_samples(count: int, kind: str = "digits") -> list[TrainingSample]:
    from django.core.files.base import ContentFile

    from tests.web.conftest import png_bytes

    samples = []
    for index in range(count):
        sample = TrainingSample(kind=kind, label=str(index % 10))
        sample.image.save(f"s{index}.png", ContentFile(png_bytes(28, 28, 255)), save=False)
        sample.save()
        samples.append(sample)
    return samples


@pytest.mark.django_db
def test_retraining_is_refused_for_unknown_kinds_too_few_samples_and_a_second_run(
    two_digit_versions, admin_user, settings
):
    settings.RETRAIN_MIN_SAMPLES = 5
    with pytest.raises(InvalidInput):
        retraining_request(kind="klingon", user=admin_user)
    make_samples(4)
    with pytest.raises(Conflict, match="at least 5"):
        retraining_request(kind="digits", user=admin_user)
    make_samples(1)
    run = retraining_request(kind="digits", user=admin_user)
    assert run.status == RetrainingRun.Status.QUEUED and run.base_version.version == "1"
    with pytest.raises(Conflict, match="already queued"):
        retraining_request(kind="digits", user=admin_user)
    assert RetrainingRun.objects.count() == 1


@pytest.mark.django_db
def test_excluded_samples_are_left_out_of_retraining(two_digit_versions, admin_user, client_for):
    samples = make_samples(3)
    client = client_for(admin_user)
    response = client.patch(
        reverse("api-training-sample-detail", args=[samples[0].pk]),
        data=json.dumps({"excluded": True}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["excluded"] is True
    assert list(selectors.training_samples_for_model(kind="digits")) == samples[1:]
    # alnum learns from digit samples too; letters does not.
    assert selectors.training_samples_for_model(kind="alnum").count() == 2
    assert selectors.training_samples_for_model(kind="letters").count() == 0


@pytest.mark.django_db
def test_unknown_ids_are_404_not_errors(two_digit_versions, admin_user, client_for):
    client = client_for(admin_user)
    promote_url = reverse("api-model-version-promote", args=[999999])
    assert client.post(promote_url, {"reason": "x"}).status_code == 404
    sample_url = reverse("api-training-sample-detail", args=[999999])
    assert client.patch(sample_url, data="{}", content_type="application/json").status_code == 404
    response = client.post(reverse("retraining"), {"action": "exclude", "sample": "999999", "kind": "digits"})
    assert response.status_code == 404
    assert client.post(reverse("model-versions"), {"version": "999999", "reason": "x"}).status_code == 404
    assert not ModelChange.objects.exists()


@pytest.mark.django_db
def test_only_admins_retrain_promote_and_see_the_queue(two_digit_versions, reviewer, client_for):
    make_samples(5)
    client = client_for(reviewer)
    assert client.post(reverse("api-retraining-run-list"), {"kind": "digits"}).status_code == 403
    promote_url = reverse("api-model-version-promote", args=[two_digit_versions["2"].pk])
    assert client.post(promote_url, {"reason": "x"}).status_code == 403
    assert client.get(reverse("api-training-sample-list")).status_code == 403
    assert client.get(reverse("retraining")).status_code == 403
    assert (
        client.post(
            reverse("model-versions"), {"version": two_digit_versions["2"].pk, "reason": "x"}
        ).status_code
        == 403
    )
    assert not RetrainingRun.objects.exists() and not ModelChange.objects.exists()
    # Reading the list of versions is open to every signed-in user.
    assert client.get(reverse("api-model-version-list")).status_code == 200


@pytest.mark.django_db
def test_admin_pages_render_with_runs_samples_and_versions(two_digit_versions, admin_user, client_for):
    make_samples(6)
    client = client_for(admin_user)
    response = client.post(reverse("retraining"), {"action": "retrain", "kind": "digits"})
    assert response.status_code == 302
    page = client.get(reverse("retraining") + "?kind=digits").content.decode()
    assert "retrain-digits" in page and page.count('class="sample') == 6
    run = RetrainingRun.objects.get()
    progress = client.get(reverse("retraining-progress", args=[run.pk])).json()
    assert progress["status"] == "queued" and progress["finished"] is False
    versions_page = client.get(reverse("model-versions")).content.decode()
    assert "digits@1" in versions_page and "digits@2" in versions_page
    plot = client.get(reverse("model-version-plot", args=[two_digit_versions["1"].pk, "confusion"]))
    assert plot.status_code == 200 and plot["Content-Type"] == "image/png"
    assert (
        client.get(reverse("model-version-plot", args=[two_digit_versions["1"].pk, "passwd"])).status_code
        == 404
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_corrections_of_a_new_style_retrain_on_a_worker_and_a_promoted_model_reads_the_next_page(
    celery_worker_process, model_dir, client_for, settings
):
    """The loop end to end: style read badly, corrections through the review service, a retraining on the
    real worker judged by the gate, then a promotion picked up by the worker at its next page."""
    from recognition.engine.characters.classify import load_classifier

    model_versions_sync(model_dir=model_dir)
    champion = selectors.model_version_active(kind="digits")
    admin = make_user("loop-admin", "admins")
    sets = style_sets(settings.FEMNIST_DIR)
    champion_reader = load_classifier("digits", model_dir, champion.version)
    test_images, test_labels = sets.test_images[:400], sets.test_labels[:400]
    before = style_accuracy(champion_reader, test_images, test_labels)

    made = enter_corrections(
        owner=admin,
        reviewer=admin,
        classifier=champion_reader,
        images=sets.correction_images[:1500],
        labels=sets.correction_labels[:1500],
        wanted=80,
    )
    assert made >= 80
    assert TrainingSample.objects.filter(kind="digits", excluded=False).count() == made

    client = client_for(admin)
    response = client.post(reverse("api-retraining-run-list"), {"kind": "digits"})
    assert response.status_code == 201, response.content
    run_id = response.json()["id"]

    def finished():
        run = client.get(reverse("api-retraining-run-detail", args=[run_id])).json()
        return run if run["status"] in ("promoted", "rejected", "failed") else None

    run = wait_for(finished, timeout=240, interval=0.5, message="the worker to finish retraining")
    assert run["status"] in ("promoted", "rejected"), run["error"]
    assert run["samples_trained"] + run["samples_held_out"] == made and run["samples_held_out"] > 0
    evaluation = run["evaluation"]
    assert evaluation["challenger"]["corrections_accuracy"] > evaluation["champion"]["corrections_accuracy"]

    new_version = ModelVersion.objects.get(kind="digits", version=run["new_version"].split("@")[1])
    card = json.loads((new_version.directory / "card.json").read_text())
    assert card["fine_tuned_from"] == champion.version
    assert card["gate"]["promote"] == (run["status"] == "promoted")
    assert all(
        (new_version.directory / f"{plot}.png").is_file() for plot in ("curves", "confusion", "errors")
    )
    gate_change = ModelChange.objects.get(version=new_version)
    assert gate_change.user is None and gate_change.reason.startswith("Promotion gate:")
    base_drop = evaluation["champion"]["base_accuracy"] - evaluation["challenger"]["base_accuracy"]
    assert (run["status"] == "promoted") == (base_drop <= 0.001)

    after = style_accuracy(
        load_classifier("digits", model_dir, new_version.version), test_images, test_labels
    )
    assert after > before, (before, after)

    # Whatever the gate said, an admin may promote by hand; the worker reads the next page with it.
    if run["status"] != "promoted":
        model_promote(version_id=new_version.pk, user=admin, reason="test: use the new version")
    templates_seed_bundled()
    template = digits_template(FormTemplate.objects.get(name="sample_form"))
    upload = client.post(
        reverse("api-document-list"),
        {"template": template.pk, "files": [upload_file("form.png", filled_form(template))]},
    )
    document_id = upload.json()["id"]

    def read():
        progress = client.get(reverse("api-document-progress", args=[document_id])).json()
        return progress if progress["finished"] else None

    wait_for(read, timeout=120, interval=0.2, message="the worker to read the page")
    versions = set(
        FieldResult.objects.filter(page__document_id=document_id).values_list("model_version", flat=True)
    )
    assert versions == {new_version.name}
