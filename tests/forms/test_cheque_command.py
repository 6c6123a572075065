"""recognize_form with the bundled cheque template reports a page that is not a cheque."""

import io

import cv2
import numpy as np
import pytest
from django.core.management import CommandError, call_command


def test_a_page_that_is_not_a_cheque_is_not_aligned(tmp_path):
    page = tmp_path / "letter.png"
    image = np.full((660, 1419), 240, np.uint8)
    cv2.putText(image, "Dear Sir, this is a letter.", (60, 200), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 40, 3)
    cv2.imwrite(str(page), image)
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="1 page"):
        call_command(
            "recognize_form", "--template", "cheque-cts2010", "--today", "2024-03-15", str(page),
            stdout=stdout, stderr=stderr,
        )  # fmt: skip
    assert "letter.png page 1: not aligned" in stderr.getvalue()
    assert "date, amount not found" in stderr.getvalue()
    assert stdout.getvalue() == ""


def test_an_unknown_template_name_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="bad template: .*bundled: check, cheque-cts2010"):
        call_command("recognize_form", "--template", "cheque-xyz", str(tmp_path / "x.png"))
