"""Declarative retention policies per data category, with defaults modelled on the EU Entry/Exit
System (Regulation (EU) 2017/2226, Art. 34 retention and Art. 46 logs) and GDPR Art. 5(1)(e).

A policy says from which *anchor* an item's retention period runs and for how long:

- ``created``: the item was captured/registered;
- ``ended``: the border transaction it belongs to ended;
- ``resolved``: the exception (or watchlist hit) was resolved;
- ``last_exit``: the data subject's last recorded exit;
- ``period_end``: the end of the retention period of the record an audit entry is about.

An item *held* by an open exception (``held_by``) is never due; once that exception is resolved
it is due ``held_keep`` after the resolution. When the anchor is unknown the ``fallback`` applies
(e.g. an enrolment whose holder never exited: 5 years from enrolment).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace

from privacy._errors import RetentionError

__all__ = ["ANCHORS", "DEFAULT_POLICIES", "Period", "RetentionPolicy"]

ANCHORS = ("created", "ended", "resolved", "last_exit", "period_end")


@dataclass(frozen=True)
class Period:
    """A legal period: calendar years (29 February + 1 year = 28 February) plus days and hours."""

    years: int = 0
    days: int = 0
    hours: int = 0

    def after(self, t: dt.datetime) -> dt.datetime:
        if self.years:
            try:
                t = t.replace(year=t.year + self.years)
            except ValueError:  # 29 February in a non-leap year
                t = t.replace(year=t.year + self.years, day=28)
        return t + dt.timedelta(days=self.days, hours=self.hours)

    def before(self, t: dt.datetime) -> dt.datetime:
        """The latest anchor time whose period has run out at ``t`` (the inverse of :meth:`after`)."""
        t = t - dt.timedelta(days=self.days, hours=self.hours)
        if self.years:
            try:
                t = t.replace(year=t.year - self.years)
            except ValueError:
                t = t.replace(year=t.year - self.years, day=28)
        return t

    def __str__(self) -> str:
        parts = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in
                 ((self.years, "year"), (self.days, "day"), (self.hours, "hour")) if n]
        return " ".join(parts) or "0 days"


@dataclass(frozen=True)
class RetentionPolicy:
    category: str
    anchor: str
    keep: Period
    fallback_anchor: str | None = None
    fallback_keep: Period | None = None
    held_keep: Period | None = None
    reference: str = ""

    def __post_init__(self) -> None:
        for a in (self.anchor, self.fallback_anchor):
            if a is not None and a not in ANCHORS:
                raise RetentionError(f"unknown retention anchor {a!r} (one of {', '.join(ANCHORS)})")
        if (self.fallback_anchor is None) != (self.fallback_keep is None):
            raise RetentionError("fallback_anchor and fallback_keep go together")

    def due_at(self, anchors: Mapping[str, dt.datetime | None], *, held: bool = False) -> dt.datetime | None:
        """When an item with these anchor times must be gone (None: not yet determined)."""
        if held:
            resolved = anchors.get("resolved")
            return None if resolved is None else (self.held_keep or Period()).after(resolved)
        t = anchors.get(self.anchor)
        if t is not None:
            return self.keep.after(t)
        if self.fallback_anchor is not None and anchors.get(self.fallback_anchor) is not None:
            return self.fallback_keep.after(anchors[self.fallback_anchor])
        return None

    def renamed(self, category: str) -> RetentionPolicy:
        """The same rule for another category name (a caller's own vocabulary)."""
        return replace(self, category=category)

    def describe(self) -> str:
        text = f"{self.keep} after {self.anchor.replace('_', ' ')}"
        if self.fallback_anchor:
            text += f" (else {self.fallback_keep} after {self.fallback_anchor.replace('_', ' ')})"
        if self.held_keep is not None:
            text += f"; held by an exception: {self.held_keep} after its resolution"
        return text


_EES34 = "Reg. (EU) 2017/2226 Art. 34"
DEFAULT_POLICIES: dict[str, RetentionPolicy] = {p.category: p for p in (
    # live captures serve the transaction only (GDPR Art. 5(1)(c,e)); a gate that never reports the end
    # of a transaction cannot keep them past a day
    RetentionPolicy("live_image", "ended", Period(), "created", Period(days=1), held_keep=Period(days=30),
                    reference="GDPR Art. 5(1)(e); EES stores no live image outside the individual file"),
    RetentionPolicy("chip_image", "ended", Period(), "created", Period(days=1), held_keep=Period(days=30),
                    reference="GDPR Art. 5(1)(e); the chip photo is read for the comparison only"),
    RetentionPolicy("template", "last_exit", Period(years=3), "created", Period(years=5),
                    reference=f"{_EES34}(1) and (3): 3 years after the last exit, 5 without an exit record"),
    RetentionPolicy("enrolment_record", "last_exit", Period(years=3), "created", Period(years=5),
                    reference=f"{_EES34}(1) and (3): 3 years after the last exit, 5 without an exit record"),
    RetentionPolicy("gate_transaction", "ended", Period(years=3), "created", Period(years=3),
                    reference=f"{_EES34}(1): entry/exit records 3 years"),
    RetentionPolicy("exception", "resolved", Period(days=30),
                    reference="project rule: 30 days after resolution, for review and complaints"),
    RetentionPolicy("watchlist_hit", "resolved", Period(days=30),
                    reference="project rule: as exceptions; a confirmed hit moves to a case file elsewhere"),
    RetentionPolicy("audit_entry", "period_end", Period(years=1), "created", Period(years=6),
                    reference="Reg. (EU) 2017/2226 Art. 46(2): logs 1 year after the record's retention period"),
)}
