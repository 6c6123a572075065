"""The document page: the aligned page with its field and character boxes, per-character confidence."""

import re

import pytest
from django.urls import reverse

from recognition.models import FieldResult


@pytest.mark.django_db
def test_the_document_page_draws_the_field_boxes_on_the_page_and_shows_each_characters_confidence(
    read_document, alice, bob, check_template, client_for
):
    document = read_document(
        alice,
        {"payee": "ANNA", "date": "01012020", "amount": "12"},
        {"payee": 0.3, "date": 0.95, "amount": 0.7},
    )
    page = document.pages.get()
    body = client_for(alice).get(reverse("document-detail", args=[document.pk])).content.decode()

    width, height = check_template.definition["size"]
    assert f'viewBox="0 0 {width} {height}"' in body
    assert reverse("page-aligned-image", args=[page.pk]) in body
    for spec in check_template.fields:
        x, y, box_width, box_height = spec["box"]
        assert f'<rect x="{x}" y="{y}" width="{box_width}" height="{box_height}">' in body, spec["name"]
    assert re.search(r'<g class="field-box low" data-field="payee">', body)
    assert re.search(r'<g class="field-box high" data-field="date">', body)
    # Every character has its own box on the page and its confidence in the table.
    payee = FieldResult.objects.get(name="payee")
    first_char = payee.chars[0]["box"]
    assert f'<rect class="char-box low" x="{first_char[0]}" y="{first_char[1]}"' in body
    assert body.count('class="char-box') == sum(len(field.chars) for field in FieldResult.objects.all())
    assert "A<sub>0.30</sub>" in body and "0<sub>0.95</sub>" in body
    assert "how well this page matched its template" in body and "0.930" in body

    image = client_for(alice).get(reverse("page-aligned-image", args=[page.pk]))
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert client_for(bob).get(reverse("page-aligned-image", args=[page.pk])).status_code == 404
