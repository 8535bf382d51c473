"""``smartborder backoffice serve`` with two worker processes (issue #24 item 2), started as deployed
(``[backoffice] workers`` through ``SMARTBORDER_BACKOFFICE_WORKERS``), on the SQLite file and on PostgreSQL
(``SMARTBORDER_DATABASE_URL`` and ``SMARTBORDER_KEYS_DATABASE_URL``, two databases of a throwaway cluster): the same Idempotency-Key sent to the
service many times at once is stored once and replayed; concurrent failed logins get no more password checks
than the limit; watchlist changes made concurrently through the workers reach the change feed in order,
without a gap. Connections are spread over the workers by the kernel; the test checks that two serve."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from backoffice._store import Store
from tests.backoffice.test_serve_e2e import SMARTBORDER, _cli, _deployment, start_serve, stop_serve

PASSWORD = "correct horse battery staple"


def _workers(pid: int) -> list[int]:
    """The serving process's worker children: uvicorn's supervisor spawns them (``multiprocessing.spawn``);
    multiprocessing's resource tracker, its other child, is left out. Read from /proc, whole: ``ps`` cuts a
    command line at 80 columns when its output is not a terminal, and on CI, whose checkout path is longer,
    that cut removed the "resource_tracker" the test looked for."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if int(fields[1]) == pid and "spawn_main" in cmdline and "resource_tracker" not in cmdline:
            children.append(int(stat.parent.name))
    return sorted(children)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("workers")
    env = _deployment(tmp)
    env["SMARTBORDER_BACKOFFICE_WORKERS"] = "2"
    target, dropped = tmp / "data" / "backoffice.db", []
    if request.param == "postgres":  # the central layout: data and key store in two databases of the cluster
        from storage.testing import keys_database

        cluster = request.getfixturevalue("postgres")
        name = f"w_{secrets.token_hex(5)}"
        target = cluster.create_database(name)
        env["SMARTBORDER_DATABASE_URL"] = target
        env["SMARTBORDER_KEYS_DATABASE_URL"] = keys_database(cluster, f"{name}_k")
        dropped = [(cluster, name), (cluster, f"{name}_k")]
    for user, role in (("sup-1", "supervisor"), ("guard-1", "border_guard")):
        r = subprocess.run([str(SMARTBORDER), "backoffice", "create-user", user, "--role", role, "--password-stdin"],
                           env=env, input=PASSWORD + "\n", capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
    r = _cli(env, "issue-device", "gate-01", "--kind", "gate", "--json")
    assert r.returncode == 0, r.stderr
    gate = json.loads(r.stdout)["token"]
    proc, base = start_serve(env, log=tmp / "serve.log")
    try:
        deadline = time.monotonic() + 60
        while len(_workers(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.3)
        store = Store(target)
        yield {"proc": proc, "base": base, "gate": gate, "store": store}
        store.close()
    finally:
        log = stop_serve(proc)
        for cluster, name in dropped:
            cluster.drop_database(name, name)
    assert '"workers": 2' in log
    requests = [json.loads(line) for line in log.splitlines() if '"event": "request"' in line]
    assert requests and all(r["level"] == "info" for r in requests)  # the workers log as JSON too


def _token(base: str, user: str) -> str:
    r = httpx.post(f"{base}/api/v1/auth/token", json={"username": user, "password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def test_two_workers_serve(served):
    workers = _workers(served["proc"].pid)
    assert len(workers) == 2, workers
    assert httpx.get(f"{served['base']}/healthz", timeout=10).status_code == 200


def test_one_idempotency_key_sent_many_times_at_once_is_stored_once(served):
    body = {"occurred_at": "2026-12-07T08:00:00Z", "kind": "transaction", "outcome": "admitted", "duration_ms": 8100}
    headers = {"Authorization": f"Bearer {served['gate']}", "Idempotency-Key": "evt-burst-1"}

    def send(_):
        with httpx.Client(timeout=60) as client:  # a connection of its own: the kernel picks the worker
            return client.post(f"{served['base']}/api/v1/events", json=body, headers=headers)

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(send, range(24)))
    first = [r for r in answers if r.headers.get("Idempotent-Replayed") != "true"]
    assert [r.status_code for r in first] == [201], [r.text for r in first]  # created once, by one worker
    assert {r.status_code for r in answers} <= {200, 201}, [r.text for r in answers if r.status_code > 201]
    assert len({r.json()["id"] for r in answers}) == 1  # the 23 others replay its answer
    assert served["store"].one(text("SELECT count(*) AS n FROM events WHERE duration_ms = 8100"))["n"] == 1


def test_concurrent_failed_logins_get_no_more_checks_than_the_limit(served):
    def attempt(_):
        with httpx.Client(timeout=60) as client:
            return client.post(f"{served['base']}/api/v1/auth/token",
                               json={"username": "guard-1", "password": "wrong password!!"}).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(attempt, range(12)))
    # [backoffice] login limits: 5 failed checks per account and address, then back-off (429)
    assert codes == [401] * 5 + [429] * 7, codes
    failed = text("SELECT count(*) AS n FROM login_attempts WHERE account = 'guard-1' AND state = 'failed'")
    assert served["store"].one(failed)["n"] == 5


def test_watchlist_changes_through_both_workers_reach_the_feed_in_order(served):
    base, token = served["base"], _token(served["base"], "sup-1")
    before = httpx.get(f"{base}/api/v1/watchlist/changes", headers={"Authorization": f"Bearer {token}"},
                       params={"since": 0, "limit": 10_000}, timeout=30).json()["latest"]

    def add(i):
        with httpx.Client(timeout=60) as client:
            return client.post(f"{base}/api/v1/watchlist/documents", headers={"Authorization": f"Bearer {token}"},
                               json={"id": f"doc-{i}", "document_number": f"B{i:07d}", "issuing_state": "CHN",
                                     "reason": "stolen"}).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(add, range(30))) == {201}
    feed = httpx.get(f"{base}/api/v1/watchlist/changes", headers={"Authorization": f"Bearer {served['gate']}"},
                     params={"since": before, "limit": 10_000}, timeout=30).json()
    versions = [c["version"] for c in feed["changes"]]
    assert versions == list(range(before + 1, before + 31)), versions  # every version, in order, no gap
    assert {c["id"] for c in feed["changes"]} == {f"doc-{i}" for i in range(30)}


def test_db_and_a_database_url_together_are_refused(tmp_path):
    env = _deployment(tmp_path)
    env.update(SMARTBORDER_DATABASE_URL="postgresql://bo:pw@127.0.0.1:1/bo",
               SMARTBORDER_KEYS_DATABASE_URL="postgresql://keys:pw@127.0.0.1:1/keys")
    r = subprocess.run([str(SMARTBORDER), "backoffice", "serve", "--workers", "2", "--db", str(tmp_path / "x.db")],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "give one of them" in r.stderr, r.stderr


def test_a_configuration_that_does_not_open_is_refused_before_any_worker_starts(tmp_path):
    env = _deployment(tmp_path)
    (tmp_path / "data" / "backoffice.db").write_bytes(b"not a database at all" * 100)
    r = subprocess.run([str(SMARTBORDER), "backoffice", "serve", "--workers", "2"], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1 and '"event": "serving"' not in r.stderr, r.stderr
    assert "database" in r.stderr.lower()


def test_a_worker_that_cannot_compose_exits_3_which_stops_uvicorns_supervisor(tmp_path, monkeypatch):
    from smartborder.compose.backoffice import serve_app

    env = _deployment(tmp_path)
    (tmp_path / "data" / "backoffice.db").write_bytes(b"not a database at all" * 100)
    for k in [k for k in __import__("os").environ if k.startswith("SMARTBORDER_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("SMARTBORDER_CONFIG", env["SMARTBORDER_CONFIG"])
    with pytest.raises(SystemExit) as e:
        serve_app()
    assert e.value.code == 3
