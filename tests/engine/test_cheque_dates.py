"""The date window of a cheque: post-dated, valid for three calendar months, then stale."""

import datetime

import pytest

from recognition.engine.cheques.dates import check_cheque_date, last_valid_day

TODAY = datetime.date(2024, 3, 15)


@pytest.mark.parametrize("text", ["15032024", "01032024", "15122023", "14012024"])
def test_a_cheque_within_its_window_has_no_warning(text):
    assert check_cheque_date(text, today=TODAY) == []


def test_a_post_dated_cheque_is_reported():
    assert check_cheque_date("16032024", today=TODAY) == [
        "post-dated: dated 16/03/2024, 1 day after today (15/03/2024); it may not be paid before its date"
    ]
    (warning,) = check_cheque_date("15042025", today=TODAY)
    assert warning.startswith("post-dated: dated 15/04/2025, 396 days after today")


def test_a_stale_cheque_is_reported():
    assert check_cheque_date("14122023", today=TODAY) == [
        "stale: dated 14/12/2023, valid until 14/03/2024 (3 months), today is 15/03/2024"
    ]


@pytest.mark.parametrize(
    ("dated", "valid_until"),
    [
        (datetime.date(2023, 11, 30), datetime.date(2024, 2, 29)),  # leap year
        (datetime.date(2022, 11, 30), datetime.date(2023, 2, 28)),
        (datetime.date(2023, 11, 28), datetime.date(2024, 2, 28)),
        (datetime.date(2024, 8, 31), datetime.date(2024, 11, 30)),
        (datetime.date(2024, 10, 31), datetime.date(2025, 1, 31)),  # across the year
        (datetime.date(2024, 12, 31), datetime.date(2025, 3, 31)),
    ],
)
def test_last_valid_day_is_the_same_day_three_months_on_or_that_months_end(dated, valid_until):
    assert last_valid_day(dated) == valid_until


def test_month_end_edge_dated_30_november():
    # Dated 30 November: there is no 30 February, so it is valid through February's last day.
    assert check_cheque_date("30112023", today=datetime.date(2024, 2, 29)) == []
    assert check_cheque_date("30112023", today=datetime.date(2024, 3, 1)) != []
    assert check_cheque_date("30112022", today=datetime.date(2023, 2, 28)) == []
    (warning,) = check_cheque_date("30112022", today=datetime.date(2023, 3, 1))
    assert warning == "stale: dated 30/11/2022, valid until 28/02/2023 (3 months), today is 01/03/2023"


def test_validity_months_can_be_changed():
    assert check_cheque_date("14122023", today=TODAY, validity_months=6) == []
    assert check_cheque_date("14022024", today=TODAY, validity_months=1) != []


@pytest.mark.parametrize(
    "text", ["", "1503202", "150320245", "15-03-24", "31022024", "00012024", "15132024", "abcdefgh"]
)
def test_text_that_is_not_a_real_date_has_no_window_warning(text):
    # rules.check_date reports malformed dates; the window check stays silent about them.
    assert check_cheque_date(text, today=TODAY) == []


def test_today_may_be_a_datetime():
    assert check_cheque_date("16032024", today=datetime.datetime(2024, 3, 16, 23, 59)) == []


@pytest.mark.parametrize(
    ("text", "today", "validity_months"),
    [(15032024, TODAY, 3), ("15032024", "2024-03-15", 3), ("15032024", TODAY, 0), ("15032024", TODAY, 1.5)],
)
def test_bad_input_types_are_refused(text, today, validity_months):
    with pytest.raises(ValueError):
        check_cheque_date(text, today=today, validity_months=validity_months)
