"""Moments in UTC: how every layer reads a ``datetime`` a caller passes."""

from __future__ import annotations

import datetime as dt

__all__ = ["now", "utc"]


def utc(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC; a naive datetime is taken to be UTC already (as X.509 times are)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def now() -> dt.datetime:
    """The current moment, timezone-aware, in UTC."""
    return dt.datetime.now(dt.timezone.utc)
