"""Hanzi -> pinyin spellings, the way a Chinese passport's MRZ writes a name.

A Chinese passport (Doc 9303 Part 3 §6: national transliteration) carries the name in Hanzi in
the visual zone and in Hanyu Pinyin, without tones, in the MRZ: 张伟 is ``ZHANG<<WEI``, 吕小明
``LV<<XIAOMING`` (or ``LU``). A watchlist entry listed only in Hanzi must still match that MRZ,
so an entry's Hanzi is converted with :mod:`pypinyin` (its phrase dictionary picks the reading of a
character in context) into token lists ``(surname, given name)``, tone-less; ``ü`` gives three
spellings, ``yu`` (China's passports since 2012: 吕 ``LYU``), ``u`` and ``v``.

Heteronyms: a character with several readings is read as a surname when it is the first character
(单 is Shan as a surname, Dan otherwise; 曾 Zeng, not Ceng). The surname's readings are taken from
``_SURNAME_READINGS`` (the readings used for the family name) and otherwise from pypinyin's
``heteronym=True`` list; the given name keeps pypinyin's reading in context, plus the other readings
of a one-character given name. The spellings are capped at :data:`MAX_SPELLINGS`: every extra
spelling is one more way to match, so one more way to match wrongly.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import product

from watchlist._normalize import has_hanzi, is_hanzi, normalize_hanzi

__all__ = ["MAX_SPELLINGS", "hanzi_spellings", "pinyin_spellings"]

MAX_SPELLINGS = 6

#: the reading(s) of heteronym characters when they are a family name, most common first
_SURNAME_READINGS: dict[str, tuple[str, ...]] = {
    "单": ("shan",), "曾": ("zeng",), "解": ("xie",), "仇": ("qiu",), "朴": ("piao",), "区": ("ou",),
    "查": ("zha",), "盖": ("ge", "gai"), "乐": ("yue", "le"), "尉": ("wei", "yu"), "覃": ("qin", "tan"),
    "翟": ("zhai",), "缪": ("miao",), "种": ("chong",), "秘": ("bi",), "召": ("shao",), "员": ("yun",),
    "重": ("chong",), "长": ("chang",), "长孙": ("zhangsun",), "柏": ("bai",), "藏": ("zang",),
    "句": ("gou",), "繁": ("po",), "折": ("she",), "阚": ("kan",), "万俟": ("moqi",), "尉迟": ("yuchi",),
    "澹台": ("tantai",), "朝": ("chao",), "虞": ("yu",), "宁": ("ning",), "那": ("na",), "都": ("du",),
    "薄": ("bo",), "任": ("ren",), "华": ("hua",), "燕": ("yan",), "纪": ("ji",), "过": ("guo",),
}

#: two-character family names (the given name is what follows)
_COMPOUND_SURNAMES = frozenset({
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "令狐",
    "夏侯", "澹台", "万俟", "端木", "独孤", "南宫", "西门", "轩辕", "呼延", "申屠", "太史", "闻人",
})


def _clean(syllable: str) -> str:
    return syllable.replace("ü", "v").lower()


#: ü (pypinyin's ``v``) as passports spell it: ``LYU`` (China's passports since 2012), ``LU``, ``LV``
_U_UMLAUT = ("yu", "u", "v")


def _umlaut_variants(toks: tuple[str, ...]) -> list[tuple[str, ...]]:
    if not any("v" in t for t in toks):
        return [toks]
    return [tuple(t.replace("v", u) for t in toks) for u in _U_UMLAUT]


def _lazy(chars: str) -> list[str]:
    """pypinyin's reading of ``chars`` in context (tone-less). pypinyin loads its dictionaries (~0.6 s) on
    first use, not when ``watchlist`` is imported."""
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin(chars, style=Style.NORMAL, errors="ignore")


def _readings(chars: str) -> list[str]:
    """pypinyin's readings of one character (all of them: ``heteronym=True``), its usual one first."""
    from pypinyin import Style, pinyin

    usual = _lazy(chars)
    out = ["".join(_clean(s) for s in usual)] if usual else []
    if len(chars) == 1:
        for s in pinyin(chars, style=Style.NORMAL, heteronym=True, errors="ignore")[0] if out else []:
            if _clean(s) not in out:
                out.append(_clean(s))
    return out


@lru_cache(maxsize=65536)
def pinyin_spellings(hanzi: str) -> tuple[tuple[str, ...], ...]:
    """``"张伟"`` -> ``(("zhang", "wei"),)``; ``"单伟"`` -> ``(("shan", "wei"),)`` (单 as a surname);
    ``"曾乐"`` -> ``(("zeng", "le"), ("zeng", "yue"))`` (a one-character given name keeps its readings).

    Token lists (family name first, then the given name as one token, as the MRZ spells it:
    ``WANG<<XIAOMING``), at most :data:`MAX_SPELLINGS`, the most likely first. Characters that are
    not Hanzi are dropped; an empty tuple when nothing is left."""
    text = "".join(c for c in normalize_hanzi(hanzi) if is_hanzi(c))
    if not text:
        return ()
    if len(text) == 1:
        return tuple(v for r in _readings(text) for v in _umlaut_variants((r,)))[:MAX_SPELLINGS]
    cut = 2 if text[:2] in _COMPOUND_SURNAMES and len(text) > 2 else 1
    surname, given = text[:cut], text[cut:]
    surnames = list(_SURNAME_READINGS.get(surname) or _readings(surname))
    givens = ["".join(_clean(s) for s in _lazy(given))]
    if len(given) == 1:
        givens = _readings(given) or givens
    out: list[tuple[str, ...]] = []
    for s, g in product(surnames, givens):
        for toks in _umlaut_variants(tuple(t for t in (s, g) if t)):
            if toks and toks not in out:
                out.append(toks)
    return tuple(out[:MAX_SPELLINGS])


def hanzi_spellings(text: str | None) -> tuple[tuple[str, ...], ...]:
    """:func:`pinyin_spellings` of ``text`` when it holds Hanzi, else ``()``."""
    return pinyin_spellings(text) if text and has_hanzi(text) else ()
