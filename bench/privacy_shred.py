"""The retention purge as crypto-shredding, on sealed items: what destroying a data key per item costs.

The back office's shape: a data database (sealed envelopes in the retention registry, the ledger) and a
key store in its own file, both WAL, ``secure_delete`` on. ``items`` live images (``--size`` bytes each) of
``items / 4`` subjects are sealed and registered, resolved, then purged past their period. The same items
purged without a vault (no key destroyed, the pre-#17 behaviour) run beside it as the reference.

    .venv/bin/python -m bench.privacy_shred [--items 20000] [--size 4096] [--batch 1000]

Prints one JSON object: seal rate, purge rates with and without shredding, keys destroyed, the WAL
checkpoint at the end, the files' sizes after the purge, peak RSS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from bench._util import emit
from privacy import RawKek, open_privacy

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class _Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> dt.datetime:
        return self.t


def _sizes(path: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(path.parent.glob(path.name + "*"))}


def run(tmp: Path, items: int, size: int, batch: int, *, shred: bool) -> dict:
    clock = _Clock()
    data, keys = tmp / ("shred" if shred else "plain") / "data.db", tmp / ("shred" if shred else "plain") / "k.db"
    p = open_privacy(data, keys, RawKek(os.urandom(32)), clock=clock, checkpoint_every=None)
    if not shred:
        p.retention.vault = None  # the reference: rows deleted, keys left
    payload = os.urandom(size)
    t = time.perf_counter()
    with p.ledger.batch():
        for i in range(items):
            p.seal_item(f"subj_{i % max(1, items // 4)}", "live_image", f"tx-{i}", payload, created=T0, ended=T0)
    seal_s = time.perf_counter() - t
    clock.t = T0 + dt.timedelta(days=2)
    t = time.perf_counter()
    report = p.retention.purge(batch=batch)
    purge_s = time.perf_counter() - t
    assert report.purged == items
    return {"items": items, "payload_bytes": size, "seal_per_s": round(items / seal_s),
            "purge_s": round(purge_s, 2), "purge_per_s": round(items / purge_s), "keys_shredded": report.keys_shredded,
            "keys_left": p.vault.db.one(text("SELECT COUNT(*) AS n FROM vault_keys"))["n"],
            "wal_truncated": report.wal_truncated, "complete": report.complete,
            "files_after": {**_sizes(data), **_sizes(keys)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        shred = run(Path(tmp), args.items, args.size, args.batch, shred=True)
        plain = run(Path(tmp), args.items, args.size, args.batch, shred=False)
    emit("privacy_shred", {"crypto_shredding": shred, "reference_without_shredding": plain,
                           "shredding_cost_per_item_us": round((shred["purge_s"] - plain["purge_s"]) / args.items * 1e6,
                                                               1)})


if __name__ == "__main__":
    main()
