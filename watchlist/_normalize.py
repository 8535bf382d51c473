"""Normalisation of names and document numbers before comparison.

Latin-script names are folded: Vietnamese diacritics removed (``đ``/``Đ`` -> ``d``, which NFKD
does not decompose), case folded, MRZ filler ``<`` and punctuation turned into spaces (Doc 9303
Part 3 §4.6: the MRZ transliterates names to A-Z). Chinese names are compared in two scripts:
Hanzi exactly (whitespace removed), pinyin with tone marks / tone digits, spaces and apostrophes
removed and ``ü``/``v`` mapped to ``u`` (the MRZ spelling of 吕 is ``LU`` or ``LV``).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "compact",
    "fold_latin",
    "has_hanzi",
    "normalize_document_number",
    "normalize_hanzi",
    "normalize_pinyin",
    "tokens",
]

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_DOC_DROP = re.compile(r"[\s<\-./]+")


def _is_hanzi(ch: str) -> bool:
    code = ord(ch)
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
            or 0xF900 <= code <= 0xFAFF)


def has_hanzi(text: str) -> bool:
    return any(_is_hanzi(c) for c in text)


def fold_latin(text: str) -> str:
    """``"Nguyễn Văn Đức"`` -> ``"nguyen van duc"``; ``"NGUYEN<<VAN<DUC"`` -> ``"nguyen van duc"``."""
    text = text.replace("đ", "d").replace("Đ", "D").replace("ð", "d").replace("Ð", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NON_ALNUM.sub(" ", stripped.casefold()).split())


def tokens(text: str) -> list[str]:
    """Folded name tokens, in their original order (digits dropped: names have none)."""
    return [t for t in fold_latin(text).split() if not t.isdigit()]


def compact(toks: list[str]) -> str:
    return "".join(toks)


def normalize_pinyin(text: str) -> str:
    """``"Lǚ Xiǎo-míng"``, ``"lv3 xiao3ming2"``, ``"LU XIAOMING"`` -> ``"luxiaoming"``."""
    folded = fold_latin(text.replace("'", "").replace("’", ""))
    folded = re.sub(r"[0-9]", "", folded)
    return folded.replace("v", "u").replace(" ", "")


def normalize_hanzi(text: str) -> str:
    """Hanzi with whitespace and the middle dot of transliterated names removed (NFKC)."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(c for c in text if not c.isspace() and c not in "·・.")


def normalize_document_number(number: str) -> str:
    """Upper case, spaces, MRZ fillers and separators removed: ``"c 1234-567<"`` -> ``"C1234567"``."""
    return _DOC_DROP.sub("", unicodedata.normalize("NFKC", number)).upper()
