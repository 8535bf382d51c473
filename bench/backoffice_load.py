"""Back-office load benchmark (JSON on stdout).

1. Ingestion: the back office runs in its own process (uvicorn on 127.0.0.1 only, a fresh
   SQLite database in a temp dir); 20 simulated devices post exceptions (with two small JPEG
   images each, encrypted by the privacy vault) and events concurrently, each with an
   Idempotency-Key; a share of the posts are retried with the same key (an outbox resending).
   Reports records/s, p50/p99 latency, and checks the database afterwards: zero lost, zero
   duplicated.
2. Watchlist: p50/p99 of a check against 1,000,000 entries (900,000 documents, 100,000 persons
   with realistic Vietnamese name frequencies) in the matcher the server and the gates use.

    .venv/bin/python -m bench.backoffice_load [--devices 20] [--per-device 40] [--entries 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._util import emit  # noqa: E402

SURNAMES = (["Nguyễn"] * 38 + ["Trần"] * 11 + ["Lê"] * 10 + ["Phạm"] * 7 + ["Hoàng"] * 5 + ["Huỳnh"] * 5
            + ["Phan"] * 4 + ["Vũ"] * 4 + ["Võ"] * 4 + ["Đặng", "Bùi", "Đỗ", "Hồ", "Ngô"] * 2 + ["Dương", "Lý"])
MIDDLE = ["Văn"] * 30 + ["Thị"] * 30 + ["Hữu", "Đức", "Minh", "Thanh", "Ngọc", "Quang", "Xuân", "Hoài", "Kim", "Bảo"] * 3
GIVEN = ("An Anh Bình Chi Cường Dũng Duy Giang Hà Hải Hạnh Hiếu Hòa Hùng Hương Huy Khánh Khoa Lan Linh Long Mai "
         "Minh Nam Nga Nghĩa Ngọc Nhung Phong Phúc Phương Quân Quang Quỳnh Sơn Tâm Thảo Thắng Thanh Thủy Tiến "
         "Trang Trung Tuấn Tùng Uyên Vân Việt Vinh Yến").split()


def _percentile(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return round(s[min(len(s) - 1, int(q * len(s)))], 3) if s else 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _jpeg(seed: int) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (96, 120), (seed % 255, 80, 160)).save(buf, format="JPEG", quality=80)
    return base64.b64encode(buf.getvalue()).decode()


def serve(port: int, db: str, secret: str, kek: str) -> None:
    """Child process: the back office on 127.0.0.1."""
    import uvicorn

    from smartborder.compose.backoffice import build_backoffice
    from smartborder.settings import load_settings

    # the back office a deployment runs (backoffice serve's composition), on this database
    app = build_backoffice(load_settings(environ={}, data_dir=Path(db).parent), db_path=Path(db), secret_key=secret,
                           kek=kek)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, log_config=None)


def _prepare(db: Path, secret: str, devices: int) -> dict[str, str]:
    from backoffice import Auth, Store

    store = Store(db)
    auth = Auth(store, secret, max_failures=5, window_s=900, session_ttl_s=3600, token_ttl_s=3600)
    tokens = {}
    for i in range(devices):
        _, tokens[f"gate-{i:02d}"] = auth.issue_device(f"gate-{i:02d}", "gate")
    store.close()
    return tokens


async def _device(client, token: str, device: str, per_device: int, retry_share: float, rng: random.Random,
                  images: tuple[str, str], latencies: dict[str, list[float]], errors: list[str]) -> tuple[int, int]:
    headers = {"Authorization": f"Bearer {token}"}
    sent_exc = sent_evt = 0
    for n in range(per_device):
        is_exception = n % 2 == 0
        key = f"{device}-{n}"
        if is_exception:
            body = {"occurred_at": "2026-11-22T08:00:00+07:00", "reason_codes": ["face_mismatch"],
                    "scores": {"face_similarity": round(rng.random(), 3)}, "transaction_id": key,
                    "document": {"document_number": f"B{rng.randrange(10**7):07d}", "issuing_state": "VNM",
                                 "surname": "NGUYEN", "given_names": "VAN AN"},
                    "live_image": images[0], "chip_image": images[1]}
            url = "/api/v1/exceptions"
        else:
            body = {"occurred_at": "2026-11-22T08:00:00+07:00", "kind": "transaction", "outcome": "admitted",
                    "duration_ms": rng.uniform(6000, 15000)}
            url = "/api/v1/events"
        attempts = 2 if rng.random() < retry_share else 1  # an outbox that did not see the first answer
        for _ in range(attempts):
            t0 = time.perf_counter()
            r = await client.post(url, json=body, headers={**headers, "Idempotency-Key": key})
            latencies["exception" if is_exception else "event"].append((time.perf_counter() - t0) * 1000)
            if r.status_code not in (200, 201):
                errors.append(f"{r.status_code}")
        sent_exc += is_exception
        sent_evt += not is_exception
    return sent_exc, sent_evt


async def _load(base: str, tokens: dict[str, str], per_device: int, retry_share: float) -> dict:
    import httpx

    images = (_jpeg(1), _jpeg(2))
    latencies: dict[str, list[float]] = {"exception": [], "event": []}
    errors: list[str] = []
    limits = httpx.Limits(max_connections=len(tokens) + 2)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        t0 = time.perf_counter()
        results = await asyncio.gather(*[
            _device(client, tok, dev, per_device, retry_share, random.Random(i), images, latencies, errors)
            for i, (dev, tok) in enumerate(tokens.items())])
        elapsed = time.perf_counter() - t0
    return {"elapsed_s": elapsed, "latencies": latencies, "errors": errors,
            "sent_exceptions": sum(r[0] for r in results), "sent_events": sum(r[1] for r in results)}


def ingestion(devices: int, per_device: int, retry_share: float) -> dict:
    import httpx

    from backoffice import Store

    with tempfile.TemporaryDirectory(prefix="bo-bench-") as tmp:
        db = Path(tmp) / "bench.db"
        secret, kek = secrets.token_urlsafe(32), secrets.token_hex(32)
        tokens = _prepare(db, secret, devices)
        port = _free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-m", "bench.backoffice_load", "--serve", str(port), str(db),
                                 secret, kek], cwd=ROOT, env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            else:
                raise RuntimeError("back office did not start")
            run = asyncio.run(_load(base, tokens, per_device, retry_share))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        store = Store(db)
        n_exc = store.one("SELECT COUNT(*) AS n FROM exceptions")["n"]
        n_evt = store.one("SELECT COUNT(*) AS n FROM events")["n"]
        n_keys = store.one("SELECT COUNT(*) AS n FROM idempotency")["n"]
        per_device_rows = store.query("SELECT device_id, COUNT(*) AS n FROM exceptions GROUP BY device_id")
        store.close()
    expected = run["sent_exceptions"] + run["sent_events"]
    lat = run["latencies"]
    all_lat = lat["exception"] + lat["event"]
    elapsed = run["elapsed_s"]
    return {
        "devices": devices, "records_per_device": per_device, "retry_share": retry_share,
        "elapsed_s": round(elapsed, 2), "requests": len(all_lat), "unique_records": expected,
        "requests_per_s": round(len(all_lat) / elapsed, 1),
        "records_per_s": round(expected / elapsed, 1),
        "exceptions": {"sent": run["sent_exceptions"], "stored": n_exc,
                       "per_s": round(run["sent_exceptions"] / elapsed, 1),
                       "latency_ms": {"p50": _percentile(lat["exception"], 0.5),
                                      "p99": _percentile(lat["exception"], 0.99)}},
        "events": {"sent": run["sent_events"], "stored": n_evt, "per_s": round(run["sent_events"] / elapsed, 1),
                   "latency_ms": {"p50": _percentile(lat["event"], 0.5), "p99": _percentile(lat["event"], 0.99)}},
        "latency_ms": {"p50": _percentile(all_lat, 0.50), "p99": _percentile(all_lat, 0.99),
                       "max": round(max(all_lat), 3)},
        "http_errors": len(run["errors"]),
        "lost": max(0, run["sent_exceptions"] - n_exc) + max(0, run["sent_events"] - n_evt),
        "duplicated": max(0, n_exc - run["sent_exceptions"]) + max(0, n_evt - run["sent_events"])
        + max(0, n_keys - expected),
        "exceptions_per_device_equal": len({r["n"] for r in per_device_rows}) == 1,
    }


def watchlist_check(entries: int, queries: int, seed: int = 7) -> dict:
    from watchlist import DocumentEntry, PersonEntry, PersonQuery, WatchlistIndex

    rng = random.Random(seed)
    n_persons = entries // 10
    ix = WatchlistIndex()
    t0 = time.perf_counter()
    for i in range(entries - n_persons):
        ix.upsert(DocumentEntry(f"d{i}", f"{'BCEN'[i % 4]}{i:08d}", ("VNM", "CHN")[i % 2]))
    people = []
    for i in range(n_persons):
        name = f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
        dob = f"{rng.randint(1940, 2010)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        ix.upsert(PersonEntry(f"p{i}", (name,), date_of_birth=dob, nationality="VNM"))
        if i % 1000 == 0:
            people.append((name, dob))
    build_s = time.perf_counter() - t0
    lat_doc, lat_person, hits = [], [], 0
    for q in range(queries):
        number = f"{'BCEN'[q % 4]}{rng.randrange(entries * 2):08d}"
        t = time.perf_counter()
        ix.check_document(number, "VNM")
        lat_doc.append((time.perf_counter() - t) * 1000)
        if q % 4 == 0:  # a quarter of the person queries are watchlisted people, MRZ-spelt
            name, dob = rng.choice(people)
            query = PersonQuery(name.upper().replace(" ", "<"), dob, "VNM")
        else:
            query = PersonQuery(f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}",
                                f"{rng.randint(1940, 2010)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
        t = time.perf_counter()
        found = ix.check(query)
        lat_person.append((time.perf_counter() - t) * 1000)
        hits += q % 4 == 0 and any(m.hit for m in found)
    return {
        "entries": len(ix), "documents": ix.document_count, "persons": ix.person_count,
        "build_s": round(build_s, 1), "queries": queries,
        "document_check_ms": {"p50": _percentile(lat_doc, 0.5), "p99": _percentile(lat_doc, 0.99)},
        "person_check_ms": {"p50": _percentile(lat_person, 0.5), "p99": _percentile(lat_person, 0.99)},
        "watchlisted_queries_found": f"{hits}/{(queries + 3) // 4}",
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=20)
    ap.add_argument("--per-device", type=int, default=100, help="records per device (half exceptions, half events)")
    ap.add_argument("--retry-share", type=float, default=0.1)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--skip-ingestion", action="store_true")
    args = ap.parse_args()
    result = {}
    if not args.skip_ingestion:
        result["ingestion"] = ingestion(args.devices, args.per_device, args.retry_share)
    result["watchlist"] = watchlist_check(args.entries, args.queries)
    emit("backoffice_load", result)


if __name__ == "__main__":
    main()
