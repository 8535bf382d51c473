"""Referral screens (issue #20 item 6), headless under Xvfb, on the kiosk its composition builds (settings ->
kiosk_config -> build_kiosk -> kiosk_app): an expired passport is referred; the screen says why in the
traveller's words, where to go (the kiosk's [kiosk] officer_directions, else the catalogue's generic direction)
and to take the document back (a pictogram), and stays past done_return_s until touched or the next traveller
places a document. Screenshots: var/screenshots/<lang>/referral.png. Also the presence probe the screen uses."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import reasons
from kiosk import LANGUAGES, Catalogues
from tests.conftest import shared_path
from tests.kiosk.referral_driver import DIRECTIONS
from tests.kiosk.test_kiosk import SHOTS, _run_headless

LEFT_BY = {"vi": "next", "zh": "tap", "en": "finish"}


def _drive(tmp_path, *args: str) -> dict:
    shared_path("faces", "lfw-dev")
    shared_path("fingerprints", "fvc2000_DB2")
    result = tmp_path / "result.json"
    r = _run_headless("tests.kiosk.referral_driver", "--result", str(result), *args, timeout=180)
    assert result.exists(), r.stderr[-3000:]
    data = json.loads(result.read_text())
    assert data["ok"], (data.get("error"), data.get("traceback"), r.stderr[-2000:])
    return data


@pytest.fixture(scope="module")
def configured(tmp_path_factory):
    return _drive(tmp_path_factory.mktemp("referral"), "--shots", str(SHOTS))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_referral_screen_says_why_where_to_go_and_to_take_the_document(configured, lang):
    cats = Catalogues()
    run = configured["runs"][f"referral:{lang}"]
    assert configured["configured"] == DIRECTIONS  # the setting went through the composition to the app
    assert run["outcome"] == "referred" and run["reason"] == "document_expired" and run["referral"]
    assert run["kind"] == "failure" and run["lang"] == lang
    assert run["message"] == cats.t("done.referred", lang)
    assert run["reason_text"] == reasons.traveller_text("document_expired", lang, where="")
    assert run["where_shown"] and run["directions"] == DIRECTIONS[lang]
    assert run["take_document"] and run["reminder_text"] == cats.t("done.take_document", lang)
    # it stays: longer than an accepted screen does, and after the passport was taken (the reminder gone)
    assert run["stayed"] and run["waited_s"] > run["done_return_s"]
    assert run["after_taken"] == {"screen": "done", "take_document": False}
    # then it was left as the traveller chose: the next traveller's document, a tap, or Finish
    assert run["left_by"] == LEFT_BY[lang] and run["screens"] == ["document", "done", "language"]
    # refused on the printed page: nothing kept, the chip never asked
    assert not run["session_left"] and run["apdus"] == 0
    if configured["voice_available"]:  # spoken: outcome, reason, follow the directions shown, take the document
        said = [s for s in run["spoken"] if s.startswith(f"{lang}/done.") or s.startswith(f"{lang}/reason.")]
        assert said == [f"{lang}/done.referred", f"{lang}/reason.document_expired", f"{lang}/done.where_follow",
                        f"{lang}/done.take_document"], run["spoken"]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_referral_screenshots_show_the_reminder_until_the_document_is_taken(configured, lang):
    shot, taken = SHOTS / lang / "referral.png", SHOTS / lang / "referral-taken.png"
    assert {str(shot), str(taken)} <= set(configured["runs"][f"referral:{lang}"]["shots"])
    a = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    b = np.asarray(Image.open(taken).convert("RGB"), dtype=np.int16)
    assert a.shape == (800, 1280, 3) and a.std() > 10
    # the reminder band (the pictogram and its text) is drawn, then gone; the text above it is unchanged
    changed = np.abs(a - b).sum(axis=2) > 60
    rows = np.nonzero(changed.any(axis=1))[0]
    assert rows.size and changed.sum() > 2000
    # the pictogram: the passport cover's red and the hand's skin tone, left of the reminder text
    cover = (a[..., 0] > 130) & (a[..., 1] < 50) & (a[..., 2] < 70)
    skin = (a[..., 0] > 220) & (abs(a[..., 1] - 199) < 20) & (abs(a[..., 2] - 158) < 25)
    assert cover[:, :320].sum() > 500 and skin[:, :320].sum() > 200
    assert not (((b[..., 0] > 130) & (b[..., 1] < 50) & (b[..., 2] < 70))[:, :320].sum() > 100)


def test_other_final_screens_return_by_themselves_once_the_document_is_taken(configured):
    """Consent declined (abandoned, no referral): after done_return_s the screen still waits while the reader says
    the passport lies there (the reminder up), then returns to the start by itself once it is taken (no tap)."""
    run = configured["runs"]["return"]
    assert run["outcome"] == "abandoned" and not run["referral"] and run["kind"] == "warning"
    assert run["stayed_with_document"] and run["returned_by_itself"]
    assert run["screens"] == ["document", "consent", "done", "language"]


def test_a_document_the_reader_never_saw_is_not_taken_for_gone(tmp_path):
    """Only its printed page was read (chip-less, or its chip never found): the reader's "absent" is no evidence that
    the traveller took it, so the reminder and the final screen stay until touched."""
    run = _drive(tmp_path, "--scenarios", "unseen")["runs"]["unseen"]
    assert run["outcome"] == "abandoned" and run["reader_present"] is False
    assert run["stayed"] and run["reminder"]
    assert run["screens"] == ["document", "consent", "done", "language"]


def test_without_directions_the_screen_gives_the_generic_one(tmp_path):
    data = _drive(tmp_path, "--no-directions", "--scenarios", "referral:vi:finish,referral:en:next")
    cats = Catalogues()
    assert data["configured"] is None
    for lang, leave in (("vi", "finish"), ("en", "next")):
        run = data["runs"][f"referral:{lang}:{leave}"]
        assert run["left_by"] == leave and run["stayed"] and run["directions"] == cats.t("done.where_generic", lang)
        if data["voice_available"]:
            assert f"{lang}/done.where_generic" in run["spoken"] and f"{lang}/done.where_follow" not in run["spoken"]


def test_document_presence_from_what_the_devices_can_tell():
    from devices.ports import ReaderError
    from devices.sim import FixedMrzSource, SimulatedReader
    from kiosk._referral import REFERRAL_OUTCOMES, document_present, done_kind

    reader = SimulatedReader()
    assert document_present(reader) is False
    reader.present(object())
    assert document_present(reader) is True
    reader.remove()

    class Broken:
        @property
        def card_present(self):
            raise ReaderError("gone")

    # a reader that cannot answer cannot tell; the page scanner is never asked (it would read the traveller's
    # printed data again, after a refused consent too)
    class Pages(FixedMrzSource):
        reads = 0

        def read_mrz(self):
            Pages.reads += 1
            return super().read_mrz()

    pages = Pages()
    pages.place("P<VNM" + "<" * 39 + "C1234567<0VNM8503148M3412315<<<<<<<<<<<<<<06")
    assert document_present(Broken(), pages) is None and Pages.reads == 0
    assert document_present(Broken()) is None and document_present(None) is None
    assert document_present(reader, pages) is False and Pages.reads == 0
    # the outcomes that send a traveller to an officer, and how each final screen is styled
    assert REFERRAL_OUTCOMES == {"referred", "duplicate_suspected", "parked"}
    assert {o: done_kind(o) for o in ("accepted", "queued", "referred", "parked", "duplicate_suspected",
                                      "abandoned", "timed_out")} == {
        "accepted": "success", "queued": "success", "referred": "failure", "parked": "failure",
        "duplicate_suspected": "failure", "abandoned": "warning", "timed_out": "warning"}
