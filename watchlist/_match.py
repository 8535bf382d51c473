"""Watchlist entries, queries and the scoring of one query against one entry.

A score is in [0, 1]; every match carries the reasons that produced it, so a guard (or the gate's
decision log) can see *why* a traveller was flagged: ``document_number_exact``,
``name_exact``, ``name_token_order``, ``name_spacing``, ``name_fuzzy``, ``name_partial``,
``hanzi_exact``, ``pinyin_match`` (the query's Latin name against the pinyin of the entry's Hanzi, or the
other way round), ``pinyin_fuzzy``, ``pinyin_partial``, ``dob_exact``, ``dob_within_window``, ``dob_year_match``,
``dob_outside_window``, ``dob_unknown``, ``nationality_match``, ``nationality_differs``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from rapidfuzz.distance import Levenshtein

from watchlist._normalize import (
    compact,
    normalize_document_number,
    normalize_hanzi,
    normalize_pinyin,
    tokens,
)
from watchlist._pinyin import hanzi_spellings

__all__ = [
    "DEFAULT_DOB_WINDOW_DAYS",
    "DEFAULT_NEAR_THRESHOLD",
    "DEFAULT_THRESHOLD",
    "DocumentEntry",
    "Match",
    "PersonEntry",
    "PersonQuery",
    "WatchlistError",
    "match_person",
    "name_similarity",
    "parse_partial_date",
]

DEFAULT_THRESHOLD = 0.85
#: a score at or above this but below the hit threshold is a near miss: shown to the guard, never a hit
DEFAULT_NEAR_THRESHOLD = 0.7
DEFAULT_DOB_WINDOW_DAYS = 365


class WatchlistError(ValueError):
    """An entry or a query is malformed (empty name, bad date, bad document number)."""


def parse_partial_date(value: str | dt.date | None) -> tuple[int, int | None, int | None] | None:
    """``"1980-05-17"``, ``"1980-05"``, ``"1980"`` or a date -> (year, month, day); None stays None.

    MRZ dates of birth may be partly unknown (Doc 9303 Part 3 §4.3.1 allows ``<`` fillers), so
    a year-only date is a valid watchlist value.
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return (value.year, value.month, value.day)
    parts = str(value).strip().split("-")
    try:
        nums = [int(p) for p in parts]
        if len(nums) == 1:
            dt.date(nums[0], 1, 1)
            return (nums[0], None, None)
        if len(nums) == 2:
            dt.date(nums[0], nums[1], 1)
            return (nums[0], nums[1], None)
        if len(nums) == 3:
            dt.date(*nums)
            return (nums[0], nums[1], nums[2])
    except ValueError as e:
        raise WatchlistError(f"invalid date of birth {value!r} (want YYYY, YYYY-MM or YYYY-MM-DD)") from e
    raise WatchlistError(f"invalid date of birth {value!r} (want YYYY, YYYY-MM or YYYY-MM-DD)")


def parse_expiry(value: str | dt.date | None) -> dt.date | None:
    """``"2027-12-31"`` or a date -> the last day the entry is in force; None: no expiry."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError as e:
        raise WatchlistError(f"invalid expiry date {value!r} (want YYYY-MM-DD)") from e


def _in_force(expires: dt.date | None, today: dt.date | None) -> bool:
    return expires is None or (today or dt.date.today()) <= expires


@dataclass(frozen=True, slots=True)
class DocumentEntry:
    """A lost, stolen or revoked travel document (the shape of an Interpol SLTD record)."""

    entry_id: str
    document_number: str
    issuing_state: str | None = None
    document_type: str | None = None
    reason: str = "stolen"
    #: the last day the entry is in force (an expired entry no longer matches); None: no expiry
    expires_on: dt.date | str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "expires_on", parse_expiry(self.expires_on))
        number = normalize_document_number(self.document_number)
        if not number or len(number) > 20 or not number.isalnum():
            raise WatchlistError(f"invalid document number {self.document_number!r}")
        object.__setattr__(self, "document_number", number)
        if self.issuing_state is not None:
            object.__setattr__(self, "issuing_state", self.issuing_state.strip().upper() or None)

    def in_force(self, today: dt.date | None = None) -> bool:
        return _in_force(self.expires_on, today)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class PersonEntry:
    """A watchlisted person: Latin/Vietnamese names (primary and aliases), optional Hanzi + pinyin.

    An entry with Hanzi is also matched by the pinyin of its Hanzi (``watchlist._pinyin``), so a
    person listed only as 张伟 matches the MRZ name ``ZHANG<<WEI`` of a Chinese passport."""

    entry_id: str
    names: tuple[str, ...]
    name_hanzi: str | None = None
    name_pinyin: str | None = None
    date_of_birth: str | None = None
    nationality: str | None = None
    reason: str = ""
    #: the last day the entry is in force (an expired entry no longer matches); None: no expiry
    expires_on: dt.date | str | None = None
    _tokens: tuple[tuple[str, ...], ...] = field(default=(), repr=False, compare=False)
    _dob: tuple | None = field(default=None, repr=False, compare=False)
    #: token lists of the pinyin of ``name_hanzi`` (surname first), most likely reading first
    _pinyin: tuple[tuple[str, ...], ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        names = (self.names,) if isinstance(self.names, str) else tuple(self.names)
        names = tuple(n for n in names if n and n.strip())
        spellings = names + ((self.name_pinyin,) if self.name_pinyin else ())
        toks = tuple(t for t in (tuple(tokens(n)) for n in spellings) if t)
        if not toks and not (self.name_hanzi and self.name_hanzi.strip()):
            raise WatchlistError(f"person entry {self.entry_id!r} has no usable name")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "_tokens", toks)
        object.__setattr__(self, "_pinyin", tuple(p for p in hanzi_spellings(self.name_hanzi) if p not in toks))
        object.__setattr__(self, "expires_on", parse_expiry(self.expires_on))
        object.__setattr__(self, "_dob", parse_partial_date(self.date_of_birth))
        if self.nationality is not None:
            object.__setattr__(self, "nationality", self.nationality.strip().upper() or None)

    def in_force(self, today: dt.date | None = None) -> bool:
        return _in_force(self.expires_on, today)  # type: ignore[arg-type]

    @property
    def spellings(self) -> tuple[tuple[str, ...], ...]:
        """Every token list the entry is searched by: its Latin names, given pinyin, pinyin of its Hanzi."""
        return self._tokens + self._pinyin


@dataclass(frozen=True)
class PersonQuery:
    """Who is at the gate: the name as read (MRZ or chip DG1/DG11), optional Hanzi, DOB, nationality."""

    name: str
    date_of_birth: str | dt.date | None = None
    nationality: str | None = None
    name_hanzi: str | None = None
    document_number: str | None = None
    issuing_state: str | None = None

    def __post_init__(self) -> None:
        if not tokens(self.name) and not self.name_hanzi:
            raise WatchlistError("query has no usable name")
        parse_partial_date(self.date_of_birth)

    def _prepared(self) -> _PreparedQuery:
        """What :func:`match_person` needs of the query, worked out once per query, not once per candidate (an
        index scores hundreds of candidates for a common name); kept on the (frozen) query."""
        prepared = self.__dict__.get("_prepared_form")
        if prepared is None:
            q_tokens = tokens(self.name)
            q_nat = (self.nationality or "").strip().upper() or None
            prepared = _PreparedQuery(
                tokens=q_tokens, dob=parse_partial_date(self.date_of_birth), nationality=q_nat,
                hanzi=normalize_hanzi(self.name_hanzi) if self.name_hanzi else None,
                    pinyin=normalize_pinyin(self.name) if q_tokens else None,
                hanzi_pinyin=hanzi_spellings(self.name_hanzi))
            object.__setattr__(self, "_prepared_form", prepared)
        return prepared


@dataclass(frozen=True, slots=True)
class _PreparedQuery:
    tokens: list[str]
    dob: tuple | None
    nationality: str | None
    hanzi: str | None  # normalize_hanzi of the query's Hanzi
    pinyin: str | None  # normalize_pinyin of the query's Latin name
    hanzi_pinyin: list  # token lists of the pinyin of the query's Hanzi
    #: name_similarity of the query's tokens to an entry's token list, by that list: a common surname and middle
    #: name make many candidates share a spelling ("nguyen van anh"), each scored once
    similarity: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Match:
    """One watchlist hit candidate: the entry, its kind, the score and the reasons.

    ``hit``: the score reached the hit threshold; ``near``: it did not, but reached the lower near
    threshold (a near miss: shown to a guard, never acted on by a gate)."""

    entry_id: str
    kind: str  # "person" or "document"
    score: float
    reasons: tuple[str, ...]
    hit: bool
    near: bool = False

    @property
    def band(self) -> str:
        return "hit" if self.hit else "near_miss" if self.near else "low"

    def to_dict(self) -> dict:
        """The five keys a device reports with an exception (``MatchCreate`` in the back office's API);
        ``near`` / :attr:`band` are read from the object."""
        return {"entry_id": self.entry_id, "kind": self.kind, "score": self.score,
                "reasons": list(self.reasons), "hit": self.hit}


def _ratio(a: str, b: str) -> float:
    """Normalised Levenshtein similarity, ``1 - distance / max(len)`` (rapidfuzz)."""
    return Levenshtein.normalized_similarity(a, b)


def name_similarity(q: list[str] | tuple[str, ...], e: list[str] | tuple[str, ...]) -> tuple[float, str]:
    """Similarity of two folded token lists in [0, 1] and the reason (order-insensitive)."""
    q, e = list(q), list(e)
    if not q or not e:
        return 0.0, "name_missing"
    if q == e:
        return 1.0, "name_exact"
    if sorted(q) == sorted(e):
        return 0.98, "name_token_order"
    if compact(q) == compact(e) or compact(sorted(q)) == compact(sorted(e)):
        return 0.97, "name_spacing"
    # greedy best pairing of tokens, weighted by length; unmatched tokens count as zero
    pairs = sorted(((_ratio(a, b), i, j) for i, a in enumerate(q) for j, b in enumerate(e)), reverse=True)
    used_q: set[int] = set()
    used_e: set[int] = set()
    matched = 0.0
    for sim, i, j in pairs:
        if i in used_q or j in used_e or sim < 0.5:
            continue
        used_q.add(i)
        used_e.add(j)
        matched += sim * (len(q[i]) + len(e[j]))
    total = sum(map(len, q)) + sum(map(len, e))
    token_score = matched / total
    compact_score = _ratio(compact(sorted(q)), compact(sorted(e)))
    if len(used_q) < len(q) or len(used_e) < len(e):
        reason = "name_partial"
    else:
        reason = "name_fuzzy"
    if compact_score > token_score:
        return round(compact_score * 0.97, 4), "name_fuzzy"
    return round(token_score * (1.0 if reason == "name_fuzzy" else 0.98), 4), reason


def _dob_factor(q: tuple | None, e: tuple | None, window_days: int) -> tuple[float, str]:
    if q is None or e is None:
        return 0.92, "dob_unknown"
    if q[2] is not None and e[2] is not None:
        days = abs((dt.date(*q) - dt.date(*e)).days)
        if days == 0:
            return 1.0, "dob_exact"
        if days <= window_days:
            return 1.0 - 0.1 * days / max(window_days, 1), f"dob_within_window:{days}d"
        return 0.6, f"dob_outside_window:{days}d"
    # partial dates: compare what both have
    if q[0] != e[0]:
        if abs(q[0] - e[0]) * 365 <= window_days:
            return 0.93, "dob_year_within_window"
        return 0.6, "dob_outside_window"
    if q[1] is not None and e[1] is not None and q[1] != e[1]:
        return 0.9, "dob_month_differs"
    return 0.97, "dob_year_match"


def _pinyin_similarity(q_lists, e_lists) -> tuple[float, str]:
    """Best :func:`name_similarity` of Latin token lists against pinyin token lists, as ``pinyin_*`` reasons."""
    best, reason = 0.0, "name_missing"
    for q in q_lists:
        for e in e_lists:
            s, r = name_similarity(q, e)
            if s > best:
                best, reason = s, r
    if best >= 0.97:
        return min(best, 0.98), "pinyin_match"
    return best, "pinyin_" + reason.removeprefix("name_")


def match_person(query: PersonQuery, entry: PersonEntry, *, dob_window_days: int = DEFAULT_DOB_WINDOW_DAYS,
                 threshold: float = DEFAULT_THRESHOLD, near_threshold: float | None = None) -> Match:
    """Score one query against one person entry (names, Hanzi/pinyin, DOB window, nationality).

    Expiry is not looked at here (the index leaves expired entries out)."""
    score, reasons = person_score(query, entry, dob_window_days=dob_window_days)
    near = DEFAULT_NEAR_THRESHOLD if near_threshold is None else near_threshold
    return Match(entry.entry_id, "person", score, reasons, score >= threshold, near <= score < threshold)


def person_score(query: PersonQuery, entry: PersonEntry, *,
                 dob_window_days: int = DEFAULT_DOB_WINDOW_DAYS) -> tuple[float, tuple[str, ...]]:
    """:func:`match_person`'s score and reasons, without the :class:`Match` (an index scores every candidate and
    makes a Match of the best few only)."""
    reasons: list[str] = []
    name_score, name_reason = 0.0, "name_missing"
    prepared = query._prepared()
    q_tokens = prepared.tokens
    if query.name_hanzi and entry.name_hanzi and prepared.hanzi == normalize_hanzi(entry.name_hanzi):
        name_score, name_reason = 1.0, "hanzi_exact"
    if name_score < 1.0 and entry.name_pinyin and q_tokens and prepared.pinyin == normalize_pinyin(entry.name_pinyin):
        name_score, name_reason = 0.98, "pinyin_match"
    if name_score < 0.98:
        known = prepared.similarity
        for toks in entry._tokens:
            found = known.get(toks)
            if found is None:
                found = known[toks] = name_similarity(q_tokens, toks)
            s, r = found
            if s > name_score:
                name_score, name_reason = s, r
    if name_score < 0.98:
        # the query's Latin name against the pinyin of the entry's Hanzi, and the pinyin of the
        # query's Hanzi (typed by a guard, or read from DG11) against the entry's Latin names
        for q_lists, e_lists in (([q_tokens] if q_tokens else [], entry._pinyin),
                                 (prepared.hanzi_pinyin, entry._tokens + entry._pinyin)):
            if q_lists and e_lists:
                s, r = _pinyin_similarity(q_lists, e_lists)
                if s > name_score:
                    name_score, name_reason = s, r
    reasons.append(name_reason)
    dob_factor, dob_reason = _dob_factor(prepared.dob, entry._dob, dob_window_days)
    reasons.append(dob_reason)
    nat_factor = 1.0
    q_nat = prepared.nationality
    if q_nat and entry.nationality:
        if q_nat == entry.nationality:
            reasons.append("nationality_match")
        else:
            nat_factor = 0.9
            reasons.append("nationality_differs")
    return round(name_score * dob_factor * nat_factor, 4), tuple(reasons)
