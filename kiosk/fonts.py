"""Simplified Chinese font faces for the kiosk, extracted from the Noto Sans CJK collections.

Kivy's SDL2 text provider opens only face 0 of a font collection (``.ttc``), and face 0 of Debian's
``NotoSansCJK-Regular.ttc`` (package ``fonts-noto-cjk``) is the Japanese face: many hanzi (令, 直, 叫,
骨, ...) come out in their Japanese forms, and a label's ``bold`` has no bold face to use. So
``make setup`` runs ``python -m kiosk.fonts``, which copies the Simplified Chinese faces of the regular
and the bold collection, chosen by the family name in their name table (``Noto Sans CJK SC``; never
by index), into single-face files under ``var/fonts/``. The kiosk registers them with Kivy as
:data:`SC_FONT` (regular and bold) and draws every Chinese text with it.

Nothing is extracted at run time: without the files the kiosk does not start
(:class:`ChineseFontMissing`, naming the missing file and the fix). Kivy is imported only by
:func:`register_sc_fonts`, fontTools only by the extraction.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kiosk._i18n import SC_FONT  # the name the faces are registered under with Kivy (font_for("zh"))

__all__ = [
    "FONTS_DIR",
    "SC_FAMILIES",
    "SC_FONT",
    "SOURCES",
    "STYLES",
    "ChineseFontMissing",
    "extract",
    "face_index",
    "main",
    "outputs",
    "register_sc_fonts",
    "sc_font_files",
]

STYLES = ("Regular", "Bold")
NOTO_DIR = Path("/usr/share/fonts/opentype/noto")
#: the collections of fonts-noto-cjk, by style
SOURCES = {style: NOTO_DIR / f"NotoSansCJK-{style}.ttc" for style in STYLES}
#: family names of the Simplified Chinese face (the collections' name; the standalone SC fonts' name)
SC_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC")
#: where ``make setup`` writes the files (``SMARTBORDER_FONTS_DIR`` overrides it)
FONTS_DIR = Path(__file__).resolve().parent.parent / "var" / "fonts"


class ChineseFontMissing(RuntimeError):
    """A Simplified Chinese font file (or its source collection, or the SC face in it) is missing."""


def outputs(fonts_dir: str | Path | None = None) -> dict[str, Path]:
    """The extracted files, by style (``var/fonts/NotoSansSC-{Regular,Bold}.otf``)."""
    if fonts_dir is None:
        fonts_dir = os.environ.get("SMARTBORDER_FONTS_DIR") or FONTS_DIR
    d = Path(fonts_dir)
    return {style: d / f"NotoSansSC-{style}.otf" for style in STYLES}



def _names(font) -> tuple[str, str]:
    """(family, subfamily) from the name table, typographic names (16, 17) first."""
    name = font["name"]
    family = name.getDebugName(16) or name.getDebugName(1) or ""
    sub = name.getDebugName(17) or name.getDebugName(2) or ""
    return family, sub


def face_index(collection: str | Path, style: str = "Regular", families: tuple[str, ...] = SC_FAMILIES) -> int:
    """The index of the face of ``collection`` whose family is one of ``families`` and whose
    subfamily is ``style`` (:class:`ChineseFontMissing` when there is none)."""
    from fontTools.ttLib import TTCollection

    path = Path(collection)
    if not path.is_file():
        raise ChineseFontMissing(f"the font collection {path} is missing (Debian package fonts-noto-cjk; "
                                 "run 'make setup' as root)")
    coll = TTCollection(str(path), lazy=True)
    try:
        found = [(i, _names(f)) for i, f in enumerate(coll.fonts)]
    finally:
        coll.close()
    for i, (family, sub) in found:
        if family in families and sub == style:
            return i
    raise ChineseFontMissing(f"{path} has no {style} face of family {' or '.join(families)} "
                             f"(faces: {', '.join(f'{f} {s}' for _, (f, s) in found)})")


def _fresh(dest: Path, source: Path) -> bool:
    return dest.is_file() and dest.stat().st_mtime >= source.stat().st_mtime


def extract(style: str = "Regular", *, source: str | Path | None = None, dest: str | Path | None = None,
            force: bool = False) -> tuple[Path, bool]:
    """Copy the SC face of ``style`` from ``source`` (default :data:`SOURCES`) into ``dest`` (default
    ``var/fonts/NotoSansSC-{style}.otf``); skipped when ``dest`` is newer than ``source``.
    Returns (dest, whether it was written)."""
    from fontTools.ttLib import TTCollection, TTFont

    source = Path(source) if source is not None else SOURCES[style]
    dest = Path(dest) if dest is not None else outputs()[style]
    if not source.is_file():
        raise ChineseFontMissing(f"the font collection {source} is missing (Debian package fonts-noto-cjk; "
                                 "run 'make setup' as root)")
    if not force and _fresh(dest, source):
        return dest, False
    index = face_index(source, style)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    coll = TTCollection(str(source), lazy=True)
    try:
        coll.fonts[index].save(str(tmp))
    finally:
        coll.close()
    try:
        with TTFont(str(tmp), lazy=True) as check:  # a single face, named as chosen
            family, sub = _names(check)
        if family not in SC_FAMILIES or sub != style:
            raise ChineseFontMissing(f"{tmp}: extracted face is {family} {sub}, not SC {style}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest, True


def sc_font_files(fonts_dir: str | Path | None = None) -> dict[str, Path]:
    """The extracted SC files, by style; :class:`ChineseFontMissing` names what is missing and the fix."""
    files = outputs(fonts_dir)
    for style, path in files.items():
        if not path.is_file():
            src = SOURCES[style]
            why = (f"its source {src} is missing too (Debian package fonts-noto-cjk; run 'make setup' as root)"
                   if not src.is_file() else f"run 'make setup' (python -m kiosk.fonts) to extract it from {src}")
            raise ChineseFontMissing(f"the Simplified Chinese font {path} is missing: {why}. The kiosk does not "
                                     "draw Chinese with the Japanese face of the collection")
    return files


def register_sc_fonts(fonts_dir: str | Path | None = None) -> str:
    """Register the extracted regular and bold SC faces with Kivy as :data:`SC_FONT`; returns the name."""
    files = sc_font_files(fonts_dir)
    from kivy.core.text import LabelBase

    LabelBase.register(SC_FONT, str(files["Regular"]), fn_bold=str(files["Bold"]))
    return SC_FONT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiosk.fonts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="directory for the files (default: var/fonts)")
    parser.add_argument("--force", action="store_true", help="extract even when the files are up to date")
    args = parser.parse_args(argv)
    files = outputs(args.out)
    try:
        for style in STYLES:
            dest, written = extract(style, dest=files[style], force=args.force)
            print(f"fonts: {'wrote' if written else 'up to date'} {dest}")
    except ChineseFontMissing as e:
        print(f"fonts: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
