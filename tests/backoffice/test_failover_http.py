"""A standby that takes over, through HTTP (issue #24 item 4, increment 7): ``smartborder backoffice serve`` with
two workers on a PostgreSQL primary (``SMARTBORDER_DATABASE_URL``; the key store in a database of its own on the
same cluster, ``SMARTBORDER_KEYS_DATABASE_URL``) streaming to a synchronous standby (storage.testing.standby_of:
the whole cluster is copied and replicated, so both databases are on the standby); three gates' outboxes (a
:class:`gate.GateStore` on disk sealed by the gate's vault, :func:`gate.sync_once` through a
:class:`devicelink.BackofficeClient`, as the gate composes them) send their events at once; the primary's
postmaster and children are SIGKILLed partway through; the back office is stopped, the standby promoted and
``backoffice serve`` started again on the same port with both URLs pointing at it; the gates' sync loops keep
going and their outboxes drain. While the primary is gone its workers answer ``503 database-unavailable`` (named;
it was an unhandled 500), which the outboxes retry with the same Idempotency-Key.

On the promoted standby: every event an outbox saw acknowledged (``delivered_at`` set, the back office's answer
kept) is there with the id it was acknowledged with, every event of every gate exactly once, and the outboxes
are empty."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from backoffice._store import Store
from devicelink import BackofficeClient
from storage.testing import crash, keys_database, postgres_cluster, standby_of
from tests.backoffice.test_failover import audit
from tests.backoffice.test_serve_e2e import _cli, _deployment, _free_port, start_serve, stop_serve
from tests.conftest import postgres_bin_or_skip

GATES = ("gate-bl1-01", "gate-bl1-02", "gate-bl2-01")
PER_GATE = 80
PATIENCE_S = 90.0
EVENTS = "/api/v1/events"


def _on(url: str, old_port: int, new_port: int) -> str:
    """The same database on the cluster at ``new_port`` (the standby has the primary's roles and passwords)."""
    assert f"@127.0.0.1:{old_port}/" in url
    return url.replace(f"@127.0.0.1:{old_port}/", f"@127.0.0.1:{new_port}/")


def _gate_store(tmp: Path, gate_id: str):
    """The gate's database and outbox on disk, sealed by its vault as ``build_gate`` composes it."""
    from gate import GateStore
    from privacy import FileKek
    from smartborder.compose.gate import GateConfig, gate_sealer

    data, keys = tmp / gate_id / "data", tmp / gate_id / "keys"
    data.mkdir(mode=0o700, parents=True)
    keys.mkdir(mode=0o700)
    FileKek.generate(keys / "gate.kek")
    config = GateConfig(trust_path=tmp / "trust", gate_id=gate_id, env="test", data_dir=data,
                        db_path=data / "gate.db", key_dir=keys)
    return GateStore(config.db_path, sealer=gate_sealer(config))


class Gate:
    """One gate: its outbox filled with ``PER_GATE`` events (as its workflow writes them, one transaction each),
    and its sync loop (``sync_once`` every ``interval_s`` until the outbox is empty)."""

    def __init__(self, tmp: Path, gate_id: str, token: str, base: str, interval_s: float = 0.05) -> None:
        import datetime as dt

        self.id, self.interval_s = gate_id, interval_s
        self.store = _gate_store(tmp, gate_id)
        self.client = BackofficeClient(base, token)
        start = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)
        for i in range(PER_GATE):
            at = start + dt.timedelta(seconds=i)
            self.store.record_transaction(
                f"{gate_id}-tx-{i:04d}", started_at=at, outcome="admitted", decision={"reasons": []}, timings={},
                outbox=[("event", {"occurred_at": at.isoformat(), "kind": "transaction", "outcome": "admitted",
                                   "reason_codes": [], "duration_ms": float(i)})])
        self.keys = self.store.outbox.pending_ids("event")
        self.acked: dict[str, dict] = {}  # item id -> {"id": the event id answered}
        self.rounds_failed = 0
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"sync-{gate_id}", daemon=True)

    def _run(self) -> None:
        from gate import sync_once

        try:
            while not self.stop.is_set():
                report = self.store.outbox.deliver(self.client)  # what sync_once does first, keeping the answers
                self.acked.update({k: {"id": a["id"]} for k, a in report.delivered.items()})
                if report.error:
                    self.rounds_failed += 1
                elif sync_once(self.store, self.client).pending == 0:  # the watchlist feed too, then done
                    return
                self.stop.wait(self.interval_s)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e

    def delivered(self) -> set[str]:
        with self.store.outbox.lock:
            rows = self.store.outbox.db.execute(
                "SELECT id FROM devicelink_outbox WHERE delivered_at IS NOT NULL").fetchall()
        return {r[0] for r in rows}


def _wait(condition, what: str, timeout: float = PATIENCE_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.01)


def _posts(log: str) -> dict[int, int]:
    """POST /api/v1/events answers in a serve log, by status (201 stored, 200 replayed, 503 unavailable)."""
    counts: dict[int, int] = {}
    for line in log.splitlines():
        if '"event": "request"' in line:
            r = json.loads(line)
            if r.get("method") == "POST" and r.get("route") == EVENTS:
                counts[r["status"]] = counts.get(r["status"], 0) + 1
    return counts


@pytest.mark.slow
def test_gates_outboxes_through_serve_lose_and_duplicate_nothing_across_a_failover(tmp_path, capsys):
    started = time.monotonic()
    env = _deployment(tmp_path)
    env["SMARTBORDER_BACKOFFICE_WORKERS"] = "2"
    with postgres_cluster(bin_dir=postgres_bin_or_skip(), durable=True) as primary:
        data_url = primary.create_database("bo")
        keys_url = keys_database(primary, "bo_keys")
        env.update(SMARTBORDER_DATABASE_URL=data_url, SMARTBORDER_KEYS_DATABASE_URL=keys_url)
        def issue(gate_id: str) -> str:
            r = _cli(env, "issue-device", gate_id, "--kind", "gate", "--json")
            assert r.returncode == 0, r.stderr
            return json.loads(r.stdout)["token"]

        tokens = {GATES[0]: issue(GATES[0])}  # the first one migrates the databases, the others at once
        with ThreadPoolExecutor(len(GATES) - 1) as pool:
            tokens.update(zip(GATES[1:], pool.map(issue, GATES[1:]), strict=True))
        with standby_of(primary, name="standby_http", synchronous=True) as standby:
            assert standby.replication_state() == ("streaming", "sync")
            port = _free_port()
            proc, base = start_serve(env, log=tmp_path / "serve-primary.log", port=port)
            gates = [Gate(tmp_path, g, tokens[g], base) for g in GATES]
            total = len(GATES) * PER_GATE
            setup_s = time.monotonic() - started
            second = None
            try:
                for g in gates:
                    g.thread.start()
                _wait(lambda: sum(len(g.delivered()) for g in gates) >= total // 2
                      or any(g.error for g in gates), "half the burst acknowledged")
                killed_at = time.monotonic()
                crash(primary)  # the lost host: no acknowledgement can come from it any more
                before_kill = {g.id: g.delivered() for g in gates}
                _wait(lambda: all(g.rounds_failed for g in gates) or any(g.error for g in gates),
                      "every gate to see the outage")
                outage_seen_s = time.monotonic() - killed_at
                log_primary = stop_serve(proc)  # the workers of the lost primary go
                stopped_s = time.monotonic() - killed_at

                promote_s = standby.promote()
                env.update(SMARTBORDER_DATABASE_URL=_on(data_url, primary.port, standby.port),
                           SMARTBORDER_KEYS_DATABASE_URL=_on(keys_url, primary.port, standby.port))
                second, base2 = start_serve(env, log=tmp_path / "serve-standby.log", port=port)
                assert base2 == base  # the gates keep their configured address
                serving_at = time.monotonic()
                done = {g.id: len(g.delivered()) for g in gates}
                _wait(lambda: any(len(g.delivered()) > done[g.id] for g in gates), "a first acknowledgement again")
                first_ack_s = time.monotonic() - killed_at
                _wait(lambda: not any(g.thread.is_alive() for g in gates), "the outboxes to drain")
            finally:
                for g in gates:
                    g.stop.set()
                    g.thread.join(30)
                log_standby = stop_serve(second) if second is not None else ""
            assert [g.error for g in gates] == [None] * len(gates), [repr(g.error) for g in gates]

            # the kill came partway through the burst
            acked_before = sum(len(v) for v in before_kill.values())
            assert total // 2 <= acked_before < total
            posts_primary, posts_standby = _posts(log_primary), _posts(log_standby)
            new = Store(_on(data_url, primary.port, standby.port))
            try:
                for g in gates:
                    assert g.store.outbox.pending_count() == 0 and not g.store.outbox.parked()
                    assert g.delivered() == set(g.keys) == set(g.acked)  # every item acknowledged, answer kept
                    result = audit(new, g.acked, device=g.id)
                    assert result == {"lost": [], "duplicated": [], "changed": [], "events": PER_GATE,
                                      "keys": PER_GATE}, (g.id, result)
            finally:
                new.close()
            for g in gates:
                g.client.close()
                g.store.db.conn.close()
    # every event was created once: answered 201 by the primary's workers or the standby's, or committed on the
    # primary (and so on the standby) while its answer became a 503 (the database gone at the COMMIT's return),
    # which the retry then replays (200). The primary's workers answered nothing but 201 and the named 503
    assert posts_primary.get(201, 0) + posts_standby.get(201, 0) + posts_standby.get(200, 0) == total, \
        (posts_primary, posts_standby)
    assert posts_standby.get(200, 0) <= posts_primary.get(503, 0), (posts_primary, posts_standby)
    assert posts_primary.get(503, 0) > 0 and set(posts_primary) <= {201, 503}, posts_primary  # named, not 500
    assert set(posts_standby) <= {200, 201}, posts_standby
    replayed = posts_standby.get(200, 0)
    with capsys.disabled():
        print(f"\nfailover over HTTP: set-up {setup_s:.1f} s; {acked_before} of {total} events acknowledged by the "
              f"primary's workers before SIGKILL; answers before the restart {posts_primary}; promote "
              f"{promote_s:.2f} s; kill -> every gate saw the outage {outage_seen_s:.1f} s, -> serve stopped {stopped_s:.1f} s, -> restarted serving {serving_at - killed_at:.1f} s after the kill; kill -> first "
              f"acknowledgement by the promoted standby {first_ack_s:.1f} s; after it {posts_standby} "
              f"({replayed} replayed); total {time.monotonic() - started:.1f} s")


def test_a_database_that_went_away_is_a_named_503_a_device_retries(tmp_path, monkeypatch):
    """In process, on SQLite: the Store raising DatabaseUnavailableError (a lost server) answers 503
    ``database-unavailable`` with Retry-After, which devicelink's client reports as BackofficeUnavailable (retry)."""
    from devicelink import BackofficeUnavailable
    from storage import DatabaseUnavailableError
    from tests.backoffice.conftest import build_world, make_config

    world = build_world(make_config(db_path=tmp_path / "bo.db"))
    try:
        def gone(*args, **kwargs):
            raise DatabaseUnavailableError("the database server closed the connection")

        for name in ("tx", "one", "query"):
            monkeypatch.setattr(world.ctx.store, name, gone)
        body = {"occurred_at": "2026-12-07T08:00:00Z", "kind": "transaction", "outcome": "admitted",
                "duration_ms": 1.0}
        r = world.client.post(EVENTS, json=body, headers={"Authorization": f"Bearer {world.tokens['gate']}",
                                                          "Idempotency-Key": "evt-1"})
        assert r.status_code == 503 and r.headers["Retry-After"] == "5", r.text
        assert r.json()["type"].endswith("/database-unavailable")
        with pytest.raises(BackofficeUnavailable):
            BackofficeClient(token=world.tokens["gate"], http=world.client).post_event(body, "evt-1")
    finally:
        world.client.close()
