"""First-try liveness of genuine simulated travellers through the real kiosk app (a subprocess: Kivy runs one
app per process). Writes a JSON result.

    python -m tests.kiosk.liveness_driver --lang zh --seeds 0-19 --result FILE
    python -m tests.kiosk.liveness_driver --lang en --guidance --result FILE   # what the face screen shows

Each session: the traveller taps the language, places the passport, agrees, and on the face screen follows what
the screen shows (``FaceScreen._refresh`` hands the shown challenge to ``TravellerCamera.follow``), in the
language chosen, until liveness passes or the attempts run out; then cancels. Seed ``s``: the challenges come
from ``build_engines(seed=s)`` (the sequence ``s, s+1, ...`` for retries), the traveller from
``TravellerCamera.reseed(s)`` (reaction, blink and turn timing, sway, sensor noise).

``--guidance``: one session whose first attempt the traveller ignores (a frozen face, no blink, no turn), then
follows; records, during each challenge, the pictogram and the countdown the face screen shows, and the retry
message after the failed attempt.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from kiosk import build_engines, configure_kivy
from kiosk.sim import build_sim

_DIAG = False
_POSES: dict = {}


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


class _Recording:
    """Wraps a liveness adapter: the frames it analysed (their camera times) and its verdict."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.times: list[float] = []
        self.verdict: bool | None = None
        self.created = time.monotonic()

    @property
    def challenge(self) -> str:
        return self.inner.challenge

    @property
    def reason(self):
        return self.inner.reason

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def observe(self, frame, t=None):
        self.times.append(time.monotonic() if t is None else float(t))
        if _DIAG:
            self._frame_id = id(frame)
            self._diag(frame)
        self.verdict = self.inner.observe(frame, t)
        return self.verdict

    def _diag(self, frame) -> None:
        session = getattr(self.inner, "session", None)
        if session is None or getattr(session, "_diag_wrapped", False):
            return
        session._diag_wrapped = True
        self.trace = []
        observe = session._observe

        def traced(rgb, face, t):
            import numpy as np

            pose = _POSES.get(self._frame_id)
            lvl = float(np.percentile(session._eyes, 80)) if session._eyes else None
            self.trace.append((round(t - self.times[0], 3), round(face.eye_opening_face, 4), round(face.pose.yaw, 1),
                               round(lvl, 4) if lvl else None, pose))
            return observe(rgb, face, t)

        session._observe = traced

    def summary(self) -> dict:
        gaps = [b - a for a, b in zip(self.times, self.times[1:], strict=False)]
        session = getattr(self.inner, "session", None)
        outcomes = [{"kind": o.kind, "passed": o.passed, "reason": o.reason,
                     "s": round(o.done_t - o.started_t, 2) if o.done_t and o.started_t is not None else None}
                    for o in getattr(session, "outcomes", [])]
        return {"challenges": [c.kind for c in getattr(session, "challenges", [])], "passed": self.verdict,
                "reason": self.inner.reason, "frames": len(self.times),
                "analysed_fps": round((len(self.times) - 1) / (self.times[-1] - self.times[0]), 1)
                if len(self.times) > 1 and self.times[-1] > self.times[0] else None,
                "max_gap_s": round(max(gaps), 3) if gaps else None, "outcomes": outcomes,
                **({"trace": getattr(self, "trace", None)} if _DIAG else {})}


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--lang", default="en")
    p.add_argument("--seeds", default="0-19")
    p.add_argument("--result", required=True)
    p.add_argument("--camera-fps", type=float, default=15.0)
    p.add_argument("--guidance", action="store_true", help="one session, the first attempt ignored")
    p.add_argument("--shots", default=None, help="--guidance: screenshots of the face screen here")
    p.add_argument("--liveness-batch", type=int, default=None, help=argparse.SUPPRESS)  # experiments
    p.add_argument("--no-animation", action="store_true", help=argparse.SUPPRESS)  # experiments
    p.add_argument("--diag", action="store_true", help="record per analysed frame the eye opening and yaw")
    args = p.parse_args(argv)
    global _DIAG
    _DIAG = args.diag
    configure_kivy(width=1280, height=800)
    from devicelink import Outbox
    from enrollment import SLAP_PLAN, EnrolmentWorkflow, Policy, Step
    from kiosk import create_app
    from kiosk.sim._autopilot import Autopilot

    if args.liveness_batch is not None:
        from kiosk._screens import FaceScreen

        FaceScreen.LIVENESS_BATCH = args.liveness_batch
    if args.no_animation:
        from kiosk._liveness_guide import LivenessPictogram

        LivenessPictogram.FPS = 0.5

    sim = build_sim(place_document=False, fps=args.camera_fps, camera="traveller")
    if _DIAG:
        frames = sim.camera.frames

        def posed():
            for f in frames():
                if len(_POSES) > 500:
                    _POSES.clear()
                _POSES[id(f)] = getattr(sim.camera, "pose", None)
                yield f

        sim.camera.frames = posed
    engines = build_engines()
    workflow = EnrolmentWorkflow(engines, Outbox(), None, reader=sim.reader, mrz_source=sim.mrz_source,
                                 trust=sim.trust, policy=Policy(card_timeout_s=5, finger_plan=SLAP_PLAN[:1]))
    app = create_app(workflow, camera=sim.camera, scanner=sim.scanner, sim=sim, default_lang="vi")
    lang = args.lang
    seeds = [0] if args.guidance else _seeds(args.seeds)
    sessions: list[dict] = []

    class Pilot(Autopilot):
        def all_flows(self):
            for seed in seeds:
                yield from self.session(seed)

        def session(self, seed: int):
            made: list[_Recording] = []
            fresh = build_engines(seed=seed).liveness

            def factory():
                made.append(_Recording(fresh()))
                return made[-1]

            workflow.engines.liveness = factory
            reseed = getattr(sim.camera, "reseed", None)
            if reseed is not None:
                reseed(seed)
            if args.guidance:
                sim.camera.responsive = False  # the first attempt: a face that does nothing
            yield self.screen_is("language")
            yield from self.tap_ready(self.ids("language")[lang], f"language:{lang}")
            yield self.screen_is("consent")
            yield from self.tap_ready(self.ids("consent").agree, "consent:agree")
            yield self.screen_is("face")
            t0 = time.monotonic()
            face = app.screen("face")
            seen: list[dict] = []
            shots: dict = {}
            state = {"passed_at": None}

            def watch() -> bool:
                wf = app.workflow
                if args.guidance:
                    ids = face.ids
                    seen.append({"t": round(time.monotonic() - t0, 3), "challenge": face.challenge,
                                 "pictogram": ids.pictogram.kind, "eyes": round(ids.pictogram.eyes, 2),
                                 "yaw": round(ids.pictogram.yaw, 2), "countdown": ids.countdown.shown,
                                 "countdown_visible": ids.countdown.label.opacity > 0,
                                 "retry": ids.retry.text, "retry_kind": ids.retry.kind,
                                 "retry_visible": ids.retry.opacity > 0, "attempt": len(made)})
                    if made and made[0].verdict is False:
                        sim.camera.responsive = True  # the second attempt: follows
                    if args.shots and seen[-1]["pictogram"] and not shots.get(("challenge", len(made))) \
                            and seen[-1]["countdown_visible"]:
                        shots[("challenge", len(made))] = True
                        self.shot(f"face-challenge-{len(made)}")
                    if args.shots and seen[-1]["retry"] and not shots.get("retry"):
                        shots["retry"] = True
                        self.shot("face-retry")
                if wf.session is None or wf.step is not Step.FACE:
                    return True
                if wf.session.liveness_passed and state["passed_at"] is None:
                    state["passed_at"] = time.monotonic() - t0
                    return True
                return False

            watch.__name__ = "liveness decided"
            yield watch
            passed_at = state["passed_at"]
            if passed_at is None and workflow.session is not None and workflow.session.liveness_passed:
                passed_at = time.monotonic() - t0
            attempts = [m.summary() for m in made]
            sessions.append({
                "seed": seed, "lang": lang, "first_try": bool(attempts and attempts[0]["passed"] is True),
                "passed": passed_at is not None, "attempts": len(attempts),
                "time_to_pass_s": round(passed_at, 2) if passed_at is not None else None,
                "failure_reasons": [a["reason"] for a in attempts if a["passed"] is False],
                "step_after": workflow.step.value, "last_failure": workflow.last_failure,
                "per_attempt": attempts, "frames_shown": face.frames_shown,
                "preview_fps": round(face.frames_shown / (time.monotonic() - t0), 1),
                **({"seen": seen} if args.guidance else {})})
            last = sessions[-1]
            print(f"liveness_driver {lang} seed {seed}: first try {last['first_try']}, attempts {last['attempts']}, "
                  f"{last['time_to_pass_s']} s, {last['failure_reasons']}", file=sys.stderr, flush=True)
            if workflow.step not in (Step.DONE, Step.ABANDONED, Step.REFERRED, Step.IDLE):
                app.abandon()
            yield self.screen_is("done")
            yield from self.tap_ready(self.ids("done").finish, "done:finish")
            yield self.screen_is("language")

    pilot = Pilot(app, [lang], args.shots, result_path=args.result, officer=False, step_timeout_s=90.0)
    from kivy.clock import Clock

    Clock.schedule_once(lambda _dt: pilot.start(), 0.5)
    t_start = time.monotonic()
    app.run()
    result = json.loads(open(args.result).read())
    result["lang"] = lang
    result["sessions"] = sessions
    result["seconds"] = round(time.monotonic() - t_start, 1)
    result["spoken"] = list(app.spoken)
    result["voice_available"] = bool(app.voice.available and not app.voice.muted)
    result["frame_ms_median"] = round(statistics.median(app.frame_ms), 1) if app.frame_ms else None
    from bench._util import peak_rss_mb

    result["peak_rss_mb"] = peak_rss_mb()
    open(args.result, "w").write(json.dumps(result, indent=2, ensure_ascii=False))
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
