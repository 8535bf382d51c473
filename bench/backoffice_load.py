"""Back-office load benchmark (JSON on stdout), on SQLite and on PostgreSQL (issue #24 item 5).

1. Load, per backend and worker count: the back office is started as deployed (bench/_backoffice_deploy.py:
   ``smartborder backoffice serve`` with ``SMARTBORDER_BACKOFFICE_WORKERS``, on the config's SQLite file or on
   a throwaway PostgreSQL cluster's two databases, the data's and the key store's). Each simulated gate posts
   exceptions (two small JPEG images each, encrypted by the privacy vault) and events back to back, each with
   an Idempotency-Key, a share of them sent twice (an outbox that did not see the answer), and polls the
   watchlist change feed (``GET /api/v1/watchlist/changes?since=`` with If-None-Match, following ``more``)
   every ``--poll-interval`` seconds while supervisors add watchlist entries. Reports requests/s, records/s,
   p50/p95/p99 per kind, feed gaps (a change whose version is not the last seen + 1, or a gate not at the
   final version after its last poll), and checks the database afterwards: zero lost, zero duplicated (per
   gate and table). Exits 1 when anything is lost, duplicated, refused or missing from the feed.
2. Watchlist: p50/p99 of a check against 1,000,000 entries (900,000 documents, 100,000 persons with realistic
   Vietnamese name frequencies) in the matcher the server and the gates use (in-process, backend-independent:
   the index is built from the database once and then lives in memory).
3. With ``--watchlist-http``: the same watchlist and queries over HTTP (``backoffice import-watchlist`` into a
   deployed back office on SQLite, then ``POST /api/v1/watchlist/check`` from a gate, p50/p95/p99); the import
   of a million rows takes about 20 minutes here.

    nice -n 19 .venv/bin/python -m bench.backoffice_load [--backend sqlite|postgres|both] [--workers 1,2]
        [--devices 200] [--per-device 10] [--poll-interval 5] [--entries 1000000] [--watchlist-http]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import random
import resource
import signal
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


def _jpeg(seed: int) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (96, 120), (seed % 255, 80, 160)).save(buf, format="JPEG", quality=80)
    return base64.b64encode(buf.getvalue()).decode()


def _lat(samples: list[float]) -> dict:
    return {"n": len(samples), "p50": _percentile(samples, 0.5), "p95": _percentile(samples, 0.95),
            "p99": _percentile(samples, 0.99)}


def _tokens(dep, devices: int) -> dict[str, str]:
    """Register the gates (``backoffice issue-device``'s call, in-process: 200 CLI starts would take minutes)."""
    from backoffice import Auth, Store

    store = Store(dep.target)
    auth = Auth(store, dep.secret_key, max_failures=5, window_s=900, session_ttl_s=3600, token_ttl_s=3600)
    tokens = {}
    for i in range(devices):
        _, tokens[f"gate-{i:03d}"] = auth.issue_device(f"gate-{i:03d}", "gate")
    store.close()
    return tokens


class Run:
    def __init__(self) -> None:
        self.lat: dict[str, list[float]] = {"event": [], "exception": [], "feed_poll": [], "watchlist_add": []}
        self.errors: list[str] = []
        self.gaps = 0
        self.not_modified = 0
        self.added = 0
        self.final_version: dict[str, int] = {}
        self.transport_errors = 0  # no answer (connection reset, keep-alive race, timeout): sent again

    async def send(self, client, method: str, url: str, **kw):
        """One request as a gate's outbox sends it: without an answer it is sent again, same body and key."""
        import httpx

        for attempt in range(6):
            try:
                return await client.request(method, url, **kw)
            except httpx.TransportError:
                self.transport_errors += 1
                await asyncio.sleep(0.2 * (attempt + 1))
        raise RuntimeError(f"{method} {url}: no answer after 6 attempts")

    def error(self, what: str, r) -> None:
        self.errors.append(f"{what}: HTTP {r.status_code} {r.text[:200]}")


async def _post_records(client, run: Run, token: str, device: str, per_device: int, retry_share: float,
                        rng: random.Random, images: tuple[str, str]) -> tuple[int, int]:
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
            url, kind = "/api/v1/exceptions", "exception"
        else:
            body = {"occurred_at": "2026-11-22T08:00:00+07:00", "kind": "transaction", "outcome": "admitted",
                    "duration_ms": rng.uniform(6000, 15000)}
            url, kind = "/api/v1/events", "event"
        attempts = 2 if rng.random() < retry_share else 1  # an outbox that did not see the first answer
        for _ in range(attempts):
            t0 = time.perf_counter()
            r = await run.send(client, "POST", url, json=body, headers={**headers, "Idempotency-Key": key})
            run.lat[kind].append((time.perf_counter() - t0) * 1000)
            if r.status_code not in (200, 201):
                run.error(kind, r)
        sent_exc += is_exception
        sent_evt += not is_exception
    return sent_exc, sent_evt


class Feed:
    """A gate's watchlist sync: since/ETag kept between polls, pages followed while ``more``."""

    def __init__(self, client, token: str, run: Run) -> None:
        self.client, self.run = client, run
        self.headers = {"Authorization": f"Bearer {token}"}
        self.version, self.etag = 0, None

    async def poll(self) -> None:
        headers = {**self.headers, **({"If-None-Match": self.etag} if self.etag else {})}
        while True:
            t0 = time.perf_counter()
            r = await self.run.send(self.client, "GET", "/api/v1/watchlist/changes", params={"since": self.version},
                                    headers=headers)
            self.run.lat["feed_poll"].append((time.perf_counter() - t0) * 1000)
            if r.status_code == 304:
                self.run.not_modified += 1
                return
            if r.status_code != 200:
                self.run.error("feed", r)
                return
            body = r.json()
            for c in body["changes"]:
                if c["version"] != self.version + 1:
                    self.run.gaps += 1
                self.version = c["version"]
            self.etag = r.headers.get("ETag")
            if not body["more"]:
                return
            headers = dict(self.headers)


async def _gate(client, run: Run, token: str, device: str, args, rng: random.Random, images,
                posted: asyncio.Event, stop: asyncio.Event):
    feed = Feed(client, token, run)

    async def poller():
        await asyncio.sleep(rng.uniform(0, args.poll_interval))  # gates do not all poll at the same instant
        while not stop.is_set():
            await feed.poll()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), args.poll_interval)

    task = asyncio.create_task(poller())
    try:
        sent = await _post_records(client, run, token, device, args.per_device, args.retry_share, rng, images)
    finally:
        posted.set()  # a gate that failed must not leave the run waiting: its task's error is raised below
    await stop.wait()
    await task
    await feed.poll()  # the supervisors have stopped: this poll must reach the last version
    run.final_version[device] = feed.version
    return sent


async def _supervisor(client, run: Run, token: str, writer: int, interval: float, until: asyncio.Event) -> None:
    headers, n = {"Authorization": f"Bearer {token}"}, 0
    while not until.is_set():
        t0 = time.perf_counter()
        r = await run.send(client, "POST", "/api/v1/watchlist/documents", headers=headers,
                              json={"id": f"bench-{writer}-{n}", "document_number": f"C{writer}{n:07d}",
                                    "issuing_state": "CHN", "reason": "stolen"})
        run.lat["watchlist_add"].append((time.perf_counter() - t0) * 1000)
        if r.status_code == 201:
            run.added += 1
        else:
            run.error("watchlist_add", r)
        n += 1
        await asyncio.sleep(interval)


async def _load(dep, tokens: dict[str, str], args) -> tuple[Run, float]:
    import httpx

    run, images = Run(), (_jpeg(1), _jpeg(2))
    limits = httpx.Limits(max_connections=2 * len(tokens) + 8)
    async with httpx.AsyncClient(base_url=dep.base, timeout=120, limits=limits) as client:
        r = await client.post("/api/v1/auth/token", json={"username": "bench-sup",
                                                          "password": "bench supervisor password 1"})
        if r.status_code != 200:
            raise RuntimeError(f"supervisor login: HTTP {r.status_code} {r.text[:200]}")
        sup_token = r.json()["access_token"]
        posting_done, stop = asyncio.Event(), asyncio.Event()
        posted = [asyncio.Event() for _ in tokens]
        sups = [asyncio.create_task(_supervisor(client, run, sup_token, w, args.add_interval, posting_done))
                for w in range(args.supervisors)]
        t0 = time.perf_counter()
        gates = [asyncio.create_task(_gate(client, run, tok, dev, args, random.Random(i), images, posted[i], stop))
                 for i, (dev, tok) in enumerate(tokens.items())]
        for e in posted:
            await e.wait()
        for g in gates:  # a gate whose posting raised: stop the run with its error
            if g.done() and g.exception() is not None:
                stop.set()
                posting_done.set()
                raise g.exception()
        elapsed = time.perf_counter() - t0  # every gate's records acknowledged
        posting_done.set()
        await asyncio.gather(*sups)
        stop.set()
        sent = await asyncio.gather(*gates)
    run.sent_exceptions = sum(s[0] for s in sent)  # type: ignore[attr-defined]
    run.sent_events = sum(s[1] for s in sent)  # type: ignore[attr-defined]
    return run, elapsed


def _check_database(dep, run: Run, tokens: dict[str, str], per_device: int) -> dict:
    """What the database holds afterwards, per gate and table: every record once."""
    from sqlalchemy import text

    from backoffice import Store

    store = Store(dep.target)
    try:
        counts = {t: {r["device_id"]: r["n"] for r in store.query(text(
            f"SELECT device_id, COUNT(*) AS n FROM {t} GROUP BY device_id"))}  # noqa: S608 (two fixed names)
            for t in ("exceptions", "events")}
        keys = store.query(text("SELECT COUNT(*) AS n FROM idempotency"))[0]["n"]
        entries = store.query(text("SELECT COUNT(*) AS n FROM watchlist_entries"))[0]["n"]
        latest = store.query(text("SELECT COALESCE(MAX(version), 0) AS v FROM watchlist_changes"))[0]["v"]
    finally:
        store.close()
    want = {"exceptions": (per_device + 1) // 2, "events": per_device // 2}
    lost = dup = 0
    for table, n in want.items():
        for device in tokens:
            have = counts[table].get(device, 0)
            lost += max(0, n - have)
            dup += max(0, have - n)
    expected = len(tokens) * per_device
    behind = sum(1 for d in tokens if run.final_version.get(d) != latest)
    return {"stored": {t: sum(c.values()) for t, c in counts.items()}, "idempotency_keys": keys,
            "lost": lost, "duplicated": dup + max(0, keys - expected),
            "watchlist": {"added": run.added, "entries": entries, "latest_version": latest,
                          "gates_behind_after_last_poll": behind}}


def measure(dep, args, log: Path) -> dict:
    from bench import _backoffice_deploy as deploy

    deploy.migrate(dep)
    tokens = _tokens(dep, args.devices)
    deploy.start(dep, log)
    try:
        run, elapsed = asyncio.run(_load(dep, tokens, args))
        server_rss = deploy.server_peak_rss(dep)
        pg_rss = deploy.postgres_rss(dep)
    finally:
        deploy.stop(dep)
    db = _check_database(dep, run, tokens, args.per_device)
    posts = len(run.lat["event"]) + len(run.lat["exception"])
    requests = posts + len(run.lat["feed_poll"]) + len(run.lat["watchlist_add"])
    feed_gaps = run.gaps + db["watchlist"]["gates_behind_after_last_poll"]
    out = {
        "backend": dep.backend, "workers": dep.workers, "devices": args.devices,
        "records_per_device": args.per_device, "retry_share": args.retry_share,
        "poll_interval_s": args.poll_interval, "elapsed_s": round(elapsed, 2),
        "requests": requests, "requests_per_s": round(requests / elapsed, 1),
        "records": args.devices * args.per_device, "records_per_s": round(args.devices * args.per_device / elapsed, 1),
        "latency_ms": {k: _lat(v) for k, v in run.lat.items()},
        "feed": {"polls": len(run.lat["feed_poll"]), "not_modified": run.not_modified, "gaps": feed_gaps},
        "transport_errors_resent": run.transport_errors,
        "http_errors": len(run.errors), "first_errors": run.errors[:5],
        "lost": db["lost"], "duplicated": db["duplicated"], "database": db,
        "server_peak_rss_mb": server_rss, "bench_peak_rss_mb": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if pg_rss:
        out["postgres_peak_rss_mb"] = pg_rss
    out["ok"] = not (out["lost"] or out["duplicated"] or feed_gaps or run.errors
                     or db["watchlist"]["entries"] != run.added)
    return out

def _watchlist_entries(entries: int, rng: random.Random):
    """The bench's watchlist: ``entries`` entries, a tenth of them persons (realistic Vietnamese name frequencies,
    dates of birth), the rest documents; yields ``(kind, id, data)`` as the API and the CSV import take them.
    Every 1000th person is also yielded as ``("sample", name, dob)`` for the queries that must hit."""
    n_persons = entries // 10
    for i in range(entries - n_persons):
        yield "document", f"d{i}", {"document_number": f"{'BCEN'[i % 4]}{i:08d}", "issuing_state": ("VNM", "CHN")[i % 2]}
    for i in range(n_persons):
        name = f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
        dob = f"{rng.randint(1940, 2010)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        yield "person", f"p{i}", {"name": name, "date_of_birth": dob, "nationality": "VNM"}
        if i % 1000 == 0:
            yield "sample", name, dob


def _watchlist_queries(entries: int, queries: int, people: list[tuple[str, str]], rng: random.Random):
    """``queries`` pairs (document number, person query as a dict): a quarter of the persons are watchlisted
    people spelt as the MRZ spells them (upper case, ``<`` between names), the rest random names."""
    for q in range(queries):
        number = f"{'BCEN'[q % 4]}{rng.randrange(entries * 2):08d}"
        if q % 4 == 0:
            name, dob = rng.choice(people)
            person = {"name": name.upper().replace(" ", "<"), "date_of_birth": dob, "nationality": "VNM"}
        else:
            person = {"name": f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}",
                      "date_of_birth": f"{rng.randint(1940, 2010)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"}
        yield number, person


def watchlist_check(entries: int, queries: int, seed: int = 7) -> dict:
    """The check in the matcher the server and the gates use (in-process on the index)."""
    from watchlist import DocumentEntry, PersonEntry, PersonQuery, WatchlistIndex

    rng = random.Random(seed)
    ix = WatchlistIndex()
    people = []
    t0 = time.perf_counter()
    for kind, key, data in _watchlist_entries(entries, rng):
        if kind == "document":
            ix.upsert(DocumentEntry(key, data["document_number"], data["issuing_state"]))
        elif kind == "person":
            ix.upsert(PersonEntry(key, (data["name"],), date_of_birth=data["date_of_birth"],
                                  nationality=data["nationality"]))
        else:
            people.append((key, data))
    build_s = time.perf_counter() - t0
    lat_doc, lat_person, hits = [], [], 0
    for q, (number, person) in enumerate(_watchlist_queries(entries, queries, people, rng)):
        t = time.perf_counter()
        ix.check_document(number, "VNM")
        lat_doc.append((time.perf_counter() - t) * 1000)
        query = PersonQuery(person["name"], person["date_of_birth"], person.get("nationality"))
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


def watchlist_check_http(entries: int, queries: int, log: Path, seed: int = 7) -> dict:
    """The same watchlist and queries over HTTP: ``backoffice import-watchlist`` (the operator's CSV import, one
    file per kind) into a deployed back office on SQLite, ``backoffice serve`` started on it (its index built
    from the database at start-up), then ``POST /api/v1/watchlist/check`` from a gate, one request at a time on
    a kept-alive connection: the round trip a gate sees, its authentication, the database's version reads, the
    matcher and the description of the matches included."""
    import csv

    import httpx

    from backoffice._watchlist import DOCUMENT_COLUMNS, PERSON_COLUMNS
    from bench import _backoffice_deploy as deploy

    rng = random.Random(seed)
    people: list[tuple[str, str]] = []
    out: dict = {"backend": "sqlite", "workers": 1, "entries": entries, "queries": queries}
    with deploy.deployment("sqlite", 1) as dep:
        deploy.migrate(dep)
        files = {}
        with tempfile.TemporaryDirectory(prefix="bo-bench-wl-") as tmp:
            writers = {}
            for kind, columns in (("document", DOCUMENT_COLUMNS), ("person", PERSON_COLUMNS)):
                files[kind] = open(Path(tmp) / f"{kind}.csv", "w", newline="", encoding="utf-8")  # noqa: SIM115
                writers[kind] = csv.DictWriter(files[kind], fieldnames=["id", *[c for c in columns if c != "id"]])
                writers[kind].writeheader()
            for kind, key, data in _watchlist_entries(entries, rng):
                if kind == "sample":
                    people.append((key, data))
                else:
                    writers[kind].writerow({"id": key, **data})
            for f in files.values():
                f.close()
            t0 = time.perf_counter()
            for kind, f in files.items():
                r = subprocess.run([str(deploy.SMARTBORDER), "backoffice", "import-watchlist", f.name, "--kind", kind],
                                   env=dep.env, capture_output=True, text=True, timeout=7200)
                if r.returncode != 0:
                    raise RuntimeError(f"import-watchlist {kind} failed: {(r.stdout + r.stderr)[-2000:]}")
            out["import_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        deploy.start(dep, log)
        token = _tokens(dep, 1)["gate-000"]
        with httpx.Client(base_url=dep.base, headers={"Authorization": f"Bearer {token}"}, timeout=600) as client:
            r = client.post("/api/v1/watchlist/check", json={"document_number": "B00000000", "issuing_state": "VNM"})
            if r.status_code != 200 or not r.json()["hit"]:
                raise RuntimeError(f"first check: {r.status_code} {r.text[:500]}")
            out["first_check_after_start_s"] = round(time.perf_counter() - t0, 1)
            lat_doc, lat_person, hits, refused = [], [], 0, 0
            for q, (number, person) in enumerate(_watchlist_queries(entries, queries, people, rng)):
                t = time.perf_counter()
                r = client.post("/api/v1/watchlist/check", json={"document_number": number, "issuing_state": "VNM"})
                lat_doc.append((time.perf_counter() - t) * 1000)
                refused += r.status_code != 200
                t = time.perf_counter()
                r = client.post("/api/v1/watchlist/check", json=person)
                lat_person.append((time.perf_counter() - t) * 1000)
                refused += r.status_code != 200
                hits += q % 4 == 0 and r.status_code == 200 and r.json()["hit"]
        out.update({"document_check_ms": _lat(lat_doc), "person_check_ms": _lat(lat_person),
                    "watchlisted_queries_found": f"{hits}/{(queries + 3) // 4}", "refused": refused,
                    "server_peak_rss_mb": deploy.server_peak_rss(dep)})
    out["ok"] = refused == 0
    return out


def _backends(choice: str | None) -> tuple[list[str], str | None]:
    from storage.testing import find_bin_dir

    have_pg = find_bin_dir() is not None
    if choice is None:
        choice = "both" if have_pg else "sqlite"
        return (["sqlite", "postgres"] if have_pg else ["sqlite"],
                None if have_pg else "no PostgreSQL server binaries: SQLite only (install 'postgresql')")
    if choice in ("postgres", "both") and not have_pg:
        raise SystemExit("--backend postgres: no PostgreSQL server binaries (install the Debian package 'postgresql')")
    return (["sqlite", "postgres"] if choice == "both" else [choice]), None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default=None,
                    help="default: both when the PostgreSQL server binaries are installed, else sqlite")
    ap.add_argument("--workers", default="1", help="worker counts, comma-separated (e.g. 1,2)")
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--per-device", type=int, default=10, help="records per gate (half exceptions, half events)")
    ap.add_argument("--retry-share", type=float, default=0.1)
    ap.add_argument("--poll-interval", type=float, default=5.0, help="seconds between a gate's feed polls")
    ap.add_argument("--supervisors", type=int, default=2, help="concurrent watchlist writers")
    ap.add_argument("--add-interval", type=float, default=0.5, help="seconds between a supervisor's additions")
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--skip-load", action="store_true")
    ap.add_argument("--skip-watchlist", action="store_true")
    ap.add_argument("--watchlist-http", action="store_true",
                    help="also check over HTTP against a back office holding the --entries watchlist (SQLite; the "
                         "import of a million entries takes minutes)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers and the cluster on the way out
    workers = [int(w) for w in args.workers.split(",")]
    backends, note = _backends(args.backend)
    result: dict = {"backends": backends}
    if note:
        result["note"] = note
    failed = []
    if not args.skip_load:
        from bench import _backoffice_deploy as deploy

        runs = []
        with tempfile.TemporaryDirectory(prefix="bo-bench-logs-") as logs:
            for kind in backends:
                with deploy.backend(kind) as cluster:
                    for n in workers:
                        with deploy.deployment(kind, n, cluster) as dep:
                            run = measure(dep, args, Path(logs) / f"{kind}-{n}.log")
                        runs.append(run)
                        print(f"{kind} x{n}: {run['requests_per_s']} req/s ok={run['ok']}", file=sys.stderr)
                        if not run["ok"]:
                            failed.append(f"{kind} x{n}")
        result["load"] = runs
    if not args.skip_watchlist:
        result["bench_peak_rss_mb_before_watchlist"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        result["watchlist"] = watchlist_check(args.entries, args.queries)
    if args.watchlist_http:
        with tempfile.TemporaryDirectory(prefix="bo-bench-logs-") as logs:
            result["watchlist_http"] = watchlist_check_http(args.entries, args.queries, Path(logs) / "serve.log")
        if not result["watchlist_http"]["ok"]:
            failed.append("watchlist over HTTP")
    emit("backoffice_load", result)
    if failed:
        print(f"FAILED (lost, duplicated, refused or feed gaps): {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
