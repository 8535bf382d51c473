"""Draw hanzi with Kivy's text provider in the kiosk's Chinese font, regular and bold, and in the
.ttc itself (what Kivy opened before: face 0, the Japanese face); save the alpha bitmaps to an .npz.

    python -m tests.kiosk.sc_font_driver OUT.npz CHARS     (SMARTBORDER_FONTS_DIR: the extracted files)
    python -m tests.kiosk.sc_font_driver --start-app       (the kiosk app's start without the files)

Prints one JSON line: the font name the kiosk uses for Chinese and the file Kivy resolved for each style.
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace


def _start_app() -> dict:
    from kiosk import configure_kivy

    configure_kivy(width=400, height=200)
    from kiosk._app import KioskApp
    from kiosk.fonts import ChineseFontMissing

    try:
        KioskApp(SimpleNamespace(on_change=None), camera=None, scanner=None, default_lang="vi")
    except ChineseFontMissing as e:
        return {"error": type(e).__name__, "message": str(e)}
    return {"error": None}


def main(argv: list[str]) -> int:
    if argv[:1] == ["--start-app"]:
        print(json.dumps(_start_app(), ensure_ascii=False))
        return 0
    out, chars = argv
    import numpy as np

    from kiosk import configure_kivy, font_for
    from kiosk.fonts import SOURCES, register_sc_fonts

    configure_kivy(width=400, height=200)
    registered = register_sc_fonts()
    from kivy.core.text import Label as CoreLabel
    from kivy.core.window import Window  # noqa: F401 - the SDL2 text provider needs SDL up

    font = font_for("zh")
    resolved = {}

    def alpha(ch: str, font_name: str, bold: bool):
        label = CoreLabel(text=ch, font_name=font_name, font_size=64, bold=bold)
        label.refresh()
        resolved[(font_name, bold)] = label.options["font_name_r"]
        tex = label.texture
        return np.frombuffer(tex.pixels, np.uint8).reshape(tex.height, tex.width, 4)[..., 3].copy()

    arrays = {}
    for i, ch in enumerate(chars):
        arrays[f"regular_{i}"] = alpha(ch, font, False)
        arrays[f"bold_{i}"] = alpha(ch, font, True)
        arrays[f"ttc_{i}"] = alpha(ch, str(SOURCES["Regular"]), False)
    np.savez(out, **arrays)
    print(json.dumps({"font": font, "registered": registered, "regular": resolved[(font, False)],
                      "bold": resolved[(font, True)]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
