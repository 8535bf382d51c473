"""Benchmark: one whole peak day (about 35,000 travellers, both halls) through the passenger-hall model.

Target: the day simulates in under 10 s. Reports wall time (drawing the travellers, the SimPy run
and the summary separately), SimPy events processed and events/s, and peak RSS.

Run: ``.venv/bin/python -m bench.flow [--scenario bac_luan_tet_peak] [--travellers 35000] [--seed 0]``
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._util import emit  # noqa: E402
from flow import SCENARIO_DIR, draw_travellers, load_scenario  # noqa: E402
from flow._results import summarise  # noqa: E402
from flow._sim import run  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="bac_luan_tet_peak")
    ap.add_argument("--travellers", type=int, default=35000, help="Travellers in the day (at least).")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--egates", type=int, default=12, help="E-gates per hall.")
    ap.add_argument("--booths", type=int, default=30, help="Booths per hall.")
    ap.add_argument("--kiosks", type=int, default=8, help="Kiosks per hall.")
    args = ap.parse_args(argv)
    path = Path(args.scenario)
    if not path.exists():
        path = SCENARIO_DIR / f"{args.scenario}.toml"
    sc = load_scenario(path)
    sc = sc.with_resources(
        egates=args.egates, booths=args.booths, kiosks=args.kiosks, officers=None)
    # Arrivals are Poisson: nudge the expected volume until this seed's day has the full count.
    expected = args.travellers
    for _ in range(5):
        t0 = time.perf_counter()
        travellers = draw_travellers(dataclasses.replace(sc, travellers_per_day=expected), args.seed)
        t1 = time.perf_counter()
        if len(travellers) >= args.travellers:
            break
        expected *= args.travellers / len(travellers) * 1.005
    sc = dataclasses.replace(sc, travellers_per_day=expected)
    raw = run(sc, travellers)
    t2 = time.perf_counter()
    summary = summarise(sc, travellers, raw, 300.0)
    t3 = time.perf_counter()
    wall = t3 - t0
    emit("flow", {
        "scenario": sc.name,
        "seed": args.seed,
        "travellers": len(travellers),
        "expected_per_day": round(sc.travellers_per_day),
        "resources_per_hall": summary["resources_per_hall"],
        "wall_s": round(wall, 3),
        "draw_s": round(t1 - t0, 3),
        "simulate_s": round(t2 - t1, 3),
        "summarise_s": round(t3 - t2, 3),
        "events": raw.events,
        "events_per_s": round(raw.events / (t2 - t1)),
        "travellers_per_s": round(len(travellers) / wall),
        "target_wall_s": 10.0,
        "target_met": wall < 10.0,
        "p95_wait_s": summary["wait_s"]["overall"]["p95"],
        "last_departure": summary["last_departure"],
    })


if __name__ == "__main__":
    main()
