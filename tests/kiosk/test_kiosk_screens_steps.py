"""The kiosk's screens for first-time travellers (issue #20 items 2 and 4): the status line's kinds (colour and
a drawn icon), the step indicator, the language switch that keeps the session, document wording for the three
kinds of document, hand pictograms that follow the fingerprint instruction, quality as words."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import REPO
from tests.kiosk.test_kiosk import _run_headless

SHOTS = REPO / "var" / "screenshots" / "kiosk"


@pytest.mark.parametrize(("key", "kind"), [
    ("document.reading", "progress"), ("chip.reading", "progress"), ("review.submitting", "progress"),
    ("document.read_ok", "success"), ("chip.read_ok", "success"), ("finger.ok", "success"),
    ("face.captured", "success"),
    ("document.no_card", "warning"), ("document.card_removed", "warning"), ("document.mrz_unreadable", "warning"),
    ("finger.press_harder", "warning"), ("finger.place_all_fingers", "warning"), ("finger.skipped", "warning"),
    ("document.document_expired", "failure"), ("document.chip_pa_failed", "failure"),
    ("document.chip_cloned", "failure"), ("document.reader_fault", "failure"), ("finger.referred", "failure"),
    ("face.referred", "failure"), ("reason.timeout", "failure"),
])
def test_message_kinds(key, kind):
    from kiosk._widgets import message_kind

    assert message_kind(key) == kind
    # a retryable problem with no attempt left is a failure; progress and success stay what they are
    assert message_kind(key, final=True) == ("failure" if kind == "warning" else kind)


def test_status_line_and_hand_pictogram_as_drawn():
    r = _run_headless("tests.kiosk.widgets_driver", str(SHOTS / "widgets" / "statusline.png"), timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    from kiosk._widgets import KIND_COLORS, KINDS

    masks = {}
    for kind in KINDS:
        drawn = out[kind]
        want = np.array(KIND_COLORS[kind][:3]) * 255
        # the icon is drawn in the kind's colour (the strokes cut out of it are the background)
        assert drawn["ink"] > 200 and np.abs(np.array(drawn["color"]) - want).max() < 20, (kind, drawn["color"])
        assert drawn["label_color"][:3] == pytest.approx(list(KIND_COLORS[kind][:3])) and drawn["text_visible"]
        masks[kind] = np.array(drawn["mask"], dtype=bool)
    # four shapes, not one shape in four colours
    for i, a in enumerate(KINDS):
        for b in KINDS[i + 1:]:
            inter = (masks[a] & masks[b]).sum()
            union = (masks[a] | masks[b]).sum()
            assert inter / union < 0.8, (a, b)
    # no text, nothing shown (its room kept: the screen does not jump when a message comes)
    assert out["empty"]["opacity"] == 0 and out["empty"]["height"] > 0
    # a long message wraps inside the line, which grows to hold it
    long = out["long"]
    assert long["label_width"] < long["width"] and long["texture_height"] > 2 * long["one_line_height"]
    assert long["height"] >= long["texture_height"]
    # the hand pictogram, as drawn (x in the drawing's units from its centre): a right hand lies palm down with its
    # thumb on the left, the left hand is its mirror image; a slap lights four fingers, a flat capture one
    right, left = out["right_slap"], out["left_slap"]
    assert right["white_left"] > 50 and right["white_right"] == 0
    assert left["white_right"] > 50 and left["white_left"] == 0
    assert right["accent_span"][0] < -40 and right["accent_span"][1] > 40  # index to little finger
    lo, hi = out["left_middle"]["accent_span"]
    assert hi - lo < 30 and lo > -5  # the left middle finger alone, right of centre (mirrored)
    lo, hi = out["right_index"]["accent_span"]
    assert hi - lo < 30 and hi < -20  # the right index finger alone, next to the thumb


# -- pure parts --------------------------------------------------------------------------------------------------
def test_quality_level_uses_the_engines_own_threshold():
    from kiosk._pictograms import quality_level

    # refused by the engine: poor, whatever the number
    assert quality_level(90, False, 25) == "poor"
    assert quality_level(30, True, 25) == "acceptable" and quality_level(49.9, True, 25) == "acceptable"
    assert quality_level(50, True, 25) == "good"
    # a high threshold: "good" from halfway to the scale's top
    assert quality_level(79, True, 60) == "acceptable" and quality_level(80, True, 60) == "good"
    assert quality_level(10, True, None) == "good"  # no threshold known: accepted is all we can say
    # the kiosk's engines carry biometrics' own acceptance threshold, not a number of the kiosk's
    pytest.importorskip("biometrics.finger")
    from biometrics.finger import PASS_SCORE
    from kiosk import build_engines

    assert build_engines(liveness="off").finger_threshold == PASS_SCORE


def test_document_kind_from_the_mrz_document_code():
    from emrtd import Mrz
    from kiosk._pictograms import document_kind

    def mrz(fmt, code):
        import datetime as dt

        return Mrz(fmt, code, "VNM", "NGUYEN", "VAN A", "C1234567", "VNM", dt.date(1990, 1, 1), "M",
                   dt.date(2035, 1, 1))

    assert document_kind(mrz("TD3", "P")) == "passport"
    assert document_kind(mrz("TD1", "ID")) == "id_card" and document_kind(mrz("TD1", "I")) == "id_card"
    assert document_kind(mrz("TD2", "AC")) == "border_pass" and document_kind(mrz("TD1", "C")) == "border_pass"
    assert document_kind(mrz("MRVA", "V")) == ""


def test_step_states():
    from kiosk._widgets import STEPS, step_states

    assert [name for name, _ in STEPS] == ["document", "consent", "chip", "face", "fingerprints", "review"]
    assert step_states("chip") == ["done", "done", "current", "todo", "todo", "todo"]
    assert step_states("language") == ["todo"] * 6
    assert step_states("done", "face", "abandoned") == ["done", "done", "done", "todo", "todo", "todo"]
    assert step_states("done", "review", "accepted") == ["done"] * 6


def test_catalogues_name_the_three_documents_and_show_no_raw_quality():
    from kiosk import Catalogues
    from kiosk.voice import NOT_SPOKEN

    cats = Catalogues()
    passport = {"en": "passport", "vi": "hộ chiếu", "zh": "护照"}
    others = {"en": ("ID card", "border pass"), "vi": ("thẻ căn cước", "giấy thông hành"), "zh": ("身份证", "边境通行证")}
    for lang, table in cats.texts.items():
        assert "finger.quality" not in table and not any("{score}" in v for v in table.values())
        for key, text in table.items():
            if key.split(".")[0] in ("document", "chip", "consent", "reason") and not key.startswith("document.kind."):
                # a document, chip, consent or reason text that names a passport names the two other documents too
                if passport[lang] in text.lower():
                    assert all(o.lower() in text.lower() for o in others[lang]), (lang, key, text)
        assert table["document.kind.passport"] and table["document.kind.id_card"] and table["document.kind.border_pass"]
        assert {table[f"finger.quality.{q}"] for q in ("good", "acceptable", "poor")}.__len__() == 3
    assert cats.texts["en"]["review.document_number"] == "Document number"
    assert "passport" in cats.texts["en"]["document.instructions"].lower()  # all three named where it matters
    assert "finger.quality" not in NOT_SPOKEN


# -- the kiosk walked by taps ------------------------------------------------------------------------------------
def _walk(tmp_path_factory, plan: str) -> dict:
    from tests.conftest import shared_path

    shared_path("faces", "lfw-dev")
    shared_path("fingerprints", "fvc2000_DB2")
    result = tmp_path_factory.mktemp(f"steps-{plan}") / "result.json"
    r = _run_headless("tests.kiosk.screens_driver", "--plan", plan, "--result", str(result),
                      "--shots", str(SHOTS / f"steps-{plan}"), timeout=300)
    assert result.exists(), r.stderr[-3000:]
    data = json.loads(result.read_text())
    assert data["ok"], (data.get("error"), data.get("traceback"), r.stderr[-2000:])
    return data


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    """Both hands' four-finger slaps (enrollment.SLAP_PLAN)."""
    return _walk(tmp_path_factory, "slap")


@pytest.fixture(scope="module")
def walk_flat(tmp_path_factory):
    """Four flat single fingers (enrollment.FLAT_PLAN: a flat scanner, as the libfprint kiosks have)."""
    return _walk(tmp_path_factory, "flat")


def _frames_follow_the_instruction(frames) -> None:
    """On every drawn frame the pictogram shows what the instruction says, in the frame's language, and, once
    a capture's result is shown, the workflow's current task (while a capture is being processed the screen
    still shows the task being captured)."""
    from kiosk import Catalogues
    from kiosk._pictograms import hand_of

    cats = Catalogues()
    assert frames
    for f in frames:
        key = f["instruction_key"]
        if key == "finger.flat":
            fingers = [int(f["finger_key"].rsplit(".", 1)[1])]
            text = cats.t(key, f["lang"], finger=cats.t(f["finger_key"], f["lang"]))
        else:
            fingers = [2, 3, 4, 5] if key == "finger.slap_right" else [7, 8, 9, 10]
            text = cats.t(key, f["lang"])
        assert (f["pictogram_hand"], f["pictogram_fingers"]) == (hand_of(fingers), fingers), f
        assert f["instruction"] == text, f
        if f["task"] is not None and not f["busy"]:
            assert f["pictogram_fingers"] == f["task"], f
        if f["last_scan_shown"]:  # the previous capture is labelled as such, with its own hand
            assert f["last_scan_title"] in (cats.t("finger.last_scan_right", f["lang"]),
                                            cats.t("finger.last_scan_left", f["lang"]))


def test_every_screen_but_the_language_screen_shows_the_steps(walk):
    from kiosk import Catalogues
    from kiosk._widgets import STEPS, step_states

    cats = Catalogues()
    screens = walk["screens"]
    assert not screens["language"]["indicator_shown"] and not screens["language"]["switch_shown"]
    assert {"document", "consent", "face", "fingerprints", "review"} <= set(screens)  # the chip's may be too quick
    for name in set(screens) - {"language", "done"}:
        seen = screens[name]
        assert seen["indicator_shown"] and seen["current"] == name, (name, seen)
        assert seen["states"] == step_states(name)
        assert seen["badge_numbers"] == ["1", "2", "3", "4", "5", "6"]
        assert seen["names"] == [cats.t(key, seen["lang"]) for _, key in STEPS]  # in the session's language
        assert seen["switch_shown"]
    # the outcome screen: the enrolment was kept (queued: no back office here), every step ticked
    assert screens["done"]["indicator_shown"] and screens["done"]["states"] == ["done"] * 6
    assert screens["done"]["current"] == ""


def test_language_switch_mid_session_keeps_the_session(walk):
    from kiosk import Catalogues
    from privacy import DEFAULT_POLICIES

    cats = Catalogues()
    sw = walk["switch_consent"]
    before = sw["before"]
    assert before["agree"] == cats.t("consent.agree", "zh")
    # same session, same step, the printed MRZ read before kept; the session, the texts and the voice in English
    assert sw["session"] == before["session"] and sw["step"] == before["step"] == "consent"
    assert sw["mrz"] == before["mrz"]
    assert sw["session_language"] == sw["app_lang"] == sw["voice_lang"] == "en"
    assert sw["consent_agree"] == cats.t("consent.agree", "en")
    assert sw["consent_retention"] == DEFAULT_POLICIES["enrolment_record"].describe("en")
    assert sw["spoken_after"][:2] == ["en/consent.title", "en/consent.chip_not_read"]
    # on the fingerprint screen too: same session and task, the instruction re-said in Vietnamese
    fp = walk["switch_fingerprints"]
    assert fp["session_same"] and fp["task_same"] and fp["step"] == "fingerprints"
    assert fp["instruction"] == cats.t("finger.slap_right", "vi")
    # the final screen's buttons change the language without starting a session
    assert walk["switch_done"] == {"step": "done", "session": False, "lang": "zh"}
    # large targets, each language's name in its own script's font
    assert walk["lang_button_height_dp"] >= 88
    assert all(h >= 88 for h in walk["screens"]["consent"]["switch_heights_dp"])
    fonts = walk["screens"]["consent"]["switch_fonts"]
    assert fonts["zh"] != fonts["vi"] and fonts["vi"] == fonts["en"]


def test_hand_pictogram_follows_the_instruction_on_every_frame(walk):
    from kiosk import Catalogues

    cats = Catalogues()
    first = walk["first_fingerprints"]
    # the first screen: the pictogram (right hand, four fingers), no empty box and no earlier print
    assert first["instruction_key"] == "finger.slap_right" and first["pictogram_hand"] == "right"
    assert first["pictogram_fingers"] == [2, 3, 4, 5] and first["hand_height"] > 100
    assert not first["last_scan_shown"]
    _frames_follow_the_instruction(walk["frames"])
    assert {f["instruction_key"] for f in walk["frames"]} == {"finger.slap_right", "finger.slap_left"}
    # after the right hand's capture: the left hand's instruction and pictogram at once, the print labelled
    right = next(c for c in walk["captures"] if c["task"] == [2, 3, 4, 5] and c["next_task"] == [7, 8, 9, 10])
    assert right["instruction_key"] == "finger.slap_left" and right["hand"] == "left"
    assert right["fingers"] == [7, 8, 9, 10]
    assert right["last_scan_title"] == cats.t("finger.last_scan_right", right["lang"])


def test_fingerprint_quality_in_words_and_bars_never_numbers(walk):
    from kiosk import Catalogues
    from kiosk._pictograms import QUALITY_LEVELS

    cats = Catalogues()
    assert walk["captures"]
    for c in walk["captures"]:
        # no label on the fingerprint screen shows a number (the step numbers aside)
        assert not [t for t in c["labels"] if any(ch.isdigit() for ch in t)], c["labels"]
        if c["qualities"]:
            assert [pos for pos, _ in c["qualities"]] == c["task"]
            assert all(level in QUALITY_LEVELS for _, level in c["qualities"])
            assert c["quality_words"] == [cats.t(f"finger.quality.{level}", c["lang"]) for _, level in c["qualities"]]


def test_status_line_kind_matches_the_message(walk):
    seen = walk["status"]
    assert seen
    for s in seen:
        assert s["kind"] == s["expected"], s
    kinds = {(s["key"], s["kind"]) for s in seen}
    assert ("document.reading", "progress") in kinds and ("document.read_ok", "success") in kinds
    assert ("finger.ok", "success") in kinds


def test_documents_pictured_and_named(walk):
    from kiosk import Catalogues

    cats = Catalogues()
    assert walk["document_pictures"] == [{"kind": k, "label": cats.t(f"document.kind.{k}", "zh")}
                                         for k in ("passport", "id_card", "border_pass")]
    # the simulated traveller has a passport (TD3, code P): the chip and review screens name it
    assert walk["chip_document_kind"] == "passport"
    pictured = walk["chip_pictured"]  # the chip screen shows that one, named, not the three
    assert pictured["shown"] and not pictured["all_three_shown"] and pictured["width"] > 200
    assert pictured["kind"] == "passport" and pictured["label"] == cats.t("document.kind.passport", pictured["lang"])
    review = walk["review"]
    assert review["document_kind"] == "passport"
    assert cats.t("review.document_number", review["lang"]) in review["number_text"]
    assert cats.t("document.kind.passport", review["lang"]) in review["number_text"]


def test_flat_fingers_one_at_a_time_with_the_finger_pictured(walk_flat):
    from kiosk import Catalogues

    cats = Catalogues()
    first = walk_flat["first_fingerprints"]
    assert first["instruction_key"] == "finger.flat" and first["pictogram_fingers"] == [2]
    assert first["pictogram_hand"] == "right" and not first["last_scan_shown"]
    _frames_follow_the_instruction(walk_flat["frames"])
    assert {tuple(f["pictogram_fingers"]) for f in walk_flat["frames"]} == {(2,), (3,), (7,), (8,)}
    # from the right middle finger to the left index finger: the left hand at once, the print labelled right
    turn = next(c for c in walk_flat["captures"] if c["task"] == [3] and c["next_task"] == [7])
    assert (turn["hand"], turn["fingers"]) == ("left", [7])
    assert turn["last_scan_title"] == cats.t("finger.last_scan_right", turn["lang"])
    for c in walk_flat["captures"]:
        assert not [t for t in c["labels"] if any(ch.isdigit() for ch in t)], c["labels"]
