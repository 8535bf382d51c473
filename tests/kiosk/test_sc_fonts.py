"""Chinese is drawn with the Simplified Chinese faces of Noto Sans CJK, regular and bold.

Kivy's SDL2 text provider opens face 0 of a .ttc, the Japanese face of ``NotoSansCJK-Regular.ttc``;
``kiosk.fonts`` (``make setup``) extracts the SC faces, chosen by family name, into their own files.
Here: the choice is by name whatever the order of the faces; the extracted file maps every hanzi of
``zh.json`` to the SC face's glyph; Kivy, given the kiosk's Chinese font, draws hanzi whose JP and SC
forms differ in their SC form (and bold from the bold face), compared with the SC face of the
original collection drawn by PIL, and unlike its JP face. Skipped without fonts-noto-cjk.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from kiosk import font_for
from kiosk.fonts import (
    SC_FONT,
    SOURCES,
    STYLES,
    ChineseFontMissing,
    extract,
    face_index,
    outputs,
    sc_font_files,
)
from tests.conftest import REPO
from tests.xdist_support import kivy_home, xvfb_run

# JP and SC forms differ for these (the examples); 吴 is one glyph in both faces of Noto Sans
# CJK 2.004 (Japanese writes 呉): it must match the SC face but cannot tell the faces apart
DIFFER = "令直叫骨"
SAMPLES = DIFFER + "吴"
JP = ("Noto Sans CJK JP",)
KIVY_ENV = {"KIVY_NO_ARGS": "1", "KIVY_NO_CONSOLELOG": "1", "KIVY_NO_FILELOG": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def _tiny_face(family: str, style: str):
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder([".notdef"])
    fb.setupCharacterMap({})
    fb.setupGlyf({".notdef": TTGlyphPen(None).glyph()})
    fb.setupHorizontalMetrics({".notdef": (500, 0)})
    fb.setupHorizontalHeader(ascent=800, descent=-200)
    fb.setupNameTable({"familyName": family, "styleName": style})
    fb.setupOS2()
    fb.setupPost()
    return fb.font


def _hanzi() -> set[str]:
    zh = json.loads((REPO / "kiosk" / "locale" / "zh.json").read_text(encoding="utf-8"))
    return {ch for text in zh.values() if isinstance(text, str) for ch in text if 0x4E00 <= ord(ch) <= 0x9FFF}


def _draw(path, index: int, ch: str) -> np.ndarray:
    font = ImageFont.truetype(str(path), 64, index=index)
    im = Image.new("L", (128, 128))
    ImageDraw.Draw(im).text((20, 20), ch, font=font, fill=255)
    return np.asarray(im)


def _shape(alpha: np.ndarray) -> np.ndarray:
    """The ink, cropped to its box and scaled to 48x48 (placement and bitmap size differ between
    SDL_ttf and PIL; the shape does not)."""
    ys, xs = np.nonzero(alpha > 128)
    assert len(ys), "no ink"
    box = alpha[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    return np.asarray(Image.fromarray(box).resize((48, 48), Image.BILINEAR)) > 128


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.fixture(scope="module")
def sources():
    missing = [str(p) for p in SOURCES.values() if not p.is_file()]
    if missing:
        pytest.skip(f"fonts-noto-cjk is not installed ({', '.join(missing)} missing): no SC face to extract")
    return SOURCES


@pytest.fixture(scope="module")
def fonts_dir(sources, tmp_path_factory):
    d = tmp_path_factory.mktemp("fonts")
    for style, dest in outputs(d).items():
        assert extract(style, dest=dest) == (dest, True)
    return d


def test_the_sc_face_is_chosen_by_family_name_whatever_its_index(tmp_path):
    from fontTools.ttLib import TTCollection, TTFont

    coll = TTCollection()
    coll.fonts = [_tiny_face("Noto Sans CJK JP", "Regular"), _tiny_face("Noto Sans Mono CJK SC", "Regular"),
                  _tiny_face("Noto Sans CJK SC", "Bold"), _tiny_face("Noto Sans CJK SC", "Regular")]
    coll.save(tmp_path / "faces.ttc")
    assert face_index(tmp_path / "faces.ttc", "Regular") == 3
    assert face_index(tmp_path / "faces.ttc", "Bold") == 2
    dest, written = extract("Regular", source=tmp_path / "faces.ttc", dest=tmp_path / "out" / "sc.otf")
    assert written and dest.is_file()
    with TTFont(dest) as font:
        assert font["name"].getDebugName(1) == "Noto Sans CJK SC"
    # up to date: not written again; a newer collection is extracted again
    assert extract("Regular", source=tmp_path / "faces.ttc", dest=dest) == (dest, False)
    os.utime(tmp_path / "faces.ttc", (dest.stat().st_mtime + 10,) * 2)
    assert extract("Regular", source=tmp_path / "faces.ttc", dest=dest) == (dest, True)

    jp_only = TTCollection()
    jp_only.fonts = [_tiny_face("Noto Sans CJK JP", "Regular")]
    jp_only.save(tmp_path / "jp.ttc")
    with pytest.raises(ChineseFontMissing, match="no Regular face of family Noto Sans CJK SC"):
        extract("Regular", source=tmp_path / "jp.ttc", dest=tmp_path / "jp.otf")
    assert not (tmp_path / "jp.otf").exists()


def test_missing_fonts_are_a_named_error_never_the_japanese_face(tmp_path):
    with pytest.raises(ChineseFontMissing, match="make setup"):
        sc_font_files(tmp_path / "empty")
    with pytest.raises(ChineseFontMissing, match="fonts-noto-cjk"):
        extract("Bold", source=tmp_path / "NotoSansCJK-Bold.ttc", dest=tmp_path / "b.otf")
    assert font_for("zh") == SC_FONT and font_for("vi") != SC_FONT


def test_kiosk_refuses_to_start_without_the_sc_files(tmp_path):
    r = _run_headless("--start-app", env={"SMARTBORDER_FONTS_DIR": str(tmp_path / "empty")})
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["error"] == "ChineseFontMissing", result
    assert "NotoSansSC-Regular.otf" in result["message"]


def test_the_extracted_files_are_the_sc_faces(sources, fonts_dir):
    from fontTools.ttLib import TTCollection, TTFont

    hanzi = _hanzi()
    assert len(hanzi) > 100
    for style in STYLES:
        sc, jp = face_index(sources[style], style), face_index(sources[style], style, JP)
        assert sc != 0 and jp == 0  # why Kivy, opening face 0, drew Japanese forms
        coll = TTCollection(str(sources[style]), lazy=True)
        try:
            sc_map, jp_map = coll.fonts[sc].getBestCmap(), coll.fonts[jp].getBestCmap()
        finally:
            coll.close()
        with TTFont(outputs(fonts_dir)[style], lazy=True) as font:
            assert (font["name"].getDebugName(1), font["name"].getDebugName(2)) == ("Noto Sans CJK SC", style)
            cmap = font.getBestCmap()
        # every hanzi of the catalogue (and the samples) maps to the SC face's glyph; over a hundred of the
        # catalogue's differ from the JP face's
        assert {h: cmap.get(ord(h)) for h in hanzi | set(SAMPLES)} == {h: sc_map[ord(h)] for h in hanzi | set(SAMPLES)}
        assert len({h for h in hanzi if sc_map[ord(h)] != jp_map[ord(h)]}) > 100
        assert {h for h in SAMPLES if sc_map[ord(h)] != jp_map[ord(h)]} == set(DIFFER)
        # drawn: the extracted file (face 0 of its own) gives the SC face's pixels, not the JP face's
        for ch in SAMPLES:
            mine = _draw(outputs(fonts_dir)[style], 0, ch)
            assert np.array_equal(mine, _draw(sources[style], sc, ch)), (style, ch)
            assert np.array_equal(mine, _draw(sources[style], jp, ch)) == (ch not in DIFFER), (style, ch)


def _run_headless(*args: str, env: dict | None = None, timeout: float = 90) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "tests.kiosk.sc_font_driver", *args]
    if not os.environ.get("DISPLAY"):
        if shutil.which("xvfb-run") is None:
            pytest.skip("no display and no xvfb-run")
        cmd = xvfb_run(*cmd)
    return subprocess.run(cmd, cwd=REPO, env={**os.environ, **KIVY_ENV, "KIVY_HOME": str(kivy_home()), **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


def test_kivy_draws_the_sc_forms_regular_and_bold(sources, fonts_dir, tmp_path):
    r = _run_headless(str(tmp_path / "kivy.npz"), SAMPLES, env={"SMARTBORDER_FONTS_DIR": str(fonts_dir)})
    assert r.returncode == 0, r.stderr[-2000:]
    info = json.loads(r.stdout.strip().splitlines()[-1])
    # the kiosk's Chinese font is the registered name; Kivy loads the extracted files for it
    files = outputs(fonts_dir)
    assert info["font"] == info["registered"] == SC_FONT
    assert (info["regular"], info["bold"]) == (str(files["Regular"]), str(files["Bold"]))
    kivy = np.load(tmp_path / "kivy.npz")
    reg, bold = sources["Regular"], sources["Bold"]
    sc_r, jp_r = face_index(reg, "Regular"), face_index(reg, "Regular", JP)
    sc_b, jp_b = face_index(bold, "Bold"), face_index(bold, "Bold", JP)
    for i, ch in enumerate(SAMPLES):
        k_reg, k_bold, k_ttc = (_shape(kivy[f"{kind}_{i}"]) for kind in ("regular", "bold", "ttc"))
        pil = {name: _shape(_draw(path, idx, ch)) for name, path, idx in
               (("sc_r", reg, sc_r), ("jp_r", reg, jp_r), ("sc_b", bold, sc_b), ("jp_b", bold, jp_b))}
        assert _iou(k_reg, pil["sc_r"]) > 0.95, ch
        assert _iou(k_bold, pil["sc_b"]) > 0.95, ch
        # bold is the bold face, not the regular one drawn again
        assert _iou(k_bold, pil["sc_r"]) < 0.85 and k_bold.sum() > 1.2 * k_reg.sum(), ch
        if ch in DIFFER:
            assert _iou(k_reg, pil["jp_r"]) < 0.85, ch
            assert _iou(k_bold, pil["jp_b"]) < 0.9, ch
            # the collection itself, as Kivy opens it, draws the JP form: the reason for all this
            assert _iou(k_ttc, pil["jp_r"]) > 0.95 and _iou(k_ttc, pil["sc_r"]) < 0.85, ch
