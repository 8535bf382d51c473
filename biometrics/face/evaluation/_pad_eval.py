"""Presentation attack detection evaluated in ISO/IEC 30107-3 terms, on sequences built from stills.

    python -m biometrics.face.evaluation._pad_eval --json [--root DIR] [--n 20] [--seed 1]

What is measured: BPCER (bona fide presentations wrongly rejected) and, per attack type, APCER
(attack presentations wrongly accepted) of :class:`~biometrics.face.LivenessSession` with random
challenges (a blink and a head turn), both for the whole decision and for the active challenges
alone (``apcer_active_only``: what the passive cues add).

What is simulated - read the figures with this in mind. There is no real video here: every sequence
is synthesised (see :mod:`biometrics.face.sim`) from one real LFW still per identity:

* ``bona_fide``: the still re-rendered by a face-mesh-driven 3-D warp that turns the head and
  closes the eyelids, with camera noise and sway. The warp is approximate (hair/ears not modelled,
  visible seams at the face outline); a real head, real blinks and real lighting changes are not
  covered, so the BPCER is a lower bound for real use.
* ``print_rigid``: a print of the still (paper tint, margin) moved, rotated and tilted as a rigid
  plane; the attacker knows the challenges and rotates the print by 55-70 degrees in the direction
  that best mimics the asked turn, and tilts it to mimic a blink.
* ``print_bent``: the same, with the print bent around a vertical cylinder (a non-planar surface).
* ``replay_same_order``: a bona fide sequence shown on a screen (gamma, gamut, moire, bezel) whose
  actions happen to be in the asked order (worst case: the attacker has the right clip).
* ``replay_random_order``: the same clips against a freshly drawn challenge order.

Figures (all simulated; thresholds tuned on ``--seed 3``, reported on other seeds):

    --n 30 --seed 5   BPCER 2/30 = 6.7 % (95 % CI 0.8-22 %): two rendered blinks the mesh did not see
                      APCER print_rigid         0/30 (0-11.6 %)   active challenges alone 13.3 %
                      APCER print_bent          2/30 (0.8-22 %)   active challenges alone 10.0 %
                      APCER replay_same_order   0/30 (0-11.6 %)   active challenges alone 86.7 %
                      APCER replay_random_order 0/30 (0-11.6 %)   active challenges alone 23.3 %
    --n 20 --seed 4   BPCER 0/20; APCER print_rigid 1/20, print_bent 1/20, replays 0/20 (with the
                      earlier "lowest cue" rule; the product rule now used rejects that rigid print)

So: a flat print rarely completes the challenges at all (it cannot blink, and turning it far
enough to fake a head turn narrows the face: the foreshortening cue); a *bent* print is a 3-D
surface and is the weakest point; a replayed clip of the right actions is stopped only by the
moire cue, whose strength on real screens and cameras is unmeasured here.

The *passive* verdict the gate uses before (or instead of) the challenge - texture model, moire and
the geometric cues, without instructions - is trained, calibrated and evaluated by
:mod:`biometrics.face.evaluation._pad_passive` (print, screen and replay presentations of a traveller
standing at the reader, identity-disjoint halves).

Not covered at all: masks, real screens and printers, deep-fake or puppet (animated) attacks,
real-time injection of a rendered face - an attacker able to render *this* simulation's bona fide
video on demand defeats the active part by construction. Passive cues were tuned on these
simulations; the moire cue in particular is tested against a *simulated* moire.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from biometrics.face._liveness import (
    FORESHORTENING_PASS,
    MOIRE_PASS,
    PARALLAX_PASS,
    ActiveChallenge,
    LivenessSession,
    random_challenges,
)
from biometrics.face._mesh import FaceMesher
from biometrics.face.sim import (
    FaceRenderer,
    camera_noise,
    moire_pattern,
    prepare_still,
    print_attack_frame,
    printed,
    replay_frame,
    room_background,
)

__all__ = ["ATTACKS", "PadSequence", "bona_fide_sequence", "evaluate", "print_attack_sequence",
           "replay_sequence"]

ATTACKS = ("print_rigid", "print_bent", "replay_same_order", "replay_random_order")
FPS = 15.0


@dataclass
class PadSequence:
    kind: str  # "bona_fide" or one of ATTACKS
    frames: list[np.ndarray]
    timestamps: list[float]
    challenges: list[ActiveChallenge]  # what the session asks


def _ramp(n: int, a: float, b: float) -> list[float]:
    return list(np.linspace(a, b, max(1, n)))


def _script(challenges: list[ActiveChallenge], rng: np.random.Generator, *, attack: bool) -> list[dict]:
    """Per-frame pose parameters. Bona fide: head yaw/pitch + eyelid closure. Print attack:
    the print's own 3-D rotation (yaw/pitch) in place of the head's."""
    frames: list[dict] = []

    def idle(seconds: float) -> None:
        for _ in range(int(seconds * FPS)):
            frames.append({"yaw": 0.0, "pitch": 0.0, "closure": 0.0})

    def move(key: str, values: list[float]) -> None:
        for v in values:
            frames.append({"yaw": 0.0, "pitch": 0.0, "closure": 0.0, key: float(v)})

    idle(rng.uniform(0.4, 0.7))
    for c in challenges:
        idle(rng.uniform(0.3, 0.7))  # reaction time after the instruction appears
        if c.kind == "blink":
            if attack:  # tilt the print back and forth to shrink the eyes
                a = rng.uniform(45, 60)
                move("pitch", _ramp(4, 0, a) + [a] * 2 + _ramp(4, a, 0))
            else:
                move("closure", _ramp(2, 0.3, 1.0) + [1.0] * int(rng.integers(1, 3)) + _ramp(2, 0.7, 0.0))
        else:
            sign = 1.0 if c.kind == "turn_left" else -1.0
            if attack:  # rotating the print the other way round makes the face look turned this way
                a = -sign * rng.uniform(55, 70)
            else:
                a = sign * rng.uniform(33, 42)
            n_out = int(rng.uniform(0.4, 0.6) * FPS)
            move("yaw", _ramp(n_out, 0, a) + [a] * int(0.3 * FPS) + _ramp(n_out, a, 0))
        idle(0.3)
    idle(0.4)
    return frames


def _sway(i: int, phase: float) -> tuple[float, float]:
    return 1.5 * math.sin(0.9 * i / FPS * 2 * math.pi + phase), 1.0 * math.sin(0.6 * i / FPS * 2 * math.pi + 2 * phase)


def bona_fide_sequence(frame: np.ndarray, renderer: FaceRenderer, challenges: list[ActiveChallenge],
                       rng: np.random.Generator) -> PadSequence:
    """A simulated live capture of the person in ``frame`` performing ``challenges``."""
    phase = rng.uniform(0, 2 * math.pi)
    frames, ts = [], []
    for i, p in enumerate(_script(challenges, rng, attack=False)):
        sy, sp = _sway(i, phase)
        img = renderer.render(p["yaw"] + sy, p["pitch"] + sp, p["closure"],
                              shift=(2.0 * math.sin(i / 7 + phase), 1.5 * math.cos(i / 9 + phase)))
        frames.append(camera_noise(img, rng, sigma=2.0, gain=1.0 + 0.02 * math.sin(i / 5 + phase)))
        ts.append(i / FPS)
    return PadSequence("bona_fide", frames, ts, list(challenges))


def print_attack_sequence(frame: np.ndarray, background: np.ndarray, challenges: list[ActiveChallenge],
                          rng: np.random.Generator, *, bent: bool = False) -> PadSequence:
    """A print of ``frame`` held in front of ``background``, moved to imitate ``challenges``."""
    photo = printed(frame, rng)
    scale = rng.uniform(0.85, 1.0)
    base = rng.uniform(-5, 5, size=3)
    bend = rng.uniform(30, 50) if bent else 0.0
    frames, ts = [], []
    for i, p in enumerate(_script(challenges, rng, attack=True)):
        tremor = rng.normal(0, 0.7, size=3)
        img = print_attack_frame(photo, background, yaw=base[0] + p["yaw"] + tremor[0],
                                 pitch=base[1] + p["pitch"] + tremor[1], roll=base[2] + tremor[2],
                                 scale=scale, shift=tuple(rng.normal(0, 2.0, size=2)), bend=bend)
        frames.append(camera_noise(img, rng, sigma=2.0))
        ts.append(i / FPS)
    return PadSequence("print_bent" if bent else "print_rigid", frames, ts, list(challenges))


def replay_sequence(bona: PadSequence, background: np.ndarray, rng: np.random.Generator, *,
                    same_order: bool) -> PadSequence:
    """``bona`` re-displayed on a screen; the session asks its order or a fresh random one."""
    period, angle = rng.uniform(2.2, 4.5), rng.uniform(0, 45)
    base = rng.uniform(-6, 6, size=3)
    frames = []
    pattern = moire_pattern(bona.frames[0].shape[:2], period, angle)
    for i, f in enumerate(bona.frames):
        jitter = (base[0] + math.sin(i / 11), base[1] + math.cos(i / 13), base[2])
        frames.append(camera_noise(replay_frame(f, background, moire_period=period, moire_angle=angle,
                                                jitter=jitter, pattern=pattern), rng, sigma=2.0))
    asked = list(bona.challenges) if same_order else random_challenges(rng)
    kind = "replay_same_order" if same_order else "replay_random_order"
    return PadSequence(kind, frames, list(bona.timestamps), asked)


def run_sequence(seq: PadSequence) -> tuple[bool, bool, str | None, dict]:
    """(accepted, accepted by the active challenges alone, reason, cues) for one sequence."""
    session = LivenessSession(seq.challenges, require_passive=True)
    try:
        for frame, t in zip(seq.frames, seq.timestamps, strict=True):
            if session.feed(frame, t).done:
                break
        res = session.result()
    finally:
        session.close()
    active_ok = res.passed or (res.reason or "").startswith("passive")
    return res.passed, active_ok, res.reason, res.cues


def default_root() -> Path:
    shared = os.environ.get("SMARTBORDER_SHARED_DATA")
    base = Path(shared) if shared else Path(__file__).resolve().parents[3] / "shared" / "data"
    return base / "faces" / "lfw-dev"


def _count_faces(frame: np.ndarray) -> int:
    """Most faces either BlazeFace model (short and full range) sees at a low confidence (0.3)."""
    import mediapipe as mp

    from biometrics._native_log import native_quiet

    counts = []
    for model in (0, 1):
        with native_quiet(), mp.solutions.face_detection.FaceDetection(  # a graph that starts logs to stderr
                model_selection=model, min_detection_confidence=0.3) as det:
            counts.append(len(det.process(frame).detections or ()))
    return max(counts)


def pick_stills(root: Path, n: int, rng: np.random.Generator) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Up to ``n`` (name, frame, background) with one near-frontal, eyes-open face (first image per identity)."""
    people = sorted(p for p in root.iterdir() if p.is_dir())
    order = rng.permutation(len(people))
    mesher = FaceMesher(static=True, max_faces=2, min_confidence=0.3)
    out = []
    try:
        for k in order:
            if len(out) >= n:
                break
            files = sorted(people[k].glob("*.jpg"))
            if not files:
                continue
            img = cv2.imread(str(files[0]), cv2.IMREAD_COLOR)
            if img is None:
                continue
            frame = prepare_still(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
            faces = mesher.process(frame)
            if len(faces) != 1:
                continue
            f = faces[0]
            if abs(f.pose.yaw) > 12 or abs(f.pose.pitch) > 15 or f.eye_aspect_ratio < 0.2:
                continue
            if _count_faces(frame) != 1:  # bona fide = one traveller: no bystanders in the still
                continue
            bg = room_background(rng)
            out.append((people[k].name, frame, bg))
    finally:
        mesher.close()
    return out


def evaluate(root: Path, n: int = 20, seed: int = 1, progress: bool = False) -> dict:
    """BPCER and APCER per attack type over ``n`` identities (see the module docstring)."""
    rng = np.random.default_rng(seed)
    stills = pick_stills(root, n, rng)
    mesher = FaceMesher(static=True)
    rows: list[dict] = []
    t0 = time.perf_counter()
    n_frames = 0
    try:
        for j, (name, frame, bg) in enumerate(stills):
            renderer = FaceRenderer(frame, mesher.process(frame)[0])
            asked = random_challenges(rng)
            bona = bona_fide_sequence(frame, renderer, asked, rng)
            seqs = [bona,
                    print_attack_sequence(frame, bg, random_challenges(rng), rng),
                    print_attack_sequence(frame, bg, random_challenges(rng), rng, bent=True),
                    replay_sequence(bona, bg, rng, same_order=True),
                    replay_sequence(bona, bg, rng, same_order=False)]
            for seq in seqs:
                accepted, active_ok, reason, cues = run_sequence(seq)
                n_frames += len(seq.frames)
                rows.append({"identity": name, "kind": seq.kind, "accepted": accepted, "active_ok": active_ok,
                             "reason": reason, "challenges": [c.kind for c in seq.challenges],
                             **{f"cue_{k}": (round(v, 4) if v is not None else None) for k, v in cues.items()}})
            if progress:
                print(f"\r{j + 1}/{len(stills)} identities", end="", file=sys.stderr, flush=True)
    finally:
        mesher.close()
    if progress:
        print(file=sys.stderr)
    return summarise(rows, seconds=time.perf_counter() - t0, n_frames=n_frames)


def clopper_pearson(k: int, n: int, level: float = 0.95) -> list[float]:
    """Exact two-sided confidence interval of a proportion k/n."""
    from scipy.stats import beta

    a = (1 - level) / 2
    lo = float(beta.ppf(a, k, n - k + 1)) if k > 0 else 0.0
    hi = float(beta.ppf(1 - a, k + 1, n - k)) if k < n else 1.0
    return [round(lo, 4), round(hi, 4)]


def summarise(rows: list[dict], seconds: float = 0.0, n_frames: int = 0) -> dict:
    bona = [r for r in rows if r["kind"] == "bona_fide"]
    rejected = sum(not r["accepted"] for r in bona)
    out: dict = {
        "standard": "ISO/IEC 30107-3 (APCER per presentation attack instrument species, BPCER)",
        "simulated": True,
        "thresholds": {"parallax_min": PARALLAX_PASS, "foreshortening_min": FORESHORTENING_PASS,
                       "moire_max": MOIRE_PASS, "passive_score_min": 0.5},
        "n_bona_fide": len(bona),
        "bpcer": round(rejected / len(bona), 4) if bona else None,
        "bpcer_ci95": clopper_pearson(rejected, len(bona)) if bona else None,
        "bpcer_reasons": _count(r["reason"] for r in bona if not r["accepted"]),
        "n_attacks": {},
        "apcer": {},
        "apcer_ci95": {},
        "apcer_active_only": {},
        "attack_reasons": {},
    }
    for kind in ATTACKS:
        rs = [r for r in rows if r["kind"] == kind]
        if not rs:
            continue
        accepted = sum(r["accepted"] for r in rs)
        out["n_attacks"][kind] = len(rs)
        out["apcer"][kind] = round(accepted / len(rs), 4)
        out["apcer_ci95"][kind] = clopper_pearson(accepted, len(rs))
        out["apcer_active_only"][kind] = round(sum(r["active_ok"] for r in rs) / len(rs), 4)
        out["attack_reasons"][kind] = _count(r["reason"] for r in rs)
    out["apcer_max"] = max(out["apcer"].values()) if out["apcer"] else None
    for cue in ("cue_parallax", "cue_foreshortening", "cue_moire"):
        for kind in ("bona_fide", *ATTACKS):
            vals = [r[cue] for r in rows if r["kind"] == kind and r.get(cue) is not None]
            if vals:
                out.setdefault("cue_medians", {}).setdefault(cue[4:], {})[kind] = round(float(np.median(vals)), 4)
    if n_frames:
        out["ms_per_frame_total"] = round(seconds * 1000 / n_frames, 2)
    return out


def _count(reasons) -> dict[str, int]:  # noqa: ANN001 - any iterable of str | None
    counts: dict[str, int] = {}
    for r in reasons:
        key = (r or "accepted").split(":")[0]
        counts[key] = counts.get(key, 0) + 1
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m biometrics.face.evaluation._pad_eval", description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=None, help="LFW-style folder of <identity>/<image>.jpg")
    ap.add_argument("--n", type=int, default=20, help="identities (one bona fide + 4 attacks each)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print JSON only")
    args = ap.parse_args(argv)
    root = args.root or default_root()
    if not root.is_dir():
        print(f"no face images at {root} (use --root)", file=sys.stderr)
        return 2
    res = evaluate(root, n=args.n, seed=args.seed, progress=not args.json)
    if args.json:
        json.dump(res, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"BPCER {res['bpcer']:.1%} over {res['n_bona_fide']} simulated bona fide sequences")
        for kind, v in res["apcer"].items():
            print(f"APCER {kind:<22} {v:.1%}  (active challenges alone: {res['apcer_active_only'][kind]:.1%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
