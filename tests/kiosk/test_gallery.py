"""Every kiosk screen in every language, headless under Xvfb (tests/kiosk/gallery_driver.py, the same
driver as ``make screenshots``): the screenshots exist and are drawn, each shows the screen and language it
should, every text fits the window, Chinese is drawn in its Simplified forms on the screenshot's own pixels
(compared with the same text drawn in the SC face and in the collection's Japanese face 0), and no Chinese
text is drawn in a Latin font or any other face."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kiosk import LANGUAGES, Catalogues
from tests.conftest import REPO, shared_path
from tests.kiosk.test_kiosk import _run_headless

OUT = REPO / "var" / "screenshots" / "kiosk"
HANZI = re.compile(r"[\u4e00-\u9fff]")
#: the screens of kiosk._app.SCREENS, and the states a traveller sees on them
EXPECTED = {"00-language": "language", "01-document": "document", "02-consent": "consent", "03-chip": "chip",
            "04-face": "face", "05-fingerprints": "fingerprints", "06-fingerprint-feedback": "fingerprints",
            "07-review": "review", "08-officer": "review", "09-idle": "review", "10-done": "done",
            "11-face-retry": "face", "12-referral": "done", "13-declined": "done"}


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    shared_path("faces", "lfw-dev")
    shared_path("fingerprints", "fvc2000_DB2")
    result = tmp_path_factory.mktemp("gallery") / "result.json"
    r = _run_headless("tests.kiosk.gallery_driver", "--out", str(OUT), "--result", str(result), timeout=420)
    if result.exists():  # beside the screenshots, as make screenshots leaves it
        (OUT / "result.json").write_text(result.read_text())
    assert result.exists(), r.stderr[-3000:]
    data = json.loads(result.read_text())
    assert data["ok"], (data.get("error"), data.get("traceback"), r.stderr[-2000:])
    return data


def test_every_screen_in_every_language(gallery):
    from kiosk._app import SCREENS

    assert set(gallery["shots"]) == set(LANGUAGES)
    for lang in LANGUAGES:
        shots = gallery["shots"][lang]
        assert set(shots) == set(EXPECTED), (lang, sorted(set(EXPECTED) ^ set(shots)))
        assert {shots[name]["screen"] for name in shots} == {name for name, _ in SCREENS}
        for name, shot in shots.items():
            assert shot["screen"] == EXPECTED[name], (lang, name, shot["screen"])
            assert shot["lang"] == lang or name == "00-language"  # the language screen speaks all three
            im = np.asarray(Image.open(shot["png"]).convert("RGB"))
            assert im.shape == (800, 1280, 3) and im.std() > 10, (lang, name)  # drawn, not a blank frame
        assert shots["08-officer"]["modal"]
        runs = gallery["runs"][lang]
        assert runs["accepted"] == "accepted" and runs["declined"] == "abandoned"
        assert runs["referred"] == {"outcome": "referred", "reason": "failure_to_acquire"}
        assert runs["referral_stayed"]
        # the referral says where to go, as this kiosk is configured, in the traveller's language
        from tests.kiosk.gallery_driver import DIRECTIONS

        assert any(DIRECTIONS[lang] in lb["text"] for lb in shots["12-referral"]["labels"]), lang
        assert shots["09-idle"]["modal"]
        # a face attempt that ran out of time says so, in the traveller's language, before the next one starts
        retry = Catalogues().t("face.retry", lang)
        assert any(retry in lb["text"] for lb in shots["11-face-retry"]["labels"]), lang
    assert not gallery["session_left"]


def test_languages_draw_their_own_texts(gallery):
    for name in EXPECTED:
        if name == "00-language":
            continue  # the language screen is the same in every language
        texts = {lang: {lb["text"] for lb in gallery["shots"][lang][name]["labels"]} for lang in LANGUAGES}
        for a in LANGUAGES:
            for b in LANGUAGES:
                if a < b:
                    # a screen's texts differ between languages (the language switch's own names aside)
                    assert len(texts[a] - texts[b]) >= 2, (name, a, b)
        # Chinese only where Chinese is spoken: the vi and en screens draw hanzi only in the language names
        for lang in ("vi", "en"):
            hanzi = {t for t in texts[lang] if HANZI.search(t)}
            assert all(len(t) <= 30 and ("中文" in t or "语言" in t) for t in hanzi), (lang, name, hanzi)


def test_texts_fit_the_window(gallery):
    for lang in LANGUAGES:
        for name, shot in gallery["shots"][lang].items():
            w, h = shot["window"]
            for lb in shot["labels"]:
                if lb["clipped"]:
                    continue  # inside a scroll view (the consent notice scrolls)
                x, y, tw, th = lb["box"]
                assert x >= -1 and y >= -1 and x + tw <= w + 1 and y + th <= h + 1, (lang, name, lb["text"], lb["box"])


def _ink(crop: np.ndarray, fg: np.ndarray) -> np.ndarray:
    """How much of the text colour each pixel carries over the crop's background (its most common colour)."""
    flat = crop.reshape(-1, 3)
    values, counts = np.unique(flat, axis=0, return_counts=True)
    bg = values[counts.argmax()].astype(np.float64)
    d = fg - bg
    return np.clip(((crop.astype(np.float64) - bg) @ d) / max(float(d @ d), 1.0), 0.0, 1.0)


def test_chinese_is_drawn_in_simplified_forms_on_the_screenshots(gallery):
    from kiosk.fonts import sc_font_files

    sc = {str(p) for p in sc_font_files().values()}
    checked, distinct, skipped = 0, 0, 0
    for name, shot in gallery["shots"]["zh"].items():
        refs = np.load(Path(shot["png"]).with_suffix(".sc.npz"))
        im = np.asarray(Image.open(shot["png"]).convert("RGB"))
        height = im.shape[0]
        for lb in shot["labels"]:
            if "refs" not in lb or lb["clipped"]:
                continue
            # the font file Kivy drew this text with is one of the extracted SC faces, in the label's weight
            assert lb["font_file"] in sc, (name, lb["text"], lb["font_file"])
            assert ("Bold" in Path(lb["font_file"]).name) == lb["bold"], (name, lb["text"])
            # the text's coverage as drawn: its alpha times the widget's opacity (a disabled button is faded)
            a_sc = refs[f"sc_{lb['refs']}"] / 255.0 * lb["opacity"]
            a_jp = refs[f"jp_{lb['refs']}"] / 255.0 * lb["opacity"]
            x, y, tw, th = lb["box"]
            if x < 0 or y < 0 or x + tw > im.shape[1] or y + th > height or a_sc.shape != (th, tw):
                skipped += 1  # off the window, or a texture laid out otherwise than redrawn: counted, bounded below
                continue
            crop = im[height - y - th:height - y, x:x + tw]
            ink = _ink(crop, np.asarray(lb["color"][:3]) * 255.0)
            ink_sc = np.abs(ink - a_sc).mean()
            checked += 1
            assert ink_sc < 0.03, (name, lb["text"], ink_sc)  # the pixels are the SC face's drawing of the text
            if a_jp.shape == a_sc.shape:
                gap = np.abs(a_sc - a_jp).mean()
                if gap > 0.004:  # the text holds characters whose SC and JP forms differ
                    distinct += 1
                    assert np.abs(ink - a_jp).mean() > ink_sc + 0.5 * gap, (name, lb["text"])
    assert checked >= 3 * len(EXPECTED)  # every screen has several Chinese texts on it
    assert skipped <= 0.05 * checked, (skipped, checked)  # nearly every Chinese text is compared
    assert distinct >= len(EXPECTED)  # and most hold characters whose Japanese forms differ
