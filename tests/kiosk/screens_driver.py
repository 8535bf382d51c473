"""Walk the kiosk by taps with simulated devices, both hands' slaps, and report what each screen showed (a
subprocess of tests/kiosk/test_kiosk_screens_steps.py: Kivy runs one app per process). Writes JSON.

    python -m tests.kiosk.screens_driver --result FILE [--shots DIR]

Recorded: the step indicator on every screen; the status line's kind beside its message on the document
screen; a language switch from the top bar on the consent screen and on the fingerprint screen (session id,
step, what was read, the texts, the voice); on every drawn frame of the fingerprint screen, the instruction
and the hand pictogram side by side; every label's text there; the document's kind on the chip and review
screens; a language switch on the final screen (it must not start a session).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path


def labels_of(widget) -> list:
    from kivy.uix.label import Label

    return [w for w in widget.walk(restrict=True) if isinstance(w, Label)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--result", required=True)
    p.add_argument("--shots", default=None)
    p.add_argument("--plan", default="slap", choices=["slap", "flat"])
    args = p.parse_args(argv)
    from kiosk import build_engines, configure_kivy
    from kiosk.sim import build_sim

    configure_kivy(width=1280, height=800)
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.metrics import dp

    from devicelink import Outbox
    from enrollment import FLAT_PLAN, SLAP_PLAN, EnrolmentWorkflow, Policy, Step
    from kiosk import create_app
    from kiosk._pictograms import HandPictogram
    from kiosk._widgets import StepBadge, StepIndicator, message_kind
    from kiosk.sim._autopilot import tap
    from kiosk.testing import with_head_movement_liveness

    flat = args.plan == "flat"  # a flat single-finger scanner, as the libfprint kiosks have
    sim = build_sim(place_document=False, fps=15.0, camera="sequence", slap=not flat)
    engines = with_head_movement_liveness(build_engines())
    workflow = EnrolmentWorkflow(engines, Outbox(), None, reader=sim.reader, mrz_source=sim.mrz_source,
                                 trust=sim.trust, policy=Policy(card_timeout_s=5, finger_plan=FLAT_PLAN if flat else SLAP_PLAN))
    app = create_app(workflow, camera=sim.camera, scanner=sim.scanner, sim=sim, default_lang="vi")
    out: dict = {"ok": False, "screens": {}, "frames": [], "status": [], "error": ""}
    shots = Path(args.shots) if args.shots else None

    def shot(name: str) -> None:
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            made = Window.screenshot(name=str(shots / f"{name}.png"))
            if made:
                Path(made).replace(shots / f"{name}.png")

    def screen():
        return app.screen(app.current_screen)

    def topbar_of(name: str):
        return next(w for w in app.screen(name).walk(restrict=True) if isinstance(w, StepIndicator))

    def lang_button(name: str, lang: str):
        bar = topbar_of(name).parent
        return bar.ids.languages.ids[lang]

    def record_screen() -> None:
        """The step indicator and the language switch as the traveller sees them on the current screen."""
        name = app.current_screen
        steps = topbar_of(name)
        switch = topbar_of(name).parent.ids.languages
        out["screens"][name] = {
            "indicator_shown": steps.opacity == 1 and steps.height > 0,
            "current": steps.current, "states": list(steps.states),
            "names": [n.text for n in steps.names], "lang": app.lang,
            "badge_numbers": [b.text for b in steps.badges],
            "switch_shown": switch.opacity == 1 and switch.width > 0 and not switch.disabled,
            "switch_heights_dp": [b.height / dp(1) for b in switch.ids.values()],
            "switch_fonts": {k: b.font_name for k, b in switch.ids.items()},
        }

    def still() -> bool:
        return not app.sm.transition.is_active

    def on(name: str):
        def cond() -> bool:
            return app.current_screen == name and still()
        cond.__name__ = f"screen {name}"
        return cond

    def every_frame(_dt) -> None:
        """On every frame: the fingerprint screen's instruction beside its pictogram, the document screen's
        status line beside its message."""
        name = app.current_screen
        if name not in out["screens"] and still() and name in ("chip", "face"):
            record_screen()  # the screens the walk does not stop on
        if name == "fingerprints":
            fp = app.screen("fingerprints")
            pic = fp.ids.hand
            assert isinstance(pic, HandPictogram)
            out["frames"].append({"instruction": fp.ids.instruction.text, "instruction_key": fp.instruction_key,
                                  "finger_key": fp.finger_key, "pictogram_hand": pic.hand,
                                  "pictogram_fingers": list(pic.highlighted), "lang": app.lang,
                                  "task": list(workflow.finger_task.positions) if workflow.finger_task else None,
                                  "busy": app.busy,
                                  "last_scan_shown": fp.ids.last_scan.opacity == 1,
                                  "last_scan_title": fp.ids.last_scan_title.text,
                                  "platen_height": fp.ids.platen.height, "hand_height": pic.height})
        for name in ("document", "chip", "fingerprints", "review"):  # also while fading out
            s = app.screen(name)
            line = s.ids.get("status") or s.ids.get("feedback") or s.ids.get("submitting")
            key = getattr(s, "message_key", None)
            if key is None and name == "fingerprints":
                key = s.feedback_keys[0] if s.feedback_keys else ""
            if key is None:
                key = "review.submitting" if s.submitting else ""
            if line.text:
                final = not getattr(s, "can_retry", True) if name in ("document", "chip") else False
                seen = {"screen": name, "key": key, "kind": line.kind, "text": line.text,
                        "expected": message_kind(key, final=final) if key else None}
                if seen not in out["status"]:
                    out["status"].append(seen)

    def walk():
        yield on("language")
        record_screen()
        shot("01-language")
        tap(app.screen("language").ids.zh)
        yield on("document")
        record_screen()
        doc = app.screen("document")
        out["document_pictures"] = [{"kind": c.kind, "label": labels_of(c)[0].text}
                                    for c in (doc.ids.passport, doc.ids.id_card, doc.ids.border_pass)]
        yield lambda: app.current_screen != "document" or doc.message_key == "document.read_ok"
        shot("02-document")
        yield on("consent")
        record_screen()
        # the language switch mid-session, on the consent screen: same session, same step, the MRZ kept
        s = workflow.session
        before = {"session": s.id, "step": workflow.step.value, "mrz": s.printed_mrz.document_number,
                  "agree": app.screen("consent").ids.agree.text}
        said = len(app.spoken)
        button = lang_button("consent", "en")
        out["lang_button_height_dp"] = button.height / dp(1)
        tap(button)
        yield lambda: app.lang == "en" and len(app.spoken) > said
        s2 = workflow.session
        out["switch_consent"] = {
            "before": before, "session": s2.id if s2 else None, "step": workflow.step.value,
            "session_language": s2.language if s2 else None, "app_lang": app.lang, "voice_lang": app.voice.lang,
            "mrz": s2.printed_mrz.document_number if s2 and s2.printed_mrz else None,
            "spoken_after": app.spoken[said:], "consent_retention": app.screen("consent").ids.retention.text,
            "consent_agree": app.screen("consent").ids.agree.text}
        record_screen()
        tap(app.screen("consent").ids.agree)
        yield lambda: app.current_screen in ("fingerprints", "review", "done") and still()
        chip = app.screen("chip")
        out["chip_document_kind"] = chip.document_kind
        out["chip_pictured"] = {"kind": chip.ids.known.kind, "shown": chip.ids.known.opacity == 1,
                                "width": chip.ids.known.width, "label": labels_of(chip.ids.known)[0].text,
                                "all_three_shown": chip.ids.all_kinds.opacity == 1, "lang": app.lang}
        # fingerprints: the right hand first, then the left
        yield on("fingerprints")
        record_screen()
        fp = app.screen("fingerprints")
        out["first_fingerprints"] = dict(out["frames"][-1]) if out["frames"] else None
        shot("06-fingerprints")
        # switch to Vietnamese mid-capture: same session and task, the instruction in Vietnamese
        sid, task = workflow.session.id, list(workflow.finger_task.positions)
        tap(lang_button("fingerprints", "vi"))
        yield lambda: app.lang == "vi"
        yield lambda: fp.ids.instruction.text == fp.instruction_text("vi")
        out["switch_fingerprints"] = {"session_same": workflow.session.id == sid, "step": workflow.step.value,
                                      "task_same": list(workflow.finger_task.positions) == task,
                                      "instruction": fp.ids.instruction.text}
        captures = []
        while workflow.step is Step.FINGERPRINTS:
            yield lambda: not app.busy and still()
            if workflow.step is not Step.FINGERPRINTS:
                break
            task = list(workflow.finger_task.positions)
            tap(fp.ids.scan)
            yield lambda: app.busy
            yield lambda: not app.busy
            yield lambda: fp.feedback_keys or workflow.step is not Step.FINGERPRINTS
            labels = [w.text for w in labels_of(fp) if not isinstance(w, StepBadge)]
            captures.append({"task": task, "qualities": [list(q) for q in fp.qualities],
                             "quality_words": [w.text for item in fp.ids.qualities.children
                                               for w in labels_of(item)[1:]],
                             "feedback_keys": list(fp.feedback_keys), "feedback_kind": fp.ids.feedback.kind,
                             "labels": labels, "next_task": list(workflow.finger_task.positions)
                             if workflow.finger_task else None,
                             "instruction_key": fp.instruction_key, "hand": fp.ids.hand.hand,
                             "fingers": list(fp.ids.hand.highlighted), "last_scan_title": fp.ids.last_scan_title.text,
                             "lang": app.lang})
            if len(captures) == 1:
                shot("07-fingerprint-feedback")
            if len(captures) > 8:
                raise RuntimeError("too many fingerprint captures")
        out["captures"] = captures
        yield on("review")
        record_screen()
        review = app.screen("review")
        out["review"] = {"document_kind": review.document_kind, "number_text": review.ids.document_number.text,
                         "lang": app.lang}
        shot("08-review")
        tap(review.ids.confirm)
        yield on("done")
        yield lambda: app.screen("done").outcome != ""
        record_screen()
        shot("10-done")
        # the final screen: a language button changes the texts, never starts a session
        tap(lang_button("done", "zh"))
        yield lambda: app.lang == "zh"
        out["switch_done"] = {"step": workflow.step.value, "session": workflow.session is not None,
                              "lang": app.lang}
        out["ok"] = True

    gen = walk()
    state = {"wait": None, "deadline": 0.0}

    def step(_dt) -> None:
        try:
            wait = state["wait"]
            if wait is not None and not wait():
                if time.monotonic() > state["deadline"]:
                    raise TimeoutError(f"on screen {app.current_screen}: {getattr(wait, '__name__', 'condition')}")
                return
            state["wait"] = next(gen)
            state["deadline"] = time.monotonic() + 60
        except StopIteration:
            finish()
        except Exception as e:  # noqa: BLE001 - reported in the result
            out["error"] = f"{type(e).__name__}: {e}"
            out["traceback"] = traceback.format_exc(limit=8)
            finish()

    def finish() -> None:
        ev.cancel()
        frames.cancel()
        Path(args.result).write_text(json.dumps(out, indent=1, ensure_ascii=False))
        app.stop()

    ev = Clock.schedule_interval(step, 0)
    frames = Clock.schedule_interval(every_frame, 0)
    app.run()
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
