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


def test_status_line_draws_a_distinct_icon_and_colour_per_kind():
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
