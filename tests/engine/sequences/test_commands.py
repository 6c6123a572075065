"""train_model --kind sequence writes a calibrated version; recognize_field reads free fields with it."""

import io
import json

import cv2
import numpy as np
import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.slow

SETS = {
    "names-dev": ["LEA", "JEAN", "MARC", "PAUL", "ANNE", "LUC", "EVA", "NOE"] * 2,
    "words-dhsd": ["Berg", "Hof", "Weg", "Tal", "Bach", "Feld", "Au", "Dorf"] * 2,
    "amounts-dev": ["12", "305", "4100", "77", "860", "9", "1234", "50"] * 2,
}


def _crop(text: str) -> np.ndarray:
    image = np.full((40, 24 * len(text) + 20), 238, dtype=np.uint8)
    cv2.putText(image, text, (8, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 25, 2)
    return image


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """A tiny copy of the real sets' layout: images/, labels.tsv (a writer column for words)."""
    root = tmp_path_factory.mktemp("shared-data")
    for folder, texts in SETS.items():
        (root / folder / "images").mkdir(parents=True)
        lines = []
        for index, text in enumerate(texts):
            name = f"{folder}-{index}.png"
            cv2.imwrite(str(root / folder / "images" / name), _crop(text))
            lines.append(f"{name}\t{text}" + (f"\t{index % 8}" if folder == "words-dhsd" else ""))
        (root / folder / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_train_model_writes_a_calibrated_sequence_version(tmp_path, settings, data_root):
    settings.MODEL_DIR = tmp_path / "models"
    stdout, stderr = io.StringIO(), io.StringIO()
    options = ["--kind", "sequence", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "4"]
    call_command(
        "train_model", *options, "--data-root", str(data_root), "--mnist-dir", str(tmp_path / "none"),
        stdout=stdout, stderr=stderr,
    )  # fmt: skip
    version_dir = tmp_path / "models" / "sequence" / "1"
    card = json.loads((version_dir / "card.json").read_text(encoding="utf-8"))
    assert (version_dir / "model.keras").exists() and (version_dir / "reliability.png").exists()
    assert (tmp_path / "models" / "sequence" / "ACTIVE").read_text().strip() == "1"
    assert card["epochs"] == 1 and card["steps_per_epoch"] == 2
    assert set(card["validation"]) == {"names", "words", "amounts"}
    # Every kind with validation fields is calibrated (the split is by a hash: sets may come out empty).
    kinds = {"names": "letters", "words": "text", "amounts": "amount"}
    measured = {kinds[name] for name, figures in card["validation"].items() if figures["fields"]}
    assert measured and measured <= set(card["calibration"]["kinds"])
    assert "sequence@1" in stdout.getvalue()
    assert card["command"].startswith("python manage.py train_model --kind sequence")

    # recognize_field reads free fields with it: one line per image, in order, unreadable ones too.
    paths = []
    for index, text in enumerate(["Hof", "Weg"]):
        path = tmp_path / f"field{index}.png"
        cv2.imwrite(str(path), _crop(text))
        paths.append(str(path))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="1 image"):
        call_command(
            "recognize_field", "--kind", "text", paths[0], str(broken), paths[1], stdout=stdout, stderr=stderr
        )
    lines = stdout.getvalue().splitlines()
    assert len(lines) == 3 and lines[1] == "\t0.000"
    for line in (lines[0], lines[2]):
        text, confidence = line.split("\t")
        assert 0.0 <= float(confidence) <= 1.0


def test_train_model_refuses_a_missing_data_root(tmp_path, settings):
    settings.MODEL_DIR = tmp_path / "models"
    with pytest.raises(CommandError, match="not found"):
        call_command("train_model", "--kind", "sequence", "--data-root", str(tmp_path / "nowhere"))
    assert not (tmp_path / "models" / "sequence").exists()


def test_a_run_that_fails_leaves_no_half_made_version(tmp_path, settings, data_root, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("recognition.engine.sequences.report.finish_version", fail)
    settings.MODEL_DIR = tmp_path / "models"
    options = ["--kind", "sequence", "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "4"]
    with pytest.raises(OSError, match="disk full"):
        call_command(
            "train_model", *options, "--data-root", str(data_root), "--mnist-dir", str(tmp_path / "none"),
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip
    assert not (tmp_path / "models" / "sequence" / "1").exists()
    assert not (tmp_path / "models" / "sequence" / "ACTIVE").exists()
