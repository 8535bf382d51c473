"""Render characters with Kivy's text provider and report whether they are real glyphs or tofu.

A character without a glyph in the font is drawn as the font's .notdef box: every such character
gives the same bitmap as an unassigned code point (U+E000 here). Prints JSON.
"""

from __future__ import annotations

import hashlib
import json
import sys

SAMPLES = {
    "zh": "请选择语言您的护照呼叫工作人员指纹采集",
    "vi": "ạảấầẩẫậắằẳẵặđẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹươ",
}
TOFU = "\ue000"


def main() -> int:
    from kiosk import CJK_FONT, LATIN_FONT, configure_kivy

    configure_kivy(width=400, height=200)
    from kivy.core.text import Label as CoreLabel
    from kivy.core.window import Window  # noqa: F401 - the SDL2 text provider needs SDL up

    def bitmap(ch: str, font: str) -> tuple[str, int]:
        label = CoreLabel(text=ch, font_name=font, font_size=48)
        label.refresh()
        pixels = label.texture.pixels
        alpha = pixels[3::4]
        return hashlib.sha256(pixels).hexdigest(), sum(1 for a in alpha if a > 128)

    out = {}
    for font_key, font in (("cjk", CJK_FONT), ("latin", LATIN_FONT)):
        tofu, _ = bitmap(TOFU, font)
        for lang, text in SAMPLES.items():
            glyphs = [bitmap(ch, font) for ch in text]
            out[f"{lang}:{font_key}"] = {
                "chars": len(text),
                "distinct": len({h for h, _ in glyphs}),
                "tofu": sum(1 for h, _ in glyphs if h == tofu),
                "ink_min": min(i for _, i in glyphs),
            }
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
