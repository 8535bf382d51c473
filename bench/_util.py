"""Helpers for benchmarks: every benchmark prints one JSON object with its peak RSS."""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from collections.abc import Callable


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def time_ms(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def summary(samples_ms: list[float]) -> dict[str, float]:
    s = sorted(samples_ms)
    return {
        "n": len(s),
        "median_ms": round(statistics.median(s), 3),
        "p95_ms": round(s[min(len(s) - 1, int(0.95 * len(s)))], 3),
        "min_ms": round(s[0], 3),
    }


def emit(name: str, result: dict) -> None:
    """Print the benchmark's JSON (with peak RSS) on stdout."""
    out = {"benchmark": name, **result, "peak_rss_mb": peak_rss_mb()}
    json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
