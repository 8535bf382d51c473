"""Small shared helpers: the injectable clock, timestamps, transactions on a shared connection."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from storage import transaction  # noqa: F401 - re-exported: privacy's modules take it from here

__all__ = ["Clock", "iso", "system_clock", "transaction", "utc"]

Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def utc(t: dt.datetime) -> dt.datetime:
    """An aware UTC datetime (naive values are taken as UTC)."""
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def iso(t: dt.datetime) -> str:
    return utc(t).isoformat(timespec="microseconds").replace("+00:00", "Z")
