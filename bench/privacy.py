"""Privacy benchmark: vault seal/open, retention purge throughput, ledger append and verify.

Every ledger append checks the stored head against the chain's end and signs the new head (Ed25519) in
its transaction; ``Ledger.batch()`` does both once per batch (``append_per_s_batched_10k``).

    .venv/bin/python -m bench.privacy [--purge-items 1000000] [--ledger-entries 1000000] [--quick]

Everything runs on SQLite files in a temporary directory (WAL, as in service). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

from bench._util import emit, summary, time_ms
from privacy import Ledger, RawKek, RetentionStore, Vault
from storage import open_database

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def bench_vault(tmp: Path) -> dict:
    vault = Vault(tmp / "keys.db", RawKek(os.urandom(32)))
    out = {}
    for name, size, repeat in (("image_100kb", 100 * 1024, 300), ("template_512b", 512, 2000)):
        data = os.urandom(size)
        env = vault.seal("subj_bench", "live_image", "tx-1", data)
        seal = summary(time_ms(lambda d=data: vault.seal("subj_bench", "live_image", "tx-1", d), repeat))
        opened = summary(time_ms(lambda e=env: vault.open("subj_bench", "live_image", "tx-1", e), repeat))
        out[name] = {"seal_us_median": round(seal["median_ms"] * 1000, 1), "seal_us_p95": round(seal["p95_ms"] * 1000, 1),
                     "open_us_median": round(opened["median_ms"] * 1000, 1),
                     "open_us_p95": round(opened["p95_ms"] * 1000, 1), "n": repeat}
    # first seal for a new subject creates and wraps a data key (one INSERT)
    t = time.perf_counter()
    for i in range(500):
        vault.seal(f"subj_new_{i}", "template", "e", b"x" * 512)
    out["new_subject_seal_us"] = round((time.perf_counter() - t) / 500 * 1e6, 1)
    return out


def bench_purge(tmp: Path, n: int, batch: int) -> dict:
    store = RetentionStore(tmp / "retention.db", clock=lambda: T0)
    t = time.perf_counter()
    chunk = 50_000
    for start in range(0, n, chunk):
        store.register_many({"category": "gate_transaction", "record_id": f"tx-{i}", "subject_id": f"s{i % 5000}",
                             "ref": f"r{i}", "created": T0, "ended": T0} for i in range(start, min(n, start + chunk)))
    register_s = time.perf_counter() - t
    when = T0.replace(year=T0.year + 3)
    t = time.perf_counter()
    dry = store.purge(when, dry_run=True)
    dry_s = time.perf_counter() - t
    t = time.perf_counter()
    report = store.purge(when, batch=batch)
    purge_s = time.perf_counter() - t
    assert report.purged == n and report.ids_sha256 == dry.ids_sha256
    return {"items": n, "batch": batch, "register_s": round(register_s, 2),
            "register_per_s": round(n / register_s), "dry_run_s": round(dry_s, 2), "purge_s": round(purge_s, 2),
            "purge_per_s": round(n / purge_s), "batches": report.batches}


def bench_ledger(tmp: Path, n: int) -> dict:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    ledger = Ledger(tmp / "ledger.db", Ed25519PrivateKey.generate(), clock=lambda: T0, checkpoint_every=10_000)
    single = 5000
    t = time.perf_counter()
    for i in range(single):
        ledger.append("user:guard", "border_guard", "read", f"exc-{i}", "border_exception_review", "law")
    single_s = time.perf_counter() - t
    t = time.perf_counter()
    chunk = 10_000
    for start in range(single, n - single, chunk):
        with ledger.batch():  # one transaction, the head signed once at its end
            for i in range(start, min(n - single, start + chunk)):
                ledger.append("device:gate-01", "gate", "write:live_image", f"tx-{i}", "border_control", "law",
                              subject_id=f"subj_{i % 10_000}")
    batched_s = time.perf_counter() - t
    # appends joining a caller's transaction (not a batch): each one signs the head
    t = time.perf_counter()
    with ledger.db.tx():
        for i in range(n - single, n):
            ledger.append("user:guard", "border_guard", "read", f"tx-{i}", "border_exception_review", "law")
    joined_s = time.perf_counter() - t
    ledger.checkpoint()
    t = time.perf_counter()
    v = ledger.verify()
    verify_s = time.perf_counter() - t
    assert v.ok and v.entries == n + 1  # the ledger's signed creation entry, then the n appended
    export = tmp / "ledger.jsonl"
    t = time.perf_counter()
    ledger.export(export)
    export_s = time.perf_counter() - t
    return {"entries": n, "append_per_s_own_transaction": round(single / single_s),
            "append_per_s_batched_10k": round((n - 2 * single) / batched_s) if n > 2 * single else None,
            "append_per_s_in_caller_transaction": round(single / joined_s),
            "verify_s": round(verify_s, 2), "verify_ms_per_10k": round(verify_s / n * 10_000 * 1000, 1),
            "checkpoints": v.checkpoints, "export_s": round(export_s, 2),
            "export_mb": round(export.stat().st_size / 2**20, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--purge-items", type=int, default=1_000_000)
    ap.add_argument("--ledger-entries", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--quick", action="store_true", help="100k items and 100k ledger entries")
    args = ap.parse_args()
    if args.quick:
        args.purge_items = args.ledger_entries = 100_000
    with tempfile.TemporaryDirectory(prefix="bench-privacy-") as d:
        tmp = Path(d)
        open_database(tmp / "warm.db").close()
        result = {"vault": bench_vault(tmp), "purge": bench_purge(tmp, args.purge_items, args.batch),
                  "ledger": bench_ledger(tmp, args.ledger_entries)}
    emit("privacy", result)


if __name__ == "__main__":
    main()
