"""Review: the queue's order, keyboard actions, and corrections stored with their training samples."""

import pytest
from django.urls import reverse

from recognition.exceptions import InvalidInput
from recognition.models import Correction, FieldResult, TrainingSample
from recognition.services.review import field_correct


@pytest.mark.django_db
def test_review_queue_is_least_confident_first_across_documents(
    read_document, alice, bob, reviewer, client_for
):
    read_document(
        alice, {"payee": "AA", "date": "01012020", "amount": "1"}, {"payee": 0.7, "date": 0.2, "amount": 0.99}
    )
    read_document(
        bob, {"payee": "BB", "date": "02022020", "amount": "2"}, {"payee": 0.1, "date": 0.5, "amount": 0.6}
    )
    queue = [(field.page.document.owner.username, field.name) for field in services_queue(reviewer)]
    assert queue == [
        ("bob", "payee"),
        ("alice", "date"),
        ("bob", "date"),
        ("bob", "amount"),
        ("alice", "payee"),
    ]
    # The 0.99 field was auto-accepted and recorded as such.
    assert FieldResult.objects.get(name="amount", text="1").review_state == "auto_accepted"

    page = client_for(reviewer).get(reverse("review-queue"))
    assert page.status_code == 200
    text = page.content.decode()
    assert text.index("0.100") < text.index("0.200") < text.index("0.700")


def services_queue(user):
    from recognition import selectors

    return list(selectors.review_queue(user=user))


@pytest.mark.django_db
def test_only_reviewers_see_the_review_queue(client_for, alice, reviewer):
    assert client_for(alice).get(reverse("review-queue")).status_code == 403
    assert client_for(reviewer).get(reverse("review-queue")).status_code == 200


@pytest.mark.django_db
def test_enter_saves_the_correction_and_opens_the_next_field(read_document, alice, reviewer, client_for):
    read_document(
        alice,
        {"payee": "ANNA", "date": "01012020", "amount": "12"},
        {"payee": 0.3, "date": 0.5, "amount": 0.6},
    )
    client = client_for(reviewer)
    first = FieldResult.objects.get(name="payee")
    screen = client.get(reverse("review-field", args=[first.pk]))
    body = screen.content.decode()
    assert 'class="char low"' in body  # characters coloured by confidence
    assert reverse("field-crop", args=[first.pk]) in body
    assert "or 1 70%" in body  # alternatives shown

    response = client.post(reverse("review-field", args=[first.pk]), {"action": "correct", "text": "anne"})
    date = FieldResult.objects.get(name="date")
    assert response.status_code == 302
    assert response["Location"] == reverse("review-field", args=[date.pk])
    first.refresh_from_db()
    assert (first.text, first.recognized_text, first.review_state) == ("ANNE", "ANNA", "corrected")
    assert first.reviewed_by == reviewer

    # Accept as read (its button, or Ctrl+Enter): the field leaves the queue without a correction.
    response = client.post(reverse("review-field", args=[date.pk]), {"action": "accept"})
    date.refresh_from_db()
    assert date.review_state == "accepted"
    assert response["Location"] == reverse("review-field", args=[FieldResult.objects.get(name="amount").pk])
    assert Correction.objects.count() == 1


@pytest.mark.django_db
def test_a_correction_stores_the_correction_and_one_sample_per_changed_character(
    read_document, alice, reviewer
):
    document = read_document(alice, {"date": "01012020"}, {"date": 0.4})
    field = FieldResult.objects.get(name="date", page__document=document)

    field_correct(field_id=field.pk, user=reviewer, text="07012028")

    correction = Correction.objects.get()
    assert (correction.old_text, correction.new_text, correction.user) == ("01012020", "07012028", reviewer)
    samples = TrainingSample.objects.order_by("label")
    assert [(sample.kind, sample.label, sample.predicted_label) for sample in samples] == [
        ("digits", "7", "1"),
        ("digits", "8", "0"),
    ]
    assert all(sample.correction == correction and not sample.excluded for sample in samples)
    from PIL import Image

    box = field.chars[1]["box"]
    with Image.open(samples[0].image.path) as crop:
        assert crop.size == (box[2], box[3])

    # Correcting again makes the earlier samples stale.
    field_correct(field_id=field.pk, user=reviewer, text="07012029")
    assert TrainingSample.objects.filter(excluded=True).count() == 2
    assert sorted(TrainingSample.objects.filter(excluded=False).values_list("label", flat=True)) == ["7", "9"]


@pytest.mark.django_db
def test_a_failed_correction_leaves_nothing_behind(read_document, alice, reviewer):
    document = read_document(alice, {"date": "01012020"}, {"date": 0.4})
    field = FieldResult.objects.get(name="date", page__document=document)
    # The crop cannot be made (the aligned image is gone): the whole correction must roll back.
    field.page.aligned_image.storage.delete(field.page.aligned_image.name)
    with pytest.raises(OSError):
        field_correct(field_id=field.pk, user=reviewer, text="09012020")
    field.refresh_from_db()
    assert (field.text, field.review_state) == ("01012020", "pending")
    assert Correction.objects.count() == 0
    assert TrainingSample.objects.count() == 0


@pytest.mark.django_db
def test_a_correction_outside_the_fields_alphabet_is_refused(read_document, alice, reviewer, client_for):
    document = read_document(alice, {"date": "01012020"}, {"date": 0.4})
    field = FieldResult.objects.get(name="date", page__document=document)
    with pytest.raises(InvalidInput):
        field_correct(field_id=field.pk, user=reviewer, text="01/01/2020")
    response = client_for(reviewer).post(reverse("review-field", args=[field.pk]), {"text": "0I012020"})
    assert response.status_code == 400
    assert "cannot hold" in response.content.decode()
    api = client_for(reviewer).post(
        reverse("api-field-correct", args=[field.pk]), {"text": "abc"}, content_type="application/json"
    )
    assert api.status_code == 400
    assert Correction.objects.count() == 0


@pytest.mark.django_db
def test_api_correct_and_review_queue(read_document, alice, reviewer, client_for):
    document = read_document(
        alice, {"payee": "JO", "date": "01012020"}, {"payee": 0.2, "date": 0.3, "amount": 0.4}
    )
    client = client_for(reviewer)
    queue = client.get(reverse("api-field-list"), {"needs_review": "true"}).json()["results"]
    assert [field["name"] for field in queue] == ["payee", "date", "amount"]
    payee = queue[0]["id"]
    response = client.post(
        reverse("api-field-correct", args=[payee]), {"text": "JOE"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["text"] == "JOE"
    assert response.json()["review_state"] == "corrected"
    results = client.get(reverse("api-document-results", args=[document.pk])).json()
    fields = {field["name"]: field for field in results["pages"][0]["result"]["fields"]}
    assert fields["payee"]["text"] == "JOE"
    assert fields["payee"]["recognized_text"] == "JO"
    assert results["pages"][0]["result"]["format"] == "hwr-form-result/1"


@pytest.mark.django_db
def test_auto_accepted_fields_stay_marked_after_a_correction_so_their_error_rate_is_known(
    read_document, alice, reviewer, client_for, settings
):
    settings.REVIEW_AUTO_ACCEPT_THRESHOLD = 0.9
    read_document(
        alice,
        {"payee": "AB", "date": "01012020", "amount": "7"},
        {"payee": 0.95, "date": 0.97, "amount": 0.2},
    )
    payee = FieldResult.objects.get(name="payee")
    assert payee.auto_accepted and payee.review_state == "auto_accepted"
    field_correct(field_id=payee.pk, user=reviewer, text="AC")
    payee.refresh_from_db()
    assert payee.auto_accepted and payee.review_state == "corrected"
    from recognition import selectors

    assert selectors.auto_accept_error_rate(user=reviewer) == {
        "auto_accepted": 2,
        "corrected": 1,
        "error_rate": 0.5,
    }
    page = client_for(reviewer).get(reverse("review-queue")).content.decode()
    assert "2 so far, 1 of them corrected later (0.500)" in page
