"""Watchlist matching: exact document numbers (lost/stolen, like Interpol SLTD) and fuzzy persons.

Pure: imports no other project package, so the back office (server side) and the gate (on its
offline local copy) run the very same code. Names are compared after folding Vietnamese
diacritics (``đ`` -> ``d``), Chinese names by Hanzi (exact) or pinyin (tones and spaces removed; an
entry's Hanzi is converted to pinyin with pypinyin, so a Hanzi-only entry matches an MRZ name),
token order ignored, dates of birth within a window. Every :class:`Match` has a score in [0, 1]
and the reasons behind it.
"""

from watchlist._index import WatchlistIndex
from watchlist._match import (
    DEFAULT_DOB_WINDOW_DAYS,
    DEFAULT_NEAR_THRESHOLD,
    DEFAULT_THRESHOLD,
    DocumentEntry,
    Match,
    PersonEntry,
    PersonQuery,
    WatchlistError,
    match_person,
    name_similarity,
    parse_expiry,
    parse_partial_date,
)
from watchlist._normalize import (
    LATIN_LETTER_CLASS,
    fold_latin,
    has_hanzi,
    is_hanzi,
    normalize_document_number,
    normalize_hanzi,
    normalize_pinyin,
    tokens,
)
from watchlist._pinyin import pinyin_spellings

__all__ = [
    "DEFAULT_DOB_WINDOW_DAYS",
    "DEFAULT_NEAR_THRESHOLD",
    "DEFAULT_THRESHOLD",
    "DocumentEntry",
    "LATIN_LETTER_CLASS",
    "Match",
    "PersonEntry",
    "PersonQuery",
    "WatchlistError",
    "WatchlistIndex",
    "fold_latin",
    "has_hanzi",
    "is_hanzi",
    "match_person",
    "name_similarity",
    "normalize_document_number",
    "normalize_hanzi",
    "normalize_pinyin",
    "parse_expiry",
    "parse_partial_date",
    "pinyin_spellings",
    "tokens",
]
