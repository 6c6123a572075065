"""The cheque review panel: the amount in figures beside the amount in words and their cross-check."""

import datetime

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from recognition.engine.cheques.checks import check_cheque
from recognition.models import Document, FieldResult, Page
from recognition.services.pages import page_process
from recognition.services.review import field_correct
from tests.web.conftest import FakeReading, aligned_page, fake_result, png_bytes

# The day the cheques of these tests are presented: a cheque dated 01-01-2020 is post-dated then.
PRESENTED_ON = datetime.date(2019, 12, 1)


def read_cheque(owner, template, texts: dict[str, str]) -> Document:
    """A document of one page of `template` whose stored reading went through the engine's cheque checks."""
    result = fake_result(template, texts, {name: 0.5 for name in texts})
    if "cheque" in template.definition:
        check_cheque(result["fields"], template.definition["cheque"], today=PRESENTED_ON)
    document = Document.objects.create(owner=owner, template=template, name="cheque.png")
    page = Page(document=document, number=1, source_name="cheque.png")
    page.image.save("cheque.png", ContentFile(png_bytes()), save=True)
    page_process(page_id=page.pk, read_page=lambda _t, _i: FakeReading(result, aligned_page(template)))
    return document


def cheque_texts(**texts: str) -> dict[str, str]:
    return {
        "date": "01012020",
        "payee": "ANNA",
        "amount_words": "Eighty Eight Lakh Only",
        "amount": "88,00,000",
        "micr": "123456789",
        **texts,
    }


def screen(client, name: str, view: str = "review-field") -> str:
    field = FieldResult.objects.get(name=name)
    response = client.get(
        reverse(view, args=[field.pk if view == "review-field" else field.page.document_id])
    )
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_agreeing_amounts_show_both_readings_and_the_verdict(templates, alice, reviewer, client_for):
    read_cheque(alice, templates["cheque-cts2010"], cheque_texts())
    client = client_for(reviewer)
    # Whichever field of the cheque is reviewed, the amounts are shown together.
    for name in ("amount", "amount_words", "payee"):
        body = screen(client, name)
        assert 'class="cheque-amounts high"' in body
        assert '<strong class="cheque-figures">88,00,000</strong>' in body
        assert '<strong class="cheque-words">Eighty Eight Lakh Only</strong>' in body
        assert "(88,00,000)" in body  # the value the words say, grouped the Indian way
        assert "✓ agree" in body
        assert "The words and the figures both say 88,00,000." in body
        assert "123456789" in body  # the MICR line as read
    document_page = screen(client, "amount", view="document-detail")
    assert "✓ agree" in document_page and "The words and the figures both say 88,00,000." in document_page


@pytest.mark.django_db
def test_a_disagreement_shows_its_reason(templates, alice, reviewer, client_for):
    read_cheque(alice, templates["cheque-cts2010"], cheque_texts(amount_words="Eighty Lakh Only"))
    body = screen(client_for(reviewer), "amount")
    assert 'class="cheque-amounts low"' in body
    assert "✗ disagree" in body
    assert "(80,00,000)" in body
    assert "The words say 80,00,000 (Eighty Lakh), the figures 88,00,000." in body
    # The engine's warning on the amount is shown with the field too.
    assert "amount in words disagrees: the words say 80,00,000" in body


@pytest.mark.django_db
def test_unreadable_words_say_so(templates, alice, reviewer, client_for):
    read_cheque(alice, templates["cheque-cts2010"], cheque_texts(amount_words="XQZ"))
    body = screen(client_for(reviewer), "amount_words")
    assert 'class="cheque-amounts medium"' in body
    assert "? unreadable" in body and "The words do not form an amount" in body


@pytest.mark.django_db
def test_a_correction_is_checked_again(templates, alice, reviewer, client_for):
    read_cheque(alice, templates["cheque-cts2010"], cheque_texts(amount_words="Eighty Lakh Only"))
    words = FieldResult.objects.get(name="amount_words")
    field_correct(field_id=words.pk, user=reviewer, text="Eighty Eight Lakh Only")
    body = screen(client_for(reviewer), "amount")
    assert "✓ agree" in body and "Checked again on the corrected text." in body


@pytest.mark.django_db
def test_the_date_window_warning_is_shown(templates, alice, reviewer, client_for):
    read_cheque(alice, templates["cheque-cts2010"], cheque_texts())
    client = client_for(reviewer)
    review = screen(client, "date")
    assert 'id="field-warnings"' in review and "post-dated: dated 01/01/2020" in review
    assert "post-dated: dated 01/01/2020" in screen(client, "date", view="document-detail")


@pytest.mark.django_db
def test_a_template_without_amount_in_words_has_no_panel(templates, alice, reviewer, client_for):
    read_cheque(alice, templates["check"], {"payee": "ANNA", "date": "01012020", "amount": "12"})
    client = client_for(reviewer)
    assert "cheque-amounts" not in screen(client, "amount")
    assert "cheque-amounts" not in screen(client, "amount", view="document-detail")


@pytest.mark.django_db
def test_the_results_carry_the_cross_check_and_the_warnings(templates, alice):
    from recognition.selectors import document_results

    document = read_cheque(alice, templates["cheque-cts2010"], cheque_texts())
    fields = {
        field["name"]: field for field in document_results(document=document)["pages"][0]["result"]["fields"]
    }
    assert fields["amount"]["cross_check"]["verdict"] == "agree"
    assert fields["amount_words"]["value"] == 8800000
    assert any(warning.startswith("post-dated") for warning in fields["date"]["warnings"])
    assert "cross_check" not in fields["payee"]


@pytest.mark.django_db
def test_a_located_field_is_stored_where_the_page_has_it(templates, alice):
    # A layout template moves the date comb to where this bank printed it; review crops it from there.
    template = templates["cheque-cts2010"]
    result = fake_result(template, cheque_texts(), {name: 0.5 for name in cheque_texts()})
    date = next(field for field in result["fields"] if field["name"] == "date")
    date["box"] = [1829, 95, 469, 61]
    document = Document.objects.create(owner=alice, template=template, name="cheque.png")
    page = Page(document=document, number=1, source_name="cheque.png")
    page.image.save("cheque.png", ContentFile(png_bytes()), save=True)
    page_process(page_id=page.pk, read_page=lambda _t, _i: FakeReading(result, aligned_page(template)))
    assert FieldResult.objects.get(name="date").box == [1829, 95, 469, 61]
    assert FieldResult.objects.get(name="payee").box == [215, 195, 1585, 130]
