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
    "LATIN_LETTER_CLASS",
    "compact",
    "fold_latin",
    "has_hanzi",
    "is_hanzi",
    "normalize_document_number",
    "normalize_hanzi",
    "normalize_pinyin",
    "tokens",
]

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_DOC_DROP = re.compile(r"[\s<\-./]+")


def is_hanzi(ch: str) -> bool:
    code = ord(ch)
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
            or 0xF900 <= code <= 0xFAFF)


def has_hanzi(text: str) -> bool:
    return any(is_hanzi(c) for c in text)


#: Latin letters that Unicode does not decompose, as Doc 9303 Part 3 (§6, transliteration of
#: multinational characters) writes them in the MRZ: ``Søren`` is ``SOEREN``, ``Łukasz`` ``LUKASZ``
_TRANSLITERATE = str.maketrans({
    "Đ": "D", "đ": "d", "Ð": "D", "ð": "d", "Æ": "AE", "æ": "ae", "Ø": "OE", "ø": "oe", "Þ": "TH", "þ": "th",
    "Œ": "OE", "œ": "oe", "Ł": "L", "ł": "l", "Ħ": "H", "ħ": "h", "ı": "i", "ĸ": "k", "Ŋ": "N", "ŋ": "n",
    "Ŧ": "T", "ŧ": "t", "Ŀ": "L", "ŀ": "l",
})


def fold_latin(text: str) -> str:
    """``"Nguyễn Văn Đức"`` -> ``"nguyen van duc"``; ``"NGUYEN<<VAN<DUC"`` -> ``"nguyen van duc"``."""
    text = text.translate(_TRANSLITERATE)
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


def _latin_letter_class() -> str:
    """A regular-expression character class body (``A-Za-z\\u00aa...``) of exactly the letters of the
    Latin blocks (Basic Latin to Latin Extended-B, Latin Extended Additional) that :func:`fold_latin`
    keeps as a letter a-z: a name holding one of them has a token to match on."""
    keep = [cp for lo, hi in ((0x41, 0x24F), (0x1E00, 0x1EFF)) for cp in range(lo, hi + 1)
            if re.search("[a-z]", fold_latin(chr(cp)))]
    runs: list[tuple[int, int]] = []
    for cp in keep:
        if runs and runs[-1][1] == cp - 1:
            runs[-1] = (runs[-1][0], cp)
        else:
            runs.append((cp, cp))

    def esc(cp: int) -> str:
        return chr(cp) if chr(cp).isascii() and chr(cp).isalnum() else f"\\u{cp:04x}"

    return "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in runs)


#: the letters a usable Latin-script name must hold one of (see :func:`_latin_letter_class`)
LATIN_LETTER_CLASS = _latin_letter_class()
