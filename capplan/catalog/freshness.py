"""Price dates and price age: the one definition of a catalog date, its label and "stale".

Every catalog date is ``YYYY-MM-DD`` and never in the future. A price date has a basis that says
what the date is: ``commit`` (the date of the snapshot commit the price was read from),
``published`` (the source's own publication date) or ``read`` (the day the source was read, when
its publication date is unknown; the price may be older than that). A price is stale when its date
lies more than ``max_age_days`` before today; the limit defaults to 180 days and can be set with
``$CAPPLAN_MAX_PRICE_AGE_DAYS`` or a command's ``--max-price-age`` option.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from capplan.errors import UserError

DateBasis = Literal["commit", "published", "read"]
DATE_BASES: tuple[str, ...] = ("commit", "published", "read")
# Six months: cloud list prices moved by up to 45 % within a year (AWS GPU cut, June 2025), so a
# price older than half a year is worth re-checking before a buyer relies on it.
DEFAULT_MAX_PRICE_AGE_DAYS = 180
MAX_AGE_ENV = "CAPPLAN_MAX_PRICE_AGE_DAYS"
STALE_MARK = "STALE"
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")


def today_utc() -> date:
    """Today's date in UTC (the reference day for price ages)."""
    return datetime.now(UTC).date()


def parse_iso_date(text: str, *, today: date | None = None) -> date:
    """``YYYY-MM-DD`` as a date; ValueError (saying what is allowed) when malformed or in the future."""
    text = str(text).strip()
    if not _ISO.fullmatch(text):
        raise ValueError(f"{text!r} is not a date of the form YYYY-MM-DD")
    try:
        value = date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a calendar date ({exc})") from exc
    if value > (today or today_utc()):
        raise ValueError(f"{text} is in the future; give the date the figure was published or read")
    return value


def check_iso_date(text: str) -> str:
    """Validator for catalog date fields: the text itself when it is a past or present YYYY-MM-DD."""
    parse_iso_date(text)
    return str(text).strip()


def max_price_age_days(value: int | None = None) -> int:
    """The age limit in days: ``value`` if given, else ``$CAPPLAN_MAX_PRICE_AGE_DAYS``, else 180."""
    if value is None:
        raw = os.environ.get(MAX_AGE_ENV, "").strip()
        if not raw:
            return DEFAULT_MAX_PRICE_AGE_DAYS
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise UserError(f"${MAX_AGE_ENV}: {raw!r} must be a whole number of days >= 1")
    return value


@dataclass(frozen=True)
class PriceAge:
    """How old one price is and what its date means."""

    price_date: date
    basis: DateBasis
    commit: str | None
    age_days: int
    max_age_days: int

    @property
    def stale(self) -> bool:
        return self.age_days > self.max_age_days

    def short_label(self) -> str:
        """For narrow tables: '2026-11-30 (read)', '2025-08-12 (published) STALE'."""
        return f"{self.price_date.isoformat()} ({self.basis})" + (f" {STALE_MARK}" if self.stale else "")

    def label(self) -> str:
        """e.g. 'read 2026-11-30 from snapshot 00148f2a', 'published 2025-08-12; STALE: 475 d old > 180 d'."""
        day = self.price_date.isoformat()
        short = self.commit[:8] if self.commit else None
        if self.basis == "commit" and short:
            text = f"snapshot {short} committed {day}"
        elif self.basis == "read":
            text = f"read {day}" + (f" from snapshot {short}" if short else "")
        else:
            text = f"{self.basis} {day}" + (f" (snapshot {short})" if short else "")
        if self.stale:
            text += f"; {STALE_MARK}: {self.age_days} d old > {self.max_age_days} d"
        return text


def price_age(
    price_date: str,
    basis: DateBasis = "published",
    commit: str | None = None,
    *,
    max_age_days: int | None = None,
    today: date | None = None,
) -> PriceAge:
    """The age of a price dated ``price_date`` (YYYY-MM-DD) on ``today`` (default: today, UTC)."""
    ref = today or today_utc()
    day = date.fromisoformat(str(price_date).strip())
    return PriceAge(
        price_date=day,
        basis=basis,
        commit=commit,
        age_days=(ref - day).days,
        max_age_days=max_price_age_days(max_age_days),
    )
