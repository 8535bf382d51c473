"""``smartborder backoffice serve`` with two worker processes (issue #24 item 2), started as deployed
(``[backoffice] workers`` through ``SMARTBORDER_BACKOFFICE_WORKERS``): the same Idempotency-Key sent to the
service many times at once is stored once and replayed; concurrent failed logins get no more password checks
than the limit; watchlist changes made concurrently through the workers reach the change feed in order,
without a gap. Connections are spread over the workers by the kernel; the test checks that two serve."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.backoffice.test_serve_e2e import SMARTBORDER, _cli, _deployment, start_serve, stop_serve

PASSWORD = "correct horse battery staple"


def _workers(pid: int) -> list[int]:
    """The serving process's worker children (uvicorn's supervisor forks/spawns them)."""
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if line.strip() and "resource_tracker" not in line]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("workers")
    env = _deployment(tmp)
    env["SMARTBORDER_BACKOFFICE_WORKERS"] = "2"
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
        yield {"proc": proc, "base": base, "gate": gate, "db": tmp / "data" / "backoffice.db"}
    finally:
        log = stop_serve(proc)
    assert '"workers": 2' in log


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
    with sqlite3.connect(f"file:{served['db']}?mode=ro", uri=True) as db:
        assert db.execute("SELECT count(*) FROM events WHERE duration_ms = 8100").fetchone()[0] == 1


def test_concurrent_failed_logins_get_no_more_checks_than_the_limit(served):
    def attempt(_):
        with httpx.Client(timeout=60) as client:
            return client.post(f"{served['base']}/api/v1/auth/token",
                               json={"username": "guard-1", "password": "wrong password!!"}).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(attempt, range(12)))
    # [backoffice] login limits: 5 failed checks per account and address, then back-off (429)
    assert codes == [401] * 5 + [429] * 7, codes
    with sqlite3.connect(f"file:{served['db']}?mode=ro", uri=True) as db:
        failed = db.execute("SELECT count(*) FROM login_attempts WHERE account = 'guard-1' AND state = 'failed'")
        assert failed.fetchone()[0] == 5


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
