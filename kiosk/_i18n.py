"""Translation catalogues (``kiosk/locale/{vi,zh,en}.json``) and the font for each language.

Kivy has no font fallback: a label in the default font (Roboto) draws boxes ("tofu") for Chinese,
so every text in Chinese is drawn with Noto Sans CJK's Simplified Chinese faces, set explicitly:
:data:`SC_FONT`, the regular and bold SC faces ``make setup`` extracts from the collection and
:mod:`kiosk.fonts` registers with Kivy (Kivy would open the collection's face 0, the Japanese one).
Vietnamese renders with Roboto (Latin Extended Additional covers its stacked diacritics).
"""

from __future__ import annotations

import json
import string
from functools import lru_cache
from pathlib import Path

__all__ = ["LANGUAGES", "CJK_FONT", "LATIN_FONT", "SC_FONT", "Catalogues", "font_for", "catalogues"]

LANGUAGES = ("vi", "zh", "en")
#: the collection the SC faces come from (face 0 is Japanese: the kiosk draws Chinese with SC_FONT)
CJK_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
LATIN_FONT = "Roboto"  # Kivy's bundled font
SC_FONT = "NotoSansSC"  # the name kiosk.fonts registers the extracted SC faces under with Kivy
_DIR = Path(__file__).resolve().parent / "locale"


class CatalogueError(KeyError):
    """A catalogue is missing, malformed, or lacks a key another language has."""


def font_for(lang: str) -> str:
    """The font name for ``lang``'s texts; Chinese: the SC faces registered by
    :func:`kiosk.fonts.register_sc_fonts` at the kiosk's start (which fails without them)."""
    if lang == "zh":
        return SC_FONT
    return LATIN_FONT


class Catalogues:
    def __init__(self, directory: str | Path = _DIR) -> None:
        self.directory = Path(directory)
        self.texts: dict[str, dict[str, str]] = {}
        for lang in LANGUAGES:
            path = self.directory / f"{lang}.json"
            try:
                self.texts[lang] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise CatalogueError(f"cannot load catalogue {path}: {e}") from e

    def t(self, key: str, lang: str, **values) -> str:
        """The text for ``key`` in ``lang``; an unknown guidance key falls back to its family's
        generic key (``face.x`` -> ``face.adjust``), then English, then the key itself."""
        table = self.texts.get(lang) or self.texts["en"]
        text = table.get(key)
        if text is None:
            family = key.split(".", 1)[0]
            generic = {"face": "face.adjust", "finger": "finger.retry", "liveness": "face.follow_prompt",
                       "document": "document.chip_read_failed", "reason": "done.referred"}.get(family)
            text = table.get(generic) if generic else None
            if text is None:
                text = self.texts["en"].get(key, key)
        if values:
            try:
                text = string.Formatter().vformat(text, (), values)
            except (KeyError, IndexError, ValueError):
                pass
        return text

    def missing(self) -> dict[str, set[str]]:
        """Keys some language has and another lacks."""
        every = set().union(*(set(t) for t in self.texts.values()))
        return {lang: every - set(t) for lang, t in self.texts.items() if every - set(t)}

    def text_version(self, lang: str) -> str:
        return self.texts[lang].get("_text_version", "")

    def language_name(self, lang: str) -> str:
        return self.texts[lang]["_language_name"]


@lru_cache(maxsize=1)
def catalogues() -> Catalogues:
    return Catalogues()
