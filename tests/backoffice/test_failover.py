"""A standby that takes over (issue #24 item 4, increment 7): a PostgreSQL primary with a synchronous streaming
standby on this machine (two throwaway clusters, storage.testing.standby_of), a gate's outbox sending a burst of
events through the back office's Records.create_event on a Store opened on the primary's URL, the primary's
postmaster and children SIGKILLed partway through, the standby promoted and the back office repointed at it.

Every event the back office acknowledged before the kill is on the promoted standby (synchronous replication),
every event is there exactly once (the outbox retries an unacknowledged send with the same Idempotency-Key: it
replays when the commit got through, inserts otherwise), and the count is the burst's.

The controls show what makes it pass: with the standby asynchronous and lagging, the same audit finds the
acknowledged events that were lost; with it synchronous and not streaming, a send is not acknowledged at all
until it streams again.

Store level only: the HTTP version (gates' outboxes through ``backoffice serve`` on PostgreSQL) needs the privacy
package on the engine first."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from backoffice._auth import Principal
from backoffice._observability import Metrics
from backoffice._records import Records
from backoffice._store import Store
from backoffice.schemas import EventCreate
from storage import DatabaseUnavailableError, StorageError
from storage.testing import crash, postgres_cluster, standby_of
from tests.conftest import postgres_bin_or_skip

BURST = 200
GATE = Principal("device", "gate-bl1-01", "device:gate")
#: how long the burst, the failover and each wait may take on a slow, shared 2-core machine
PATIENCE_S = 90.0


@pytest.fixture()
def primary():
    """A durable primary of its own (the test kills it)."""
    with postgres_cluster(bin_dir=postgres_bin_or_skip(), durable=True) as cluster:
        yield cluster


def _records(store: Store) -> Records:
    return Records(SimpleNamespace(store=store, privacy=None, metrics=Metrics(),
                                   config=SimpleNamespace(secret_key="test-secret-key-0123456789abcdef")))


def _event(i: int) -> EventCreate:
    at = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=i)
    return EventCreate(occurred_at=at, kind="transaction", outcome="admitted", reason_codes=[], duration_ms=float(i))


def _key(i: int) -> str:
    return f"gate-bl1-01-evt-{i:04d}"


class Outbox:
    """A gate's outbox, as the back office sees it: events in order, each sent with its own Idempotency-Key until
    acknowledged. A StorageError is "not acknowledged": the same event goes again with the same key after a pause
    (to whichever Store the back office runs on by then: :meth:`repoint`)."""

    def __init__(self, store: Store, label: str, count: int, retry_s: float = 0.05) -> None:
        self._target = (_records(store), label)
        self.count, self.retry_s = count, retry_s
        self.acked: dict[str, dict] = {}  # key -> {"id", "replayed", "by", "at"}
        self.failures: list[tuple[str, str, float]] = []  # (key, error class, when)
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="outbox", daemon=True)

    def repoint(self, store: Store, label: str) -> None:
        self._target = (_records(store), label)

    def send(self, i: int) -> None:
        key, body = _key(i), _event(i)
        while not self.stop.is_set():
            records, label = self._target
            try:
                result = records.create_event(GATE, body, key)
            except StorageError as e:
                self.failures.append((key, type(e).__name__, time.monotonic()))
                time.sleep(self.retry_s)
                continue
            self.acked[key] = {"id": result.body["id"], "replayed": result.replayed, "by": label,
                               "at": time.monotonic()}
            return

    def _run(self) -> None:
        try:
            for i in range(self.count):
                self.send(i)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e


def _wait(condition, what: str, timeout: float = PATIENCE_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.01)


def audit(store: Store, acked: dict[str, dict], device: str = GATE.id) -> dict:
    """What the database holds of ``device`` against what its outbox was told: the acknowledged keys whose event
    is missing (lost), the events more than once (duplicated: the same id twice, or an event row no key points
    at), the keys answered with another event than the one acknowledged (changed), and the counts."""
    keys = store.query(text("SELECT key, response FROM idempotency WHERE principal = :p"), {"p": f"device:{device}"})
    events = [r["id"] for r in store.query(text("SELECT id FROM events WHERE device_id = :d"), {"d": device})]
    stored = {r["key"]: json.loads(r["response"])["id"] for r in keys}
    ids = set(events)
    lost = sorted(k for k, a in acked.items() if k not in stored or a["id"] not in ids)
    changed = sorted(k for k, a in acked.items() if k in stored and stored[k] != a["id"])
    referenced = list(stored.values())
    duplicated = sorted({i for i in events if events.count(i) > 1} | (ids - set(referenced))
                        | {i for i in referenced if referenced.count(i) > 1})
    return {"lost": lost, "duplicated": duplicated, "changed": changed, "events": len(events), "keys": len(stored)}


@pytest.mark.slow
def test_the_promoted_synchronous_standby_has_every_acknowledged_event_once(primary, capsys):
    started = time.monotonic()
    with standby_of(primary, name="standby_a", synchronous=True) as standby:
        setup_s = time.monotonic() - started
        assert standby.replication_state() == ("streaming", "sync")
        old = Store(primary.url)
        outbox = Outbox(old, "primary", BURST)
        outbox.thread.start()
        try:
            _wait(lambda: len(outbox.acked) >= BURST // 2 or outbox.error is not None, "half the burst acknowledged")
            killed_at = time.monotonic()
            crash(primary)  # the postmaster and every backend: no acknowledgement can come from it any more
            assert primary.server_pid() is None
            _wait(lambda: len(outbox.failures) > 0 or outbox.error is not None, "the outbox to see the outage")
            by_primary = {k: a for k, a in outbox.acked.items() if a["by"] == "primary"}

            promote_s = standby.promote()
            new = Store(standby.url)  # the back office repointed (its schema is the primary's: nothing to migrate)
            outbox.repoint(new, "standby")
            _wait(lambda: not outbox.thread.is_alive(), "the burst to finish on the promoted standby")
        finally:
            outbox.stop.set()
            outbox.thread.join(30)
        assert outbox.error is None, repr(outbox.error)
        first_on_standby = min(a["at"] for a in outbox.acked.values() if a["by"] == "standby")
        failover_s = first_on_standby - killed_at

        # the kill came partway through and the outbox met it: sends went unacknowledged, each with a named error
        assert BURST // 2 <= len(by_primary) < BURST
        assert outbox.failures, "no send failed: the primary was not killed in the middle of the burst"
        assert {name for _, name, _ in outbox.failures} == {DatabaseUnavailableError.__name__}
        # the old primary is gone for good: a back office still pointed at it cannot write there
        with pytest.raises(DatabaseUnavailableError):
            Store(primary.url)

        result = audit(new, outbox.acked)
        assert result == {"lost": [], "duplicated": [], "changed": [], "events": BURST, "keys": BURST}
        assert set(outbox.acked) == {_key(i) for i in range(BURST)}
        replayed = sorted(k for k, a in outbox.acked.items() if a["replayed"])
        # a replay happens only for a send whose commit reached the standby but whose answer was lost in the kill
        assert set(replayed) <= {k for k, _, _ in outbox.failures}
        old.close()
        new.close()
    with capsys.disabled():
        print(f"\nfailover: standby setup {setup_s:.2f} s; {len(by_primary)} of {BURST} events acknowledged by the "
              f"primary before SIGKILL; {len(outbox.failures)} unacknowledged sends retried ({len(replayed)} replayed"
              f"); promote {promote_s:.2f} s; kill -> first write accepted on the promoted standby {failover_s:.2f} s")


@pytest.mark.slow
def test_an_asynchronous_standby_loses_what_it_had_not_received(primary):
    """The negative control: the same audit fails when the standby is not synchronous. The standby streams
    asynchronously, catches up, stops streaming (a slow or cut link); the primary keeps acknowledging; it dies;
    the promoted standby lacks exactly the events acknowledged after the link went."""
    with standby_of(primary, name="standby_b", synchronous=False) as standby:
        assert standby.replication_state() == ("streaming", "async")
        old = Store(primary.url)
        outbox = Outbox(old, "primary", 40)
        for i in range(20):
            outbox.send(i)
        standby.wait_caught_up()
        standby.detach()
        for i in range(20, 40):
            outbox.send(i)  # acknowledged at once: nothing waits for the standby
        assert len(outbox.acked) == 40 and not outbox.failures
        crash(primary)
        standby.promote()
        new = Store(standby.url)
        result = audit(new, outbox.acked)
        assert result["lost"] == [_key(i) for i in range(20, 40)]
        assert (result["duplicated"], result["changed"], result["events"]) == ([], [], 20)
        old.close()
        new.close()


@pytest.mark.slow
def test_a_synchronous_standby_that_does_not_stream_holds_the_acknowledgement(primary):
    """Why nothing acknowledged is lost: while the synchronous standby does not stream, a send commits on the
    primary but is not acknowledged; it is once the standby streams again, and then it is on the standby."""
    with standby_of(primary, name="standby_c", synchronous=True) as standby:
        store = Store(primary.url)
        outbox = Outbox(store, "primary", 2)
        outbox.send(0)
        conninfo = standby.detach()
        waiting = threading.Thread(target=outbox.send, args=(1,), daemon=True)
        waiting.start()
        _wait(lambda: _waiting_for_sync_rep(primary) > 0 or not waiting.is_alive(),
              "the send's COMMIT to wait for the synchronous standby")
        waiting.join(1)
        assert waiting.is_alive() and _key(1) not in outbox.acked, "acknowledged without the synchronous standby"
        assert _waiting_for_sync_rep(primary) == 1
        standby.attach(conninfo)
        waiting.join(PATIENCE_S)
        assert not waiting.is_alive() and _key(1) in outbox.acked
        standby.wait_caught_up()
        assert _event_id_on(standby, _key(1)) == outbox.acked[_key(1)]["id"]
        store.close()


def _waiting_for_sync_rep(cluster) -> int:
    """How many of the cluster's backends wait for a synchronous standby to confirm their COMMIT."""
    import psycopg

    with psycopg.connect(cluster.superuser_url, connect_timeout=10) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'").fetchone()[0]


def test_the_audit_finds_lost_duplicated_and_changed_events():
    """The audit the failover test relies on can fail: an acknowledged event missing, an event stored twice (a
    second row no key points at, as a retry under a new key would leave), a key answered with another event."""
    store = Store(None)
    outbox = Outbox(store, "sqlite", 3)
    for i in range(3):
        outbox.send(i)
    assert audit(store, outbox.acked) == {"lost": [], "duplicated": [], "changed": [], "events": 3, "keys": 3}
    with store.tx() as db:
        db.execute(text("DELETE FROM events WHERE id = :id"), {"id": outbox.acked[_key(0)]["id"]})
        row = db.first(text("SELECT * FROM events WHERE id = :id"), {"id": outbox.acked[_key(1)]["id"]})
        db.insert("events", {**row, "id": "evt_again"})
    acked = {**outbox.acked, _key(2): {**outbox.acked[_key(2)], "id": "evt_other"}}
    result = audit(store, acked)
    assert (result["lost"], result["duplicated"], result["changed"]) == ([_key(0), _key(2)], ["evt_again"], [_key(2)])
    store.close()


def _event_id_on(standby, key: str) -> str | None:
    """The event id stored under ``key`` on a standby still in recovery (read-only: no Store, which migrates)."""
    import json

    import psycopg

    with psycopg.connect(standby.url, connect_timeout=10) as conn:
        row = conn.execute("SELECT response FROM idempotency WHERE principal = %s AND key = %s",
                           (GATE.actor, key)).fetchone()
    return None if row is None else json.loads(row[0])["id"]
