"""clear_background: a security background turns to paper, writing and (unless asked) rules stay."""

import numpy as np

from recognition.engine.pages.prepare import clear_background


def _page():
    page = np.full((300, 900), 240, np.uint8)
    specks = np.random.default_rng(0).random(page.shape) < 0.05
    page[specks] = 205  # a faint speckled security tint
    page[100:140, 200:204] = 50  # a handwritten stroke
    page[200:203, 50:850] = 60  # a printed rule
    return page


def test_a_faint_background_becomes_paper_and_writing_stays():
    cleared = clear_background(_page(), share=0.4)
    assert cleared[:90].min() >= 235  # the tint is gone
    assert cleared[100:140, 200:204].max() <= 60  # the stroke is untouched
    assert cleared[200:203, 50:850].max() <= 60  # rules stay unless asked


def test_long_rules_go_when_asked_and_a_short_stroke_stays():
    cleared = clear_background(_page(), share=0.4, rule_length=300)
    assert cleared[200:203, 100:800].min() >= 230
    assert cleared[100:140, 200:204].max() <= 60


def test_a_blank_page_is_returned_as_it_is():
    blank = np.full((50, 80), 230, np.uint8)
    assert np.array_equal(clear_background(blank), blank)
