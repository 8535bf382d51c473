"""Benchmark: the enrolment kiosk - frame processing with quality feedback, the preview rate, screen
transitions, and the enrolment steps, with the simulated devices and the real engines.

Parts:
- ``frame_processing``: per preview frame, the face quality check (and the liveness observation)
  through the workflow, on 640x480-class simulated frames; ``max_fps`` = 1000 / median ms.
- ``ui`` (headless Kivy under Xvfb, in a child process): the preview rate shown on the face screen
  with quality feedback while the camera delivers 30 frames/s (target >= 15 frames/s), and the
  tap-to-screen latency of each transition of a whole enrolment (with the back office in-process).
  The camera plays decoded photos (frames cost nothing, like a webcam's); the rendered traveller
  costs ~30 ms of CPU per frame and is used in ``steps`` only. ``window_flip_ms_median`` is the
  buffer swap, which under Xvfb + llvmpipe bounds the UI frame rate on this machine.
- ``steps``: chip read, face capture to template, one slap (segmentation, quality, templates).
- ``liveness_first_try`` (headless Kivy under Xvfb, one child process per language, one after the other): genuine
  simulated travellers (``kiosk.sim.TravellerCamera``: a reaction time, a 150-360 ms blink, a head turn and back,
  per seed) through the real app and the real ``LivenessSession``, following what the face screen shows in that
  language; seeds 0..N-1 (the challenge sequence ``build_engines(seed=s)`` and the traveller's timings, sway and
  noise) x vi/zh/en. Reports the first-try pass rate (overall and per language, with n), the attempts, the time
  to pass (face screen shown -> liveness passed), the failure reasons, the preview rate during the challenge and
  the children's peak RSS. See ``tests/kiosk/liveness_driver.py``.
Every part reports its peak RSS.

Run: ``.venv/bin/python -m bench.kiosk [--frames 60] [--preview-s 6] [--parts ...] [--seeds 20] [--langs vi,zh,en]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._util import emit, peak_rss_mb, summary  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def _kiosk(sim, engines, **policy):
    """The kiosk a deployment builds (smartborder.compose.kiosk) on the simulator's devices; its outbox in
    memory, its policy with the bench's changes."""
    import dataclasses
    import tempfile

    from devicelink import Outbox
    from smartborder.compose.kiosk import KioskConfig, KioskDevices, build_kiosk

    work = Path(tempfile.mkdtemp(prefix="bench-kiosk-"))
    config = KioskConfig(trust_path=None, env="dev", data_dir=work / "data", key_dir=work / "keys")
    kiosk = build_kiosk(config, KioskDevices(sim.camera, sim.reader, sim.mrz_source, sim.scanner), trust=sim.trust,
                        engines=engines, outbox=Outbox())
    kiosk.workflow.policy = dataclasses.replace(kiosk.workflow.policy, **policy)
    return kiosk.workflow


def frame_processing(frames: int) -> dict:
    from enrollment import SLAP_PLAN, Step
    from kiosk import build_engines
    from kiosk.sim import build_sim

    out = {}
    for name, liveness in (("quality_only", "off"), ("quality_and_liveness", "auto")):
        sim = build_sim(fps=0, frame_size=(640, 480))
        engines = build_engines(liveness=liveness)
        wf = _kiosk(sim, engines, face_stable_frames=10**9, finger_plan=SLAP_PLAN[:1])
        wf.start("en")
        wf.read_document()
        wf.consent(True)
        wf.read_chip()  # consent first: the chip is read after it
        it = sim.camera.frames()
        wf.process_frame(next(it))  # warm-up: models load on first use
        samples = []
        for _, frame in zip(range(frames), it, strict=False):
            if wf.step is not Step.FACE:  # a failed liveness session can end the step: start again
                wf.reset()
                sim.present_document()
                wf.start("en")
                wf.read_document()
                wf.consent(True)
                wf.read_chip()
            t0 = time.perf_counter()
            wf.process_frame(frame)
            samples.append((time.perf_counter() - t0) * 1000)
        s = summary(samples)
        out[name] = {**s, "max_fps": round(1000 / s["median_ms"], 1), "engines": dict(engines.sources)}
        sim.close()
    return out


def steps() -> dict:
    """One headless enrolment (the simulated traveller follows the liveness instructions): time per step."""
    from enrollment import SLAP_PLAN, enrol_headless
    from kiosk import build_engines
    from kiosk.sim import build_sim

    sim = build_sim(fps=15)
    engines = build_engines()
    if not sim.follows_instructions:
        from kiosk.testing import with_head_movement_liveness

        engines = with_head_movement_liveness(engines)
    wf = _kiosk(sim, engines, finger_plan=SLAP_PLAN)
    marks = [("start", time.perf_counter())]
    wf.on_change = lambda step: marks.append((step.value, time.perf_counter()))
    result = enrol_headless(wf, sim.camera, sim.scanner, language="en")
    sim.close()
    durations = {f"{a}_ms": round((t2 - t1) * 1000, 1) for (a, t1), (_, t2) in zip(marks, marks[1:], strict=False)}
    return {"outcome": result.outcome.value, "face_frames": result.frames, "slap_captures": result.captures,
            "per_step": durations, "total_s": round(marks[-1][1] - marks[0][1], 2),
            "camera": "traveller" if sim.follows_instructions else "sequence", "engines": dict(engines.sources)}


def ui_child(out: Path, preview_s: float) -> None:
    """Inside Xvfb: the kiosk app with the autopilot (preview hold, then a whole enrolment)."""
    sys.path.insert(0, str(REPO))
    from tests.kiosk import flow_driver

    flow_driver.main(["--scenarios", f"preview:{preview_s},en", "--result", str(out), "--no-officer",
                      "--camera-fps", "30", "--camera", "sequence"])
    data = json.loads(out.read_text())
    data["peak_rss_mb"] = peak_rss_mb()
    out.write_text(json.dumps(data))


def ui(preview_s: float) -> dict:
    out = Path(tempfile.mkdtemp()) / "ui.json"
    env = {**os.environ, "KIVY_NO_ARGS": "1", "KIVY_NO_CONSOLELOG": "1", "KIVY_NO_FILELOG": "1"}
    cmd = [sys.executable, "-m", "bench.kiosk", "--ui-child", str(out), "--preview-s", str(preview_s)]
    if not os.environ.get("DISPLAY"):
        if shutil.which("xvfb-run") is None:
            return {"skipped": "no display and no xvfb-run"}
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", *cmd]
    subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, timeout=300)
    if not out.exists():
        return {"error": "the UI child produced no result"}
    data = json.loads(out.read_text())
    preview = data["runs"].get(f"preview:{preview_s}", {})
    frame_ms = preview.get("frame_ms") or []
    enrol = data["runs"].get("en", {})
    return {
        "ok": data.get("ok"), "error": data.get("error") or None,
        "camera_fps": 30, "preview_fps": preview.get("preview_fps"), "processed_fps": preview.get("processed_fps"),
        "ui_loop_fps": preview.get("ui_loop_fps"), "window_flip_ms_median": preview.get("flip_ms_median"),
        "preview_target_fps": 15, "preview_meets_target": (preview.get("preview_fps") or 0) >= 15,
        "frame_processing_in_app": summary(frame_ms) if frame_ms else None,
        "transition_ms": enrol.get("transition_ms"), "enrolment_s": enrol.get("seconds"),
        "outcome": enrol.get("outcome"), "engines": data.get("engines"), "peak_rss_mb": data.get("peak_rss_mb"),
    }


def _percentile(values: list[float], q: float) -> float | None:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))], 2) if s else None


def liveness_first_try(seeds: int, langs: list[str]) -> dict:
    """Genuine simulated travellers through the app in each language (a child process each, in turn)."""
    from collections import Counter

    env = {**os.environ, "KIVY_NO_ARGS": "1", "KIVY_NO_CONSOLELOG": "1", "KIVY_NO_FILELOG": "1"}
    work = Path(tempfile.mkdtemp(prefix="bench-liveness-"))
    sessions: list[dict] = []
    children: dict[str, dict] = {}
    for lang in langs:
        out = work / f"{lang}.json"
        cmd = [sys.executable, "-m", "tests.kiosk.liveness_driver", "--lang", lang, "--seeds", f"0-{seeds - 1}",
               "--result", str(out)]
        if not os.environ.get("DISPLAY"):
            if shutil.which("xvfb-run") is None:
                return {"skipped": "no display and no xvfb-run"}
            cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", *cmd]
        t0 = time.perf_counter()
        try:
            subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, timeout=60 + 45 * seeds)
        except subprocess.TimeoutExpired:
            children[lang] = {"error": "the child timed out"}
            continue
        if not out.exists():
            children[lang] = {"error": "the child produced no result"}
            continue
        data = json.loads(out.read_text())
        sessions += data.get("sessions", [])
        children[lang] = {"ok": data.get("ok"), "error": data.get("error") or None, "seconds": round(time.perf_counter() - t0, 1),
                          "peak_rss_mb": data.get("peak_rss_mb"), "frame_ms_median": data.get("frame_ms_median")}

    def rate(group: list[dict]) -> dict:
        first = sum(s["first_try"] for s in group)
        return {"first_try": first, "n": len(group), "rate": round(first / len(group), 3) if group else None}

    passed = [s for s in sessions if s["passed"]]
    first_times = [s["time_to_pass_s"] for s in sessions if s["first_try"]]
    all_times = [s["time_to_pass_s"] for s in passed]
    reasons = Counter(r for s in sessions for r in s["failure_reasons"])
    attempts = Counter(str(s["attempts"]) if s["passed"] else "not_passed" for s in sessions)
    fps = [s["preview_fps"] for s in sessions if s.get("preview_fps")]
    return {
        "seeds": seeds, "languages": langs, "first_try_rate": rate(sessions),
        # what the simulated traveller follows: the challenge the face screen shows (its key, in the session's
        # language on screen); the rate measures timing through the real app, not reading comprehension
        "traveller_follows": "the challenge shown on the face screen (its catalogue key)",
        "per_language": {lang: rate([s for s in sessions if s["lang"] == lang]) for lang in langs},
        # the target is met only over every language asked for: a child that failed counts against it
        "target_rate": 0.95, "complete": all(children.get(lang, {}).get("ok") for lang in langs)
        and len(sessions) == seeds * len(langs),
        "meets_target": bool(sessions) and len(sessions) == seeds * len(langs)
        and all(children.get(lang, {}).get("ok") for lang in langs) and rate(sessions)["rate"] >= 0.95,
        "passed_within_attempts": {"passed": len(passed), "n": len(sessions)},
        "attempts": dict(sorted(attempts.items())),
        "time_to_pass_s": {"first_try_median": _percentile(first_times, 0.5), "first_try_p95": _percentile(first_times, 0.95),
                           "all_median": _percentile(all_times, 0.5), "all_p95": _percentile(all_times, 0.95)},
        "failure_reasons": dict(reasons.most_common()),
        "failed_first_tries": [{"lang": s["lang"], "seed": s["seed"], "reasons": s["failure_reasons"],
                                "challenges": [a["challenges"] for a in s["per_attempt"]]}
                               for s in sessions if not s["first_try"]],
        "preview_fps_during_challenge": {"median": _percentile(fps, 0.5), "min": min(fps) if fps else None},
        "analysed_fps_median": _percentile([a["analysed_fps"] for s in sessions for a in s["per_attempt"]
                                            if a.get("analysed_fps")], 0.5),
        "children": children,
        "peak_rss_mb": max((c.get("peak_rss_mb") or 0 for c in children.values()), default=None),
    }


PARTS = ("frame_processing", "steps", "ui", "liveness_first_try")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--preview-s", type=float, default=6.0)
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    p.add_argument("--seeds", type=int, default=20, help="liveness_first_try: seeds 0..N-1 per language")
    p.add_argument("--langs", default="vi,zh,en", help="liveness_first_try: languages")
    p.add_argument("--ui-child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.ui_child:
        ui_child(Path(args.ui_child), args.preview_s)
        return
    parts = [x for x in args.parts.split(",") if x]
    unknown = set(parts) - set(PARTS)
    if unknown:
        p.error(f"unknown parts: {', '.join(sorted(unknown))}")
    result = {"load_average": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}
    if "frame_processing" in parts:
        result["frame_processing"] = frame_processing(args.frames)
    if "steps" in parts:
        result["steps"] = steps()
    if "ui" in parts:
        result["ui"] = ui(args.preview_s)
    if "liveness_first_try" in parts:
        result["liveness_first_try"] = liveness_first_try(args.seeds, args.langs.split(","))
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    emit("kiosk", result)


if __name__ == "__main__":
    main()
