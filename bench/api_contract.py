"""The OpenAPI contract run at length: schemathesis, every check, all phases, once per role, against
``backoffice serve`` as deployed (the driver of tests/backoffice/test_openapi_contract.py, with many more
examples per operation). ``make fuzz`` runs it alone; ``make bench`` runs it with the others.

    .venv/bin/python -m bench.api_contract [--examples 100] [--max-time SECONDS] [--seed N]

Prints one JSON object: per role the cases generated, the failures found and the time taken; the server's
peak RSS; peak RSS. Exits 1 when any run found a failure (its report is on stderr).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from bench._util import emit
from tests.backoffice.openapi_contract import LOGOUT, ROLES, deploy, failures_text, run


def _vm_hwm_mb(pid: int) -> float | None:
    """A live process's peak resident set (VmHWM) in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=100, help="examples per operation (fuzzing phase)")
    ap.add_argument("--max-time", type=float, default=None, help="time budget of each role's run, seconds")
    ap.add_argument("--seed", type=int, default=20261206)
    args = ap.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-contract-") as tmp:
        dep = deploy(Path(tmp))
        try:
            results = [run(dep, role, examples=args.examples, seed=args.seed, max_time=args.max_time) for role in ROLES]
            results.append(run(dep, "logout", examples=args.examples, seed=args.seed, only=LOGOUT))
            server_peak = _vm_hwm_mb(dep.proc.pid)
        finally:
            dep.stop()
    failed = [r for r in results if r.returncode != 0 or r.failures]
    for r in failed:
        print(f"== {r.role}: exit {r.returncode}, {r.failures} failures\n{failures_text(r)}", file=sys.stderr)
    emit("api_contract", {
        "examples_per_operation": args.examples, "seed": args.seed, "checks": "all",
        "phases": ["examples", "coverage", "fuzzing", "stateful"],
        "runs": [{"role": r.role, "cases": r.cases, "failures": r.failures, "exit": r.returncode, "seconds": r.seconds}
                 for r in results],
        "cases_total": sum(r.cases for r in results), "failures_total": sum(r.failures for r in results),
        "runs_failed": len(failed), "seconds_total": round(time.perf_counter() - t0, 1),
        "server_peak_rss_mb": server_peak,
        "schemathesis_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    })
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
