"""The kiosk app headless under Xvfb: the whole flow by taps in each language (screenshots in
var/screenshots/), consent before the chip (declining leaves the chip unread), time-out and abandonment;
the consent notice's retention sentence from the retention policies; real glyphs for Chinese and
Vietnamese; catalogues."""

from __future__ import annotations

import json
import os
import re
import shutil
import string
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kiosk import LANGUAGES, Catalogues
from tests.conftest import REPO, shared_path
from tests.xdist_support import kivy_home, xvfb_run

KIVY_ENV = {"KIVY_NO_ARGS": "1", "KIVY_NO_CONSOLELOG": "1", "KIVY_NO_FILELOG": "1", "PYTHONDONTWRITEBYTECODE": "1"}
SHOTS = REPO / "var" / "screenshots"


def _run_headless(module: str, *args: str, timeout: float = 150) -> subprocess.CompletedProcess:
    env = {**os.environ, **KIVY_ENV, "KIVY_HOME": str(kivy_home())}
    cmd = [sys.executable, "-m", module, *args]
    if not os.environ.get("DISPLAY"):
        if shutil.which("xvfb-run") is None:
            pytest.skip("no display and no xvfb-run")
        cmd = xvfb_run(*cmd)
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def test_catalogues_are_complete_and_consistent():
    cats = Catalogues()
    assert cats.missing() == {}
    fields = string.Formatter()
    for key in cats.texts["en"]:
        wanted = {f for _, f, _, _ in fields.parse(cats.texts["en"][key]) if f}
        for lang in LANGUAGES:
            assert {f for _, f, _, _ in fields.parse(cats.texts[lang][key]) if f} == wanted, (lang, key)
    # every key the screens use exists
    used = set()
    for kv in (REPO / "kiosk" / "screens").glob("*.kv"):
        used |= set(re.findall(r"app\.t\('([a-z_]+\.[a-z_.0-9]*[a-z0-9])'", kv.read_text()))
    for py in (REPO / "kiosk").glob("*.py"):
        used |= set(re.findall(r'\.t\("([a-z_]+\.[a-z_0-9][a-z_.0-9]*[a-z0-9])"', py.read_text()))
    from enrollment import Outcome

    used |= {f"done.{o.value}" for o in Outcome}
    used |= {f"reason.{r}" for r in ("failure_to_acquire", "hardware_fault", "document_unreadable", "chip_read_failed",
                                     "document_expired", "chip_pa_failed", "chip_aa_failed", "chip_cloned", "timeout")}
    assert used and not used - set(cats.texts["en"])
    # an unknown guidance key falls back to its family's generic text, never to the raw key
    assert cats.t("face.some_new_measure", "zh") == cats.t("face.adjust", "zh")
    assert cats.t("review.fingers", "vi", n=4) == "Vân tay: đã lấy 4"


def test_biometric_guidance_keys_are_translated():
    face = pytest.importorskip("biometrics.face")
    cats = Catalogues()
    keys = [f"face.{k}" for k in getattr(face, "GUIDANCE", {})]
    keys += [f"liveness.{k}" for k in getattr(face, "INSTRUCTIONS", {})]
    assert keys
    for key in keys:
        for lang in LANGUAGES:
            assert key in cats.texts[lang], (lang, key)


def test_chinese_and_vietnamese_render_real_glyphs():
    r = _run_headless("tests.kiosk.glyph_driver", timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    stats = json.loads(r.stdout.strip().splitlines()[-1])
    # with the CJK font every Chinese character is its own glyph; with Kivy's default font all are
    # the same .notdef box ("tofu") - which is why the kiosk sets the font explicitly
    assert stats["zh:cjk"]["distinct"] == stats["zh:cjk"]["chars"] and stats["zh:cjk"]["tofu"] == 0
    assert stats["zh:latin"]["distinct"] == 1 and stats["zh:latin"]["tofu"] == stats["zh:latin"]["chars"]
    # Vietnamese letters with stacked diacritics are distinct real glyphs in the font the kiosk uses
    assert stats["vi:latin"]["distinct"] == stats["vi:latin"]["chars"] and stats["vi:latin"]["tofu"] == 0


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    shared_path("faces", "lfw-dev")
    shared_path("fingerprints", "fvc2000_DB2")
    result = tmp_path_factory.mktemp("kiosk") / "result.json"
    r = _run_headless("tests.kiosk.flow_driver", "--scenarios", "vi,zh,en,timeout,decline,abandon", "--shots", str(SHOTS),
                      "--result", str(result), timeout=240)
    assert result.exists(), r.stderr[-3000:]
    data = json.loads(result.read_text())
    assert data["ok"], (data.get("error"), data.get("traceback"), r.stderr[-2000:])
    return data


@pytest.mark.parametrize("lang", LANGUAGES)
def test_whole_flow_by_taps_in_each_language(flow, lang):
    run = flow["runs"][lang]
    # the runs enrol the same passport: the first is accepted, a re-enrolment of that document is held for an
    # officer (the back office's duplicate check, modality "document")
    expected = "accepted" if lang == flow["order"][0] else "duplicate_suspected"
    assert run["outcome"] == expected and run["backoffice_status"] == expected
    assert not run["session_left"]
    # the officer button reached the back office: the dialog said an officer is on the way only once it was accepted
    assert run["officer_call"] == "accepted"
    # consent first: the document screen read the printed MRZ only; the chip was read after consent
    screens = run["screens"]
    assert screens[:5] == ["document", "consent", "chip", "face", "fingerprints"], screens
    at_consent = run["at_consent"]
    assert at_consent["printed_mrz"] and not at_consent["chip_read"] and at_consent["apdus"] == 0
    # the retention sentence shown is the retention policy's own, in the traveller's language
    from privacy import DEFAULT_POLICIES

    assert at_consent["lang"] == lang
    assert at_consent["retention_text"] == DEFAULT_POLICIES["enrolment_record"].describe(lang)
    names = [Path(p).stem for p in run["shots"] if Path(p).stem != "04-chip"]  # a simulated chip answers in ms
    assert names == ["01-language", "02-document", "03-consent", "05-face", "06-fingerprints",
                     "07-fingerprint-feedback", "08-review", "09-officer", "10-done"]
    for p in run["shots"]:
        im = np.asarray(Image.open(p).convert("RGB"))
        assert im.shape == (800, 1280, 3) and im.std() > 10  # a drawn screen, not a blank frame
    # the three languages draw different text on the same screen
    consent = {lang_: np.asarray(Image.open(SHOTS / lang_ / "03-consent.png").convert("L"), dtype=np.int16)
               for lang_ in LANGUAGES}
    others = [other for other in LANGUAGES if other != lang]
    assert all(np.abs(consent[lang] - consent[o]).mean() > 1.0 for o in others)


def test_flow_leaves_nothing_behind_and_times_out(flow):
    # every record delivered (and shredded); one event per session waits for the next flush; nothing refused
    assert flow["outbox_pending"] == ["event"] * 6 and flow["outbox_parked"] == []
    assert flow["runs"]["timeout"]["had_session"] and flow["runs"]["timeout"]["outcome"] == "timed_out"
    timeout = flow["runs"]["timeout"]
    # issue #20 item 6: no idle time-out while the consent text is open (the traveller reads), however long
    assert timeout["consent_paused"] == {"screen": "consent", "overlay": False, "idle_left": None, "session": True}
    assert timeout["at_consent"]["apdus"] == 0  # the chip is read only after the traveller agreed
    # the countdown overlay ("are you still there?") appeared and counted down; "I'm still here" kept the session
    assert timeout["warned"]
    still = timeout["still_here"]
    assert still["session"] and still["step"] == "fingerprints" and not still["overlay"]

    def counts_down(seconds):
        return len(seconds) >= 2 and all(a > b for a, b in zip(seconds, seconds[1:], strict=False))

    assert still["countdown"] and counts_down(still["countdown"][-1])
    # walking away for good: the countdown again, down to the wipe, and the overlay gone with the session
    assert timeout["countdown"] and counts_down(timeout["countdown"][-1]) and timeout["countdown"][-1][-1] <= 2
    assert not timeout["session_left"] and not timeout["overlay_left"]
    assert flow["runs"]["abandon"]["outcome"] == "abandoned" and not flow["runs"]["abandon"]["session_left"]
    assert not flow["session_left"] and flow["device_errors"] == []


def test_declining_consent_by_tap_reads_no_chip_and_keeps_nothing(flow):
    run = flow["runs"]["decline"]
    assert run["at_consent"]["printed_mrz"] and not run["at_consent"]["chip_read"]
    assert run["outcome"] == "abandoned" and run["reason_code"] == "consent_refused"
    assert run["apdus"] == 0 and not run["session_left"] and not run["mrz_left"]
    assert run["screens"][:3] == ["document", "consent", "done"]


def test_screens_have_large_targets_and_high_contrast(flow):
    # the language screen: the yellow buttons (>= 96 px tall) carry black text; contrast ratio >= 7:1
    im = np.asarray(Image.open(SHOTS / "vi" / "01-language.png").convert("RGB"), dtype=np.float64)
    yellow = (im[..., 0] > 230) & (im[..., 1] > 190) & (im[..., 2] < 40)
    rows = np.nonzero(yellow.mean(axis=1) > 0.5)[0]
    runs = np.split(rows, np.nonzero(np.diff(rows) > 1)[0] + 1)
    assert len(runs) == 3 and min(len(r) for r in runs) >= 96

    def luminance(rgb):
        c = np.asarray(rgb) / 255
        c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    ratio = (luminance((255, 214, 0)) + 0.05) / (luminance((0, 0, 0)) + 0.05)
    assert ratio >= 7


def test_cli_kiosk_run_is_wired():
    from click.testing import CliRunner

    from smartborder.cli import main

    r = CliRunner().invoke(main, ["kiosk", "run", "--help"])
    assert r.exit_code == 0 and "--sim" in r.output and "--lang" in r.output and "--fullscreen" in r.output


def test_simulated_traveller_passes_the_real_liveness_check(tmp_path):
    """The rendered traveller follows each instruction (blink, turn) and passes biometrics' liveness."""
    face = pytest.importorskip("biometrics.face")
    if not hasattr(face, "LivenessSession"):
        pytest.skip("biometrics.face has no LivenessSession")
    shared_path("faces", "lfw-dev")

    from devicelink import Outbox
    from enrollment import SLAP_PLAN, EnrolmentWorkflow, Policy, Step
    from kiosk import build_engines
    from kiosk.sim import build_sim

    sim = build_sim(fps=15, camera="traveller")
    engines = build_engines(liveness="auto")
    assert engines.sources["liveness"] == "biometrics"
    wf = EnrolmentWorkflow(engines, Outbox(), reader=sim.reader,
                           mrz_source=sim.mrz_source, trust=sim.trust, policy=Policy(finger_plan=SLAP_PLAN[:1]))
    wf.start("en")
    assert wf.read_document().ok
    wf.consent(True)
    assert wf.read_chip().ok
    challenges = []
    for _, frame in zip(range(200), sim.camera.frames(), strict=False):
        fb = wf.process_frame(frame)
        if fb.challenge:
            challenges.append(fb.challenge)
        sim.camera.follow(fb.challenge)
        if wf.step is not Step.FACE:
            break
    assert wf.step is Step.FINGERPRINTS, fb
    assert wf.session.liveness_passed
    template = face.FaceTemplate.from_bytes(bytes(wf.session.face_template))  # the whole template, both parts
    assert template.sface is not None and template.version == 3
    assert {"liveness.blink"} <= set(challenges) and set(challenges) & {"liveness.turn_left", "liveness.turn_right"}
    sim.close()
