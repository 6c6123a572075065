"""Whole-field samples: stored on corrections of free fields, imported whole or not at all, retrained on."""

import io
import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from PIL import Image

from recognition.models import FieldResult, ModelChange, ModelVersion, RetrainingRun, TrainingSample
from recognition.services.retraining import retraining_model_kind
from recognition.services.review import field_correct


def field_crop(text: str, height: int = 40) -> np.ndarray:
    image = np.full((height, 22 * len(text) + 20), 238, dtype=np.uint8)
    cv2.putText(image, text, (8, height - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 25, 2)
    return image


def write_labels(folder: Path, rows: list[tuple[str, str]]) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for name, text in rows:
        if name.startswith("images/") and not (folder / name).exists():
            cv2.imwrite(str(folder / name), field_crop(text or "X"))
    labels = folder / "labels.tsv"
    labels.write_text("".join(f"{name}\t{text}\n" for name, text in rows), encoding="utf-8")
    return labels


def stored_sample_files(media_root: Path) -> list[Path]:
    return sorted((media_root / "samples").glob("*.png")) if (media_root / "samples").is_dir() else []


@pytest.mark.django_db
def test_a_bad_line_refuses_the_whole_import_and_names_every_bad_line(tmp_path, admin_user, media_root):
    rows = [("images/a.png", "LEA"), ("images/b.png", "JEAN-PAUL"), ("images/c.png", "Marc")]
    labels = write_labels(tmp_path, rows + [("images/missing.png", "ANNE"), ("images/d.png", "O'NEIL")])
    (tmp_path / "images" / "missing.png").unlink()
    (tmp_path / "images" / "d.png").write_bytes(b"not an image")
    Image.new("L", (5000, 1000), 255).save(tmp_path / "images" / "huge.png")
    with labels.open("a", encoding="utf-8") as stream:
        stream.write("images/huge.png\tPAUL\nno tab here\n")
    before = stored_sample_files(media_root)
    with pytest.raises(CommandError) as refused:
        call_command("import_samples", "--kind", "letters", "--user", admin_user.username, str(labels))
    message = str(refused.value)
    assert "5 bad line(s), nothing was imported" in message
    for line, reason in [
        (3, "outside the letters alphabet"),
        (4, "no such image"),
        (5, "cannot be read"),
        (6, "too large"),
        (7, "expected IMAGE<TAB>TEXT"),
    ]:
        assert f"line {line}: " in message and reason in message, (line, message)
    assert "line 1:" not in message and "line 2:" not in message
    assert not TrainingSample.objects.exists() and stored_sample_files(media_root) == before

    with pytest.raises(CommandError, match="no user"):
        call_command("import_samples", "--kind", "letters", "--user", "nobody", str(labels))


@pytest.mark.django_db
def test_an_import_stores_whole_field_samples_attributed_to_the_user(tmp_path, admin_user):
    absolute = tmp_path / "elsewhere.png"
    cv2.imwrite(str(absolute), field_crop("12"))
    labels = write_labels(tmp_path / "archive", [("images/a.png", "1,250"), ("images/b.png", "300")])
    with labels.open("a", encoding="utf-8") as stream:
        stream.write(f"\n{absolute}\t12\n")
    out = io.StringIO()
    call_command("import_samples", "--kind", "amount", "--user", admin_user.username, str(labels), stdout=out)
    assert "imported 3 amount field samples" in out.getvalue()
    samples = list(TrainingSample.objects.order_by("id"))
    assert [(sample.kind, sample.field_kind, sample.label, sample.source) for sample in samples] == [
        ("sequence", "amount", "1,250", "import"),
        ("sequence", "amount", "300", "import"),
        ("sequence", "amount", "12", "import"),
    ]
    assert all(sample.created_by == admin_user and sample.correction is None for sample in samples)
    assert samples[0].origin.endswith("labels.tsv:1 images/a.png") and samples[2].origin.endswith(
        "elsewhere.png"
    )
    with Image.open(samples[0].image.path) as stored:
        assert stored.mode == "L" and stored.size == (field_crop("1,250").shape[1], 40)


def zip_of(files: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
    buffer.seek(0)
    buffer.name = "archive.zip"
    return buffer


def png(text: str) -> bytes:
    return cv2.imencode(".png", field_crop(text))[1].tobytes()


@pytest.mark.django_db
def test_the_api_and_the_retraining_page_import_a_zip_whole_or_not_at_all(admin_user, reviewer, client_for):
    url = reverse("api-training-sample-import")
    good = {
        "keyed/labels.tsv": b"a.png\tLEA\nsub/b.png\tMARC\n",
        "keyed/a.png": png("LEA"),
        "keyed/sub/b.png": png("MARC"),
    }
    assert client_for(reviewer).post(url, {"kind": "letters", "file": zip_of(good)}).status_code == 403

    bad = {**good, "keyed/labels.tsv": b"a.png\tLEA\n../a.png\tMARC\nb.png\tLUC\n"}
    response = client_for(admin_user).post(url, {"kind": "letters", "file": zip_of(bad)})
    assert response.status_code == 400, response.content
    assert "line 2" in response.json()["detail"] and "line 3" in response.json()["detail"]
    assert not TrainingSample.objects.exists()
    assert client_for(admin_user).post(url, {"kind": "letters", "file": io.BytesIO(b"x")}).status_code == 400

    response = client_for(admin_user).post(url, {"kind": "letters", "file": zip_of(good)})
    assert response.status_code == 201, response.content
    assert response.json()["imported"] == 2
    assert list(TrainingSample.objects.order_by("id").values_list("label", "field_kind")) == [
        ("LEA", "letters"),
        ("MARC", "letters"),
    ]
    listed = client_for(admin_user).get(reverse("api-training-sample-list") + "?kind=sequence").json()
    assert {entry["label"] for entry in listed["results"]} == {"LEA", "MARC"}
    assert all(entry["source"] == "import" for entry in listed["results"])

    client = client_for(admin_user)
    page = client.post(reverse("retraining"), {"action": "import", "field_kind": "text", "file": zip_of(bad)})
    assert page.status_code == 400 and "line 2" in page.content.decode()
    good_text = {**good, "keyed/labels.tsv": "a.png\tMüller\nsub/b.png\tMarc\n".encode()}
    page = client.post(
        reverse("retraining"), {"action": "import", "field_kind": "text", "file": zip_of(good_text)}
    )
    assert page.status_code == 302
    gallery = client.get(reverse("retraining") + "?kind=sequence").content.decode()
    assert "Müller" in gallery and "import-samples" in gallery and "kind-sequence" in gallery


@pytest.mark.django_db
def test_a_correction_of_a_free_field_stores_the_field_as_read_with_its_kind_and_text(
    read_document, alice, reviewer
):
    from recognition.engine.fields.reader import FREE_FIELD_MARGIN

    document = read_document(alice, {"payee": "JEAN PAUI", "date": "01012020"}, {"payee": 0.4, "date": 0.4})
    payee = FieldResult.objects.get(name="payee", page__document=document)
    field_correct(field_id=payee.pk, user=reviewer, text="jean-paul o'neil")
    whole = TrainingSample.objects.get(kind="sequence")
    assert (whole.field_kind, whole.label, whole.predicted_label, whole.source) == (
        "letters",
        "JEAN-PAUL O'NEIL",
        "JEAN PAUI",
        "correction",
    )
    assert whole.created_by == reviewer and whole.correction.field == payee
    margin = int(round(payee.box[3] * FREE_FIELD_MARGIN))
    with Image.open(whole.image.path) as crop:
        assert crop.size == (payee.box[2] + 2 * margin, payee.box[3] + 2 * margin)
    # The page was read character by character: the lined-up characters still train the letters model,
    # and the marks no character model reads never become character samples.
    assert set(TrainingSample.objects.exclude(kind="sequence").values_list("kind", flat=True)) <= {"letters"}
    assert not TrainingSample.objects.filter(kind="letters", label__in=[" ", "-", "'"]).exists()

    # A comb field keeps its per-character samples only.
    date = FieldResult.objects.get(name="date", page__document=document)
    field_correct(field_id=date.pk, user=reviewer, text="07012020")
    assert TrainingSample.objects.filter(kind="sequence").count() == 1
    assert TrainingSample.objects.filter(kind="digits", label="7").exists()

    # Correcting again sets the earlier whole-field sample aside.
    field_correct(field_id=payee.pk, user=reviewer, text="JEAN PAUL")
    assert list(
        TrainingSample.objects.filter(kind="sequence", excluded=False).values_list("label", flat=True)
    ) == ["JEAN PAUL"]


@pytest.mark.django_db
def test_a_field_kind_retrains_the_sequence_reader_when_its_whole_field_samples_wait(
    tmp_path, settings, admin_user
):
    settings.MODEL_DIR = tmp_path
    assert retraining_model_kind(kind="amount") == "digits"
    assert retraining_model_kind(kind="letters") == "letters"
    assert retraining_model_kind(kind="text") == "sequence"
    ModelVersion.objects.create(
        kind="sequence", version="1", path=str(tmp_path / "sequence" / "1"), status="active"
    )
    TrainingSample.objects.create(kind="sequence", field_kind="letters", label="LEA", image="samples/x.png")
    assert retraining_model_kind(kind="letters") == "sequence"
    assert retraining_model_kind(kind="amount") == "digits"


@pytest.mark.slow
@pytest.mark.django_db
def test_retrain_retrains_the_sequence_reader_in_the_foreground_and_the_gate_decides(
    tmp_path, settings, admin_user
):
    """import_samples, then retrain --kind digits on a tiny sequence model: the run, version, change log
    and ACTIVE file follow the gate, and recognize_field reads with the active version."""
    from recognition.engine.sequences.reader import clear_cache
    from tests.engine.sequences.test_finetune import bars, tiny_champion, write_fake_mnist

    settings.MODEL_DIR = tmp_path / "models"
    settings.DATA_DIR = tmp_path / "data"
    settings.RETRAIN_MIN_SAMPLES = 10
    settings.RETRAIN_SEQUENCE_STEPS = 4
    write_fake_mnist(tmp_path / "data" / "mnist")
    tiny_champion(tmp_path / "models" / "sequence" / "1", trained_steps=0)
    (tmp_path / "models" / "sequence" / "ACTIVE").write_text("1\n")
    archive = tmp_path / "archive"
    random = np.random.default_rng(3)
    rows = []
    for index in range(24):
        text = "".join(random.choice(["0", "1"], int(random.integers(2, 5))))
        (archive / "images").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(archive / "images" / f"{index}.png"), bars(text, index, "new"))
        rows.append((f"images/{index}.png", text))
    labels = write_labels(archive, rows)
    call_command("import_samples", "--kind", "digits", "--user", admin_user.username, str(labels))

    out = io.StringIO()
    call_command("retrain", "--kind", "digits", "--user", admin_user.username, stdout=out)
    printed = out.getvalue()
    run = RetrainingRun.objects.get()
    assert (
        run.kind == "sequence" and run.status in ("promoted", "rejected") and run.requested_by == admin_user
    )
    assert run.samples_trained + run.samples_held_out == 24 and run.samples_held_out > 0
    assert "retraining sequence (asked for digits)" in printed and "verdict: " in printed
    assert "held-out samples: " in printed and "base validation: " in printed
    version = ModelVersion.objects.get(kind="sequence", version="2")
    card = json.loads((version.directory / "card.json").read_text(encoding="utf-8"))
    assert card["fine_tuned_from"] == "1" and card["fine_tuning"]["steps"] == 4
    assert card["gate"]["promote"] == (run.status == "promoted")
    change = ModelChange.objects.get(version=version)
    assert change.user is None and change.reason.startswith("Promotion gate:")
    active = (tmp_path / "models" / "sequence" / "ACTIVE").read_text().strip()
    assert active == ("2" if run.status == "promoted" else "1")

    # The commands read with whatever is active now.
    clear_cache()
    crop = tmp_path / "field.png"
    cv2.imwrite(str(crop), bars("101", 0, "new"))
    out = io.StringIO()
    call_command("recognize_field", "--kind", "digits", str(crop), stdout=out)
    assert len(out.getvalue().splitlines()) == 1

    # Too few samples is an error: non-zero exit (CommandError), no run.
    TrainingSample.objects.all().delete()
    with pytest.raises(CommandError, match="needs at least 10"):
        call_command("retrain", "--kind", "sequence")
    assert RetrainingRun.objects.count() == 1


def test_recognize_field_reads_crops_too_thin_or_long_to_be_pages(tmp_path):
    """Real name crops are often 23-31 pixels tall and 15 times wider than tall."""
    crop = np.full((24, 400), 240, dtype=np.uint8)
    cv2.putText(crop, "4711", (10, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.7, 20, 2)
    path = tmp_path / "thin.png"
    cv2.imwrite(str(path), crop)
    out = io.StringIO()
    call_command("recognize_field", "--kind", "digits", str(path), stdout=out)
    assert len(out.getvalue().splitlines()) == 1 and float(out.getvalue().split("\t")[1]) >= 0.0
