"""The kiosk's referral screen (kiosk/screens/done.kv) tells the traveller the reason in the catalogue's words.

Static: the kv rule's expression is evaluated here with the catalogue, for every code and language, so the
test needs no window (the whole kiosk flow runs under Xvfb in tests/kiosk)."""

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

import reasons

DONE_KV = Path(__file__).resolve().parents[2] / "kiosk" / "screens" / "done.kv"


def _reason_expression() -> str:
    kv = DONE_KV.read_text(encoding="utf-8")
    assert re.search(r"^#:import traveller_text reasons\.traveller_text$", kv, re.M)
    m = re.search(r"id: reason\n(?:\s*#.*\n)*\s*text: (.+)\n", kv)
    assert m, "the referral screen's reason label"
    return m[1]


@pytest.mark.parametrize("lang", reasons.LANGUAGES)
def test_the_referral_screen_shows_the_catalogues_traveller_text(lang):
    expr = _reason_expression()
    for code in reasons.CODES:
        root, app = SimpleNamespace(reason=code), SimpleNamespace(lang=lang)
        shown = eval(expr, {"traveller_text": reasons.traveller_text, "root": root, "app": app})  # noqa: S307
        # the sentence alone: the screen shows where to go beside it (the kiosk's configured directions)
        assert shown == reasons.traveller_text(code, lang, where="") and shown
    # not referred: nothing under the title
    assert eval(expr, {"traveller_text": reasons.traveller_text, "root": SimpleNamespace(reason=""),  # noqa: S307
                       "app": SimpleNamespace(lang=lang)}) == ""


@pytest.mark.parametrize("lang", reasons.LANGUAGES)
def test_where_replaces_the_generic_desk(lang):
    """A site's own directions replace "the staffed desk beside the gates"; "" leaves the sentence alone."""
    for code in reasons.CODES:
        generic, alone = reasons.traveller_text(code, lang), reasons.traveller_text(code, lang, where="")
        assert alone and len(alone) < len(generic)
        assert reasons.traveller_text(code, lang, where="Counter 3, on your left.").endswith("Counter 3, on your left.")
        assert reasons.traveller_text(code, lang, where="Counter 3.").startswith(alone)
    # the reason a traveller must not be told stays neutral without the desk too
    assert reasons.traveller_text("watchlist_hit", lang, where="") == reasons.traveller_text("chip_cloned", lang, where="")
