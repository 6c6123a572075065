"""Template loading and validation."""

import json

import pytest

from recognition.engine.pages.templates import load_template, parse_template

FORMS_DATA = __import__("pathlib").Path(__file__).resolve().parents[2] / "recognition" / "forms_data"


def _template(**changes):
    data = {
        "format": "hwr-form-template/1",
        "name": "t",
        "image": "t.png",
        "size": [200, 100],
        "fields": [{"name": "a", "kind": "digits", "box": [10, 10, 100, 30], "cells": 5}],
    }
    data.update(changes)
    return data


def test_bundled_templates_load_with_their_images():
    for name in ("check", "sample_form"):
        template = load_template(FORMS_DATA / name / f"{name}.json")
        image = template.load_image()
        assert image.shape == (template.size[1], template.size[0])
    check = load_template(FORMS_DATA / "check" / "check.json")
    assert [(field.name, field.kind, field.cells) for field in check.fields] == [
        ("payee", "letters", None),
        ("date", "date", 8),
        ("amount", "amount", None),
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "hwr-form-template/2"}, "format"),
        ({"size": [200]}, "size"),
        ({"fields": []}, "fields"),
        ({"fields": [{"name": "a", "kind": "money", "box": [0, 0, 10, 10], "cells": None}]}, "kind"),
        ({"fields": [{"name": "a", "kind": "digits", "box": [150, 10, 100, 30], "cells": None}]}, "outside"),
        ({"fields": [{"name": "a", "kind": "date", "box": [0, 0, 100, 30], "cells": 6}]}, "8 cells"),
        ({"fields": [{"name": "a", "kind": "digits", "box": [0, 0, 10, 10], "cells": 0}]}, "cells"),
        (
            {"fields": [{"name": "a", "kind": "digits", "box": [0, 0, 10, 10], "cells": None}] * 2},
            "unique",
        ),
    ],
)
def test_bad_templates_give_clear_errors(changes, message):
    with pytest.raises(ValueError, match=message):
        parse_template(_template(**changes))


def test_missing_image_and_bad_json(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(_template()))
    with pytest.raises(ValueError, match="does not exist"):
        load_template(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_template(path)
