"""What the retention registry hands out: items, purged items, a purge's report, a category's report."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

from privacy._util import utc

__all__ = ["CategoryReport", "Item", "PurgeReport", "PurgedItem"]


def _ts(t: dt.datetime | None) -> float | None:
    return None if t is None else utc(t).timestamp()


def _dt(x: float | None) -> dt.datetime | None:
    return None if x is None else dt.datetime.fromtimestamp(x, dt.UTC)


@dataclass(frozen=True)
class Item:
    ref: str
    category: str
    record_id: str
    subject_id: str | None
    created: dt.datetime
    ended: dt.datetime | None
    resolved: dt.datetime | None
    last_exit: dt.datetime | None
    period_end: dt.datetime | None
    held_by: str | None
    due: dt.datetime | None
    payload: bytes | None = None


@dataclass(frozen=True)
class PurgedItem:
    ref: str
    category: str
    record_id: str
    subject_id: str | None


@dataclass
class PurgeReport:
    run_id: str
    dry_run: bool
    cutoff: str
    purged: int
    by_category: dict[str, int]
    ids_sha256: str
    batches: int = 0
    resumed: bool = False
    ledger_pruned: int = 0
    #: data keys destroyed (crypto-shredding: the purged envelopes are unreadable in every copy)
    keys_shredded: int = 0
    #: live items of a subject re-sealed under keys of their own because they shared a purged item's key
    rekeyed: int = 0
    #: the data database's and the key store's WAL files were checkpointed and truncated to zero bytes
    wal_truncated: bool = False
    #: purged sealed items whose data key was not destroyed (no vault given, or an envelope damaged before
    #: its key was recorded): their rows are gone, but an older copy might still open; named so an operator
    #: can act
    unshredded: int = 0

    @property
    def complete(self) -> bool:
        """Every purged item's key destroyed and no old page left in a WAL file."""
        return self.dry_run or (self.unshredded == 0 and self.wal_truncated)

    def to_dict(self) -> dict:
        return {**asdict(self), "complete": self.complete}


@dataclass(frozen=True)
class CategoryReport:
    category: str
    count: int
    oldest: str | None
    oldest_age_days: float | None
    overdue: int
    next_due: str | None
    policy: str = field(default="")

    def to_dict(self) -> dict:
        return asdict(self)
