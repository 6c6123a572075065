"""The date window of a CTS-2010 cheque: payable from its date until three calendar months later."""

from __future__ import annotations

import calendar
import datetime

VALIDITY_MONTHS = 3


def last_valid_day(dated: datetime.date, *, validity_months: int = VALIDITY_MONTHS) -> datetime.date:
    """The last day a cheque of this date may be paid: the same day of the month validity_months
    later, or that month's last day when it is shorter (dated 30 November, valid until 28 or 29
    February; dated 31 August, until 30 November)."""
    month_index = dated.month - 1 + validity_months
    year, month = dated.year + month_index // 12, month_index % 12 + 1
    day = min(dated.day, calendar.monthrange(year, month)[1])
    return datetime.date(year, month, day)


def _written_date(text: str) -> datetime.date | None:
    """The date of an 8-digit DDMMYYYY text; None for anything else (rules.check_date reports those)."""
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return datetime.date(int(text[4:]), int(text[2:4]), int(text[:2]))
    except ValueError:
        return None


def _shown(day: datetime.date) -> str:
    return day.strftime("%d/%m/%Y")


def check_cheque_date(
    text: str, *, today: datetime.date, validity_months: int = VALIDITY_MONTHS
) -> list[str]:
    """Why a cheque of this DDMMYYYY date cannot be paid today: post-dated or stale; [] when it can,
    and for a text that is not a real date. The reading itself is never changed."""
    if not isinstance(text, str):
        raise ValueError(f"the date must be a string, not {type(text).__name__}")
    if isinstance(today, datetime.datetime):
        # A datetime is a date too; its time of day has no bearing on the window.
        today = today.date()
    if not isinstance(today, datetime.date):
        raise ValueError(f"today must be a date, not {type(today).__name__}")
    if isinstance(validity_months, bool) or not isinstance(validity_months, int) or validity_months < 1:
        raise ValueError(
            f"validity_months must be a whole number of months, 1 or more, not {validity_months!r}"
        )
    dated = _written_date(text)
    if dated is None:
        return []
    if dated > today:
        days = (dated - today).days
        return [
            f"post-dated: dated {_shown(dated)}, {days} day{'s' if days != 1 else ''} after today "
            f"({_shown(today)}); it may not be paid before its date"
        ]
    valid_until = last_valid_day(dated, validity_months=validity_months)
    if today > valid_until:
        return [
            f"stale: dated {_shown(dated)}, valid until {_shown(valid_until)} "
            f"({validity_months} months), today is {_shown(today)}"
        ]
    return []
