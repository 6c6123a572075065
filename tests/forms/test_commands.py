"""The recognize_form and recognize_field commands on generated pages, with the shipped digits model."""

import io
import json
import re

import cv2
import numpy as np
import pytest
from django.core.management import CommandError, call_command

from bench.make_forms import write_field


def _run(command, *arguments):
    stdout, stderr = io.StringIO(), io.StringIO()
    error = None
    try:
        call_command(command, *arguments, stdout=stdout, stderr=stderr)
    except CommandError as caught:
        error = caught
    return stdout.getvalue(), stderr.getvalue(), error


def _char_accuracy(truth: str, read: str) -> float:
    same = sum(a == b for a, b in zip(truth, read, strict=False))
    return same / max(len(truth), len(read), 1)


@pytest.mark.slow
def test_recognize_form_prints_result_format_1(digits_model_dir, digit_template_file, filled_digit_page):
    page_path, truth = filled_digit_page
    stdout, stderr, error = _run("recognize_form", "--template", str(digit_template_file), str(page_path))
    assert error is None, stderr
    result = json.loads(stdout)
    assert result["format"] == "hwr-form-result/1"
    assert result["template"] == "sample_form"
    assert result["model"].startswith("digits@")
    truths = {field["name"]: field["text"] for field in truth["fields"]}
    assert [field["name"] for field in result["fields"]] == [
        name for name in truths if name in {field["name"] for field in result["fields"]}
    ]
    accuracies = []
    for field in result["fields"]:
        assert 0.0 <= field["confidence"] <= 1.0
        assert field["text"] == "".join(char["text"] for char in field["chars"])
        for char in field["chars"]:
            x, y, width, height = char["box"]
            assert x >= 0 and y >= 0 and width > 0 and height > 0  # template coordinates
        accuracies.append(_char_accuracy(truths[field["name"]], field["text"]))
    # Reading itself is measured by bench/bench_forms.py; here it must at least be mostly right.
    assert np.mean(accuracies) > 0.8, result


@pytest.mark.slow
def test_recognize_form_out_dir_and_unaligned_page(
    tmp_path, digits_model_dir, digit_template_file, filled_digit_page
):
    page_path, _ = filled_digit_page
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((900, 700), 240, np.uint8))
    out_dir = tmp_path / "out"
    stdout, stderr, error = _run(
        "recognize_form",
        "--template",
        str(digit_template_file),
        "--out",
        str(out_dir),
        str(blank),
        str(page_path),
    )
    assert error is not None  # non-zero exit: one page failed
    assert "blank.png" in stderr and "not aligned" in stderr
    assert not (out_dir / "blank.json").exists()
    assert json.loads((out_dir / "page.json").read_text())["format"] == "hwr-form-result/1"


def test_recognize_form_refuses_several_pages_without_out(digit_template_file, filled_digit_page):
    page_path, _ = filled_digit_page
    _, _, error = _run(
        "recognize_form", "--template", str(digit_template_file), str(page_path), str(page_path)
    )
    assert error is not None and "--out" in str(error)


@pytest.mark.slow
def test_recognize_field_prints_text_and_confidence_per_image(tmp_path, digits_model_dir, handwriting):
    rng = np.random.default_rng(3)
    texts, paths = [], []
    for index, cells in enumerate((6, 6)):
        # A comb field cropped from a page, box lines included.
        field = {"name": "f", "kind": "digits", "box": [4, 4, cells * 40, 50], "cells": cells}
        image = np.full((58, cells * 40 + 8), 250, np.uint8)
        for wall in range(cells + 1):
            cv2.line(image, (4 + wall * 40, 4), (4 + wall * 40, 53), 40, 2)
        cv2.rectangle(image, (4, 4), (4 + cells * 40, 53), 40, 2)
        text = "".join(str(digit) for digit in rng.integers(0, 10, cells - index))
        write_field(image, field, text, handwriting, rng)
        path = tmp_path / f"field{index}.png"
        cv2.imwrite(str(path), image)
        texts.append(text)
        paths.append(str(path))
    stdout, stderr, error = _run("recognize_field", "--kind", "digits", "--cells", "6", *paths)
    assert error is None, stderr
    lines = stdout.splitlines()
    assert len(lines) == 2
    for line, text in zip(lines, texts, strict=True):
        read, confidence = line.split("\t")
        assert len(read) == len(text)  # one char per filled cell, the blank cell left out
        assert _char_accuracy(text, read) >= 0.5
        assert 0.0 <= float(confidence) <= 1.0


@pytest.mark.slow
def test_recognize_field_free_amount(tmp_path, digits_model_dir, handwriting):
    field = {"name": "amount", "kind": "amount", "box": [0, 0, 300, 70], "cells": None}
    image = np.full((70, 300), 250, np.uint8)
    write_field(image, field, "64.05", handwriting, np.random.default_rng(5))
    path = tmp_path / "amount.png"
    cv2.imwrite(str(path), image)
    stdout, stderr, error = _run("recognize_field", "--kind", "amount", str(path))
    assert error is None, stderr
    read, _ = stdout.strip().split("\t")
    # The decimal point is found and placed before two decimals, whatever the model makes of the
    # glyphs drawn (they come from MNIST or from NIST SD19, by what the machine holds).
    assert re.fullmatch(r"\d+\.\d\d", read), read
    assert _char_accuracy("64.05", read) >= 0.6


@pytest.mark.slow
def test_alnum_fields_fall_back_to_digits_and_letters(tmp_path, digits_model_dir, handwriting):
    from recognition.engine.fields.reader import CombinedClassifier, FormReader

    if not (digits_model_dir / "letters").is_dir():
        pytest.skip("no shipped letters model")
    # A model folder with digits and letters but no alnum model.
    for kind in ("digits", "letters"):
        (tmp_path / kind).symlink_to(digits_model_dir / kind)
    reader = FormReader(tmp_path)
    classifier = reader.classifier("alnum")
    assert isinstance(classifier, CombinedClassifier)
    images = [
        255 - handwriting.sample("7", np.random.default_rng(1)),
        255 - handwriting.sample("K", np.random.default_rng(2)),
    ]
    predictions = classifier.classify(images)
    assert len(predictions) == 2
    for prediction in predictions:
        assert 0.0 <= prediction.confidence <= 1.0
        assert prediction.label in classifier.classes
        assert all(probability <= prediction.confidence for _, probability in prediction.alternatives)
