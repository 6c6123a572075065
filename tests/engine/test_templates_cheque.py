"""The bundled CTS-2010 cheque template, its new keys (lines, vocabulary, micr) and template names."""

import copy
import json

import pytest

from recognition.engine.pages.templates import BUNDLED_TEMPLATES_DIR, parse_template, resolve_template
from scripts.draw_cheque_template import draw

CHEQUE_JSON = BUNDLED_TEMPLATES_DIR / "cheque-cts2010" / "cheque-cts2010.json"


def test_the_bundled_cheque_template_parses():
    template = resolve_template("cheque-cts2010")
    assert template.alignment == "layout" and template.size == (2365, 1100)
    assert [(spec.name, spec.kind) for spec in template.fields] == [
        ("date", "date"),
        ("payee", "text"),
        ("amount_words", "text"),
        ("amount", "amount"),
        ("micr", "micr"),
    ]
    words = template.fields[2]
    assert words.vocabulary == "number_words" and len(words.lines) == 2
    assert template.load_image().shape == (1100, 2365)


def _cheque(**field_changes):
    data = json.loads(CHEQUE_JSON.read_text(encoding="utf-8"))
    for name, changes in field_changes.items():
        next(entry for entry in data["fields"] if entry["name"] == name).update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"amount_words": {"lines": [[380, 315, 1300, 105], [60, 420, 1420, 200]]}},
            "inside the field's box",
        ),
        ({"amount_words": {"lines": []}}, "non-empty list"),
        ({"date": {"lines": [[1766, 82, 100, 70]]}}, "not combs"),
        ({"amount": {"vocabulary": "number_words"}}, "'vocabulary' is for text fields"),
        ({"payee": {"vocabulary": "colours"}}, "'vocabulary' is for text fields"),
    ],
)
def test_bad_lines_and_vocabularies_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        parse_template(_cheque(**changes))


def test_templates_resolve_by_name_and_by_path():
    assert resolve_template("cheque-cts2010").name == "cheque-cts2010"
    assert resolve_template(str(CHEQUE_JSON)).name == "cheque-cts2010"
    assert resolve_template("check").name == "check"
    with pytest.raises(ValueError, match="bundled: check, cheque-cts2010, sample_form"):
        resolve_template("cheque-xyz")


def test_the_drawn_reference_has_the_templates_size():
    data = json.loads(CHEQUE_JSON.read_text(encoding="utf-8"))
    image = draw(copy.deepcopy(data))
    assert image.shape == (1100, 2365)
    # The comb's walls are drawn where the layout has them.
    assert image[82 + 35, 1766] < 100 and image[82 + 35, 1766 + 530 // 2] < 100
