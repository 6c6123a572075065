"""IDX reading and writing, the femnist-dev and EMNIST loaders, and the splits."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from recognition.engine.characters import datasets

FEMNIST_DEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "femnist-dev"


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_idx_round_trip_plain_and_gzip(tmp_path, name):
    images = np.random.default_rng(1).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    path = tmp_path / name
    datasets.write_idx(path, images)
    with open(path, "rb") as stream:
        is_gzip = stream.read(2) == b"\x1f\x8b"
    assert is_gzip == name.endswith(".gz")
    np.testing.assert_array_equal(datasets.read_idx(path), images)


def test_idx_labels_header_is_mnist_layout(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    path = tmp_path / "labels"
    datasets.write_idx(path, labels)
    # Magic 0x00000801 then the big-endian count, as in the MNIST files.
    assert path.read_bytes()[:8] == bytes([0, 0, 8, 1, 0, 0, 0, 5])
    np.testing.assert_array_equal(datasets.read_idx(path), labels)


def test_gzip_detected_by_content_not_name(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    path = tmp_path / "labels-without-gz-suffix"
    datasets.write_idx(path, labels, compress=True)
    np.testing.assert_array_equal(datasets.read_idx(path), labels)


def test_bad_idx_files_raise_value_error(tmp_path):
    bad_magic = tmp_path / "bad"
    bad_magic.write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(ValueError, match="magic"):
        datasets.read_idx(bad_magic)
    truncated = tmp_path / "short.gz"
    with gzip.open(truncated, "wb") as stream:
        stream.write(bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28]) + b"\x00" * 100)
    with pytest.raises(ValueError, match="bytes"):
        datasets.read_idx(truncated)


def test_emnist_loader_turns_transposed_images_upright(tmp_path):
    upright = np.zeros((2, 28, 28), dtype=np.uint8)
    upright[:, 2:5, :] = 255  # a horizontal bar near the top
    datasets.write_idx(tmp_path / "images.gz", np.ascontiguousarray(upright.transpose(0, 2, 1)))
    datasets.write_idx(tmp_path / "labels.gz", np.array([1, 26], dtype=np.uint8))
    loaded = datasets.load_emnist(tmp_path / "images.gz", tmp_path / "labels.gz", datasets.CAPITAL_CLASSES)
    np.testing.assert_array_equal(loaded.images, upright)
    assert [loaded.classes[label] for label in loaded.labels] == ["A", "Z"]


def test_split_by_writer_keeps_each_writer_on_one_side():
    writers = np.array(["w1", "w1", "w2", "w3", "w3", "w3", "w4", "w5"] * 3)
    train_mask, validation_mask = datasets.split_by_writer(writers, 0.4, seed=3)
    assert not (train_mask & validation_mask).any() and (train_mask | validation_mask).all()
    assert set(writers[train_mask]).isdisjoint(set(writers[validation_mask]))
    assert len(set(writers[validation_mask])) == 2


def test_select_classes_relabels_lower_case_as_capitals():
    dataset = datasets.CharacterSet(
        images=np.zeros((4, 28, 28), dtype=np.uint8),
        labels=np.array([0, 12, 38, 61]),  # "0", "C", "c", "z" in byclass order
        classes=list(datasets.BYCLASS_CLASSES),
        writers=np.array(["a", "b", "c", "d"]),
    )
    selected = datasets.select_classes(dataset, {"C": "C", "c": "C"}, datasets.CAPITAL_CLASSES)
    assert selected.labels.tolist() == [2, 2]
    assert selected.writers.tolist() == ["b", "c"]


@pytest.mark.skipif(not FEMNIST_DEV.exists(), reason="needs ../shared/data/femnist-dev")
def test_femnist_dev_matches_its_published_description():
    femnist = datasets.load_femnist_dev(FEMNIST_DEV)
    assert femnist.images.shape == (11570, 28, 28)
    counts = np.bincount(femnist.labels, minlength=62)
    assert (counts[:10].sum(), counts[10:36].sum(), counts[36:].sum()) == (7666, 1992, 1912)
    assert len(np.unique(femnist.writers)) == 119


@pytest.mark.skipif(not datasets.find_synthetic_fonts(), reason="needs fonts-bwht or the other font packages")
def test_font_rendering_gives_framed_labelled_capitals():
    fonts = datasets.find_synthetic_fonts()[:2]
    rendered = datasets.render_font_characters(["A", "L"], fonts, variants=2, seed=0)
    assert rendered.images.shape == (8, 28, 28) and rendered.images.dtype == np.uint8
    assert rendered.labels.tolist() == [0, 0, 1, 1] * 2
    # Framed like MNIST: the ink fits a 20x20 box and its centre of mass is the frame's centre (so a
    # lopsided letter such as L may reach the margin on its heavy side's opposite edge).
    for image in rendered.images:
        rows, columns = np.nonzero(image > 50)
        assert np.ptp(rows) < 21 and np.ptp(columns) < 21
        weights = image.astype(np.float64) / image.sum()
        centre_row = (weights.sum(axis=1) * np.arange(28)).sum()
        centre_column = (weights.sum(axis=0) * np.arange(28)).sum()
        assert abs(centre_row - 13.5) < 1.5 and abs(centre_column - 13.5) < 1.5
    assert (rendered.images.reshape(8, -1).max(axis=1) == 255).all()
