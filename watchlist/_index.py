"""An in-memory watchlist index: exact document numbers, blocked fuzzy person search.

Documents are a dict keyed by the normalised number (O(1)). Persons are blocked so a query
scores a few hundred candidates, not a million: every entry is filed under keys built from the
first three letters of each pair of its folded name tokens (order-free) and its birth year
(entries without a DOB under ``None``), plus its compact spelling and its Hanzi. A query looks
up its own keys for the years inside the DOB window. The price of blocking: a person is found
only when at least two name tokens (or the whole compact spelling, or the Hanzi) agree on their
first three letters — a typo in the first letters of two tokens is missed. An entry's Hanzi is
also filed under the keys of its pinyin spellings, and a query's Hanzi looked up by its pinyin, so a
Hanzi-only entry is found by the MRZ's Latin name. Expired entries (``expires_on`` before today)
stay in the index but are left out of every answer. The gate keeps its
local copy in the same structure, updated with :meth:`WatchlistIndex.upsert` / ``remove`` from
the back office's change feed.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import Counter
from collections.abc import Iterable
from itertools import combinations

from watchlist._match import (
    DEFAULT_DOB_WINDOW_DAYS,
    DEFAULT_NEAR_THRESHOLD,
    DEFAULT_THRESHOLD,
    DocumentEntry,
    Match,
    PersonEntry,
    PersonQuery,
    parse_partial_date,
    person_score,
)
from watchlist._normalize import compact, normalize_document_number, normalize_hanzi, tokens
from watchlist._pinyin import hanzi_spellings

__all__ = ["WatchlistIndex"]


def _pair_keys(toks: tuple[str, ...] | list[str]) -> set[tuple]:
    prefixes = sorted({t[:3] for t in toks})
    if len(prefixes) == 1:
        return {("s", prefixes[0])}
    return {("p", a, b) for a, b in combinations(prefixes, 2)}


def _entry_keys(entry: PersonEntry) -> set[tuple]:
    year = entry._dob[0] if entry._dob else None
    keys: set[tuple] = set()
    for toks in entry.spellings:
        keys |= {(*k, year) for k in _pair_keys(toks)}
        keys.add(("c", compact(sorted(toks))))
        keys.add(("c", compact(toks)))
    if entry.name_hanzi:
        keys.add(("h", normalize_hanzi(entry.name_hanzi)))
    return keys


class WatchlistIndex:
    """Documents and persons, searchable by :meth:`check_document`, :meth:`check_person`, :meth:`check`."""

    def __init__(self, *, threshold: float = DEFAULT_THRESHOLD,
                 dob_window_days: int = DEFAULT_DOB_WINDOW_DAYS, near_threshold: float | None = None) -> None:
        self.threshold = threshold
        #: a score in [near_threshold, threshold) is a near miss (default 0.7, or 0.8 x a threshold at or below it)
        self.near_threshold = near_threshold if near_threshold is not None else (
            DEFAULT_NEAR_THRESHOLD if DEFAULT_NEAR_THRESHOLD < threshold else round(threshold * 0.8, 4))
        self.dob_window_days = dob_window_days
        self._documents: dict[str, list[DocumentEntry]] = {}
        self._document_by_id: dict[str, DocumentEntry] = {}
        self._persons: dict[str, PersonEntry] = {}
        self._blocks: dict[tuple, list[str]] = {}
        self._pair_count: dict[str, int] = {}

    # -- maintenance -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._document_by_id) + len(self._persons)

    @property
    def document_count(self) -> int:
        return len(self._document_by_id)

    @property
    def person_count(self) -> int:
        return len(self._persons)

    def upsert(self, entry: DocumentEntry | PersonEntry) -> None:
        self.remove(entry.entry_id)
        if isinstance(entry, DocumentEntry):
            self._documents.setdefault(entry.document_number, []).append(entry)
            self._document_by_id[entry.entry_id] = entry
            return
        keys = _entry_keys(entry)
        for k in keys:
            block = self._blocks.get(k)
            if block is None:
                self._blocks[k] = [entry.entry_id]
            else:
                block.append(entry.entry_id)
        self._persons[entry.entry_id] = entry
        spellings = entry.spellings
        self._pair_count[entry.entry_id] = min(len(_pair_keys(t)) for t in spellings) if spellings else 0

    def extend(self, entries: Iterable[DocumentEntry | PersonEntry]) -> None:
        for e in entries:
            self.upsert(e)

    def remove(self, entry_id: str) -> bool:
        doc = self._document_by_id.pop(entry_id, None)
        if doc is not None:
            bucket = self._documents.get(doc.document_number, [])
            bucket[:] = [d for d in bucket if d.entry_id != entry_id]
            if not bucket:
                self._documents.pop(doc.document_number, None)
            return True
        entry = self._persons.pop(entry_id, None)
        if entry is None:
            return False
        self._pair_count.pop(entry_id, None)
        for k in _entry_keys(entry):
            block = self._blocks.get(k)
            if block is not None and entry_id in block:
                block.remove(entry_id)
                if not block:
                    del self._blocks[k]
        return True

    # -- queries -----------------------------------------------------------------------------
    def get(self, entry_id: str) -> DocumentEntry | PersonEntry | None:
        return self._persons.get(entry_id) or self._document_by_id.get(entry_id)

    def check_document(self, document_number: str, issuing_state: str | None = None, *,
                       today: dt.date | None = None) -> list[Match]:
        """Exact match on the normalised number; the issuing state must agree when both are known."""
        number = normalize_document_number(document_number or "")
        state = (issuing_state or "").strip().upper() or None
        out = []
        for d in self._documents.get(number, []):
            if not d.in_force(today):
                continue
            if state and d.issuing_state and state != d.issuing_state:
                continue
            reasons = ["document_number_exact", f"document_{d.reason}"]
            if state and d.issuing_state:
                reasons.append("issuing_state_match")
            out.append(Match(d.entry_id, "document", 1.0, tuple(reasons), True))
        return out

    def _candidates(self, query: PersonQuery) -> set[str]:
        q_tokens = tokens(query.name)
        dob = parse_partial_date(query.date_of_birth)
        span = max(1, -(-self.dob_window_days // 365))
        years: list[int | None] = [None]
        if dob is not None:
            years += list(range(dob[0] - span, dob[0] + span + 1))
        found: set[str] = set()
        for spelled in [q_tokens] * bool(q_tokens) + list(hanzi_spellings(query.name_hanzi)):
            pair_keys = _pair_keys(spelled)
            hits: Counter[str] = Counter()
            for key in pair_keys:
                for y in years:
                    hits.update(self._blocks.get((*key, y), ()))
            # a 3+ token query needs two agreeing token pairs, unless the entry has one pair only
            need = 2 if len(pair_keys) >= 3 else 1
            for entry_id, n in hits.items():
                if n >= min(need, self._pair_count.get(entry_id, 1)):
                    found.add(entry_id)
            for spelling in {compact(spelled), compact(sorted(spelled))}:
                found.update(self._blocks.get(("c", spelling), ()))
        if query.name_hanzi:
            found.update(self._blocks.get(("h", normalize_hanzi(query.name_hanzi)), ()))
        return found

    def check_person(self, query: PersonQuery, *, limit: int = 10, today: dt.date | None = None) -> list[Match]:
        """Scored candidates at or above half the threshold, best first (``hit`` marks the real hits,
        ``near`` the near misses); entries expired before ``today`` (default: the local date) are left out."""
        scored = []
        floor, window = self.threshold * 0.5, self.dob_window_days
        for entry_id in self._candidates(query):
            entry = self._persons[entry_id]
            if not entry.in_force(today):
                continue
            score, reasons = person_score(query, entry, dob_window_days=window)
            if score >= floor:
                scored.append((-score, entry_id, reasons))
        # a common name has hundreds of candidates: a Match is made for the best ``limit`` only
        best = heapq.nsmallest(limit, scored) if limit < len(scored) else sorted(scored)
        return [Match(entry_id, "person", -neg, reasons, -neg >= self.threshold,
                      self.near_threshold <= -neg < self.threshold) for neg, entry_id, reasons in best]

    def check(self, query: PersonQuery, *, limit: int = 10, today: dt.date | None = None) -> list[Match]:
        """Document check (when the query carries a number) followed by the person check."""
        out: list[Match] = []
        if query.document_number:
            out += self.check_document(query.document_number, query.issuing_state, today=today)
        out += self.check_person(query, limit=limit, today=today)
        return out
