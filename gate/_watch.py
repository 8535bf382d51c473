"""The gate's offline watchlist check: a :class:`watchlist.WatchlistIndex` over the local copy.

The copy lives in the gate's database (filled by the back office's change feed, see ``_sync``);
the index is rebuilt in memory only when the copy's version changes, so a check costs a lookup.
The back office matches with the very same code, so a gate and the server agree on every hit.
"""

from __future__ import annotations

import threading
from typing import Any

from gate._store import GateStore
from gate._workflow import Presentation, StepError
from watchlist import DocumentEntry, Match, PersonEntry, PersonQuery, WatchlistError, WatchlistIndex

__all__ = ["LocalWatchlist", "entry_from_change"]


def entry_from_change(entry_id: str, kind: str, data: dict[str, Any]) -> DocumentEntry | PersonEntry:
    """A feed record (backoffice/API.md, ``data`` of a person or a document) as a watchlist entry."""
    if kind == "document":
        return DocumentEntry(entry_id, data["document_number"], data.get("issuing_state"),
                             data.get("document_type"), data.get("reason") or "stolen",
                             expires_on=data.get("expires_on") or None)
    if kind == "person":
        names = tuple(n for n in [data.get("name"), *(data.get("aliases") or [])] if n)
        return PersonEntry(entry_id, names, data.get("name_hanzi"), data.get("name_pinyin"),
                           data.get("date_of_birth"), data.get("nationality"), data.get("reason") or "",
                           expires_on=data.get("expires_on") or None)  # an expired entry no longer matches
    raise WatchlistError(f"unknown watchlist entry kind {kind!r}")


class LocalWatchlist:
    """``LocalWatchlist(store)(presentation) -> tuple[Match, ...]`` (hits and near misses)."""

    def __init__(self, store: GateStore, *, threshold: float | None = None) -> None:
        self.store = store
        self.threshold = threshold
        self._index: WatchlistIndex | None = None
        self._version = -1
        self._lock = threading.Lock()
        self.skipped: list[str] = []  # feed entries that could not be indexed (ids only)

    def index(self) -> WatchlistIndex:
        version = self.store.watchlist_version()
        with self._lock:
            if self._index is None or version != self._version:
                ix = WatchlistIndex() if self.threshold is None else WatchlistIndex(threshold=self.threshold)
                skipped = []
                for row in self.store.watchlist_entries():
                    data = {k: v for k, v in row.items() if k not in ("id", "kind")}
                    try:
                        ix.upsert(entry_from_change(row["id"], row["kind"], data))
                    except (WatchlistError, KeyError) as e:
                        skipped.append(f"{row['id']}: {e}")
                self._index, self._version, self.skipped = ix, version, skipped
            return self._index

    def __call__(self, p: Presentation) -> tuple[Match, ...]:
        """Hits and near misses; a check that could not cover everything raises :class:`StepError` (the
        watchlist evidence is then missing and the traveller referred), never a silent partial check."""
        ix = self.index()
        if self.skipped:
            raise StepError(f"watchlist copy incomplete: {len(self.skipped)} entries could not be indexed "
                            f"({'; '.join(self.skipped[:3])})")
        matches = list(ix.check_document(p.document_number, p.issuing_state or None))
        try:
            query = PersonQuery(p.names, p.date_of_birth, p.nationality or None,
                                document_number=p.document_number, issuing_state=p.issuing_state or None)
        except WatchlistError as e:
            raise StepError(f"the person check cannot be made: {e}") from e
        seen = {m.entry_id for m in matches}
        matches += [m for m in ix.check_person(query) if m.entry_id not in seen]
        return tuple(matches)
