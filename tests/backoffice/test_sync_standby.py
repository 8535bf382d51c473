"""An idempotent record whose COMMIT the synchronous standby never confirmed (its wait cancelled: PostgreSQL
commits on the primary only) is answered 503 (storage.commit_unconfirmed), and the device's retry with the same
Idempotency-Key is not acknowledged either until the standby has confirmed the WAL up to the record: the replay's
transaction gets a transaction id, so its COMMIT waits for the standby as the record's did (issue #24)."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from backoffice import Store
from backoffice._idempotency import run_idempotent
from storage import DatabaseUnavailableError


def _waiting(su, timeout: float = 30) -> list[int]:
    """The backends waiting for the synchronous standby."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [r[0] for r in su.exec_driver_sql("SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'")]
        if pids:
            return pids
        time.sleep(0.05)
    return []


def _in_thread(fn) -> tuple[threading.Thread, list]:
    out: list = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as e:  # noqa: BLE001 - the test looks at it
            out.append(e)

    t = threading.Thread(target=run)
    t.start()
    return t, out


def test_a_record_the_standby_did_not_confirm_is_not_acknowledged_by_its_replay_either():
    from storage.testing import postgres_cluster
    from tests.conftest import postgres_bin_or_skip

    with postgres_cluster(bin_dir=postgres_bin_or_skip(), settings={"synchronous_commit": "on"}) as cluster:
        admin = sa.create_engine(sa.make_url(cluster.superuser_url).set(
            drivername="postgresql+psycopg", database=sa.make_url(cluster.url).database), isolation_level="AUTOCOMMIT")
        store = Store(cluster.url)
        created = []

        def create(db):
            db.execute(sa.text("INSERT INTO events (id, device_id, occurred_at, received_at, kind, outcome, "
                               "reason_codes) VALUES ('e1', 'gate-01', '2026-12-07T08:00:00Z', "
                               "'2026-12-07T08:00:01Z', 'transaction', 'admitted', '[]')"))
            created.append(1)
            return 201, {"id": "e1"}

        def post():
            return run_idempotent(store, "device:gate-01", "evt-1", {"id": "e1"}, create)

        with admin.connect() as su:
            su.exec_driver_sql("ALTER SYSTEM SET synchronous_standby_names = 'ghost'")  # it never connects
            su.exec_driver_sql("SELECT pg_reload_conf()")
            time.sleep(0.3)
            for attempt in ("the record", "its replay"):
                thread, out = _in_thread(post)
                pids = _waiting(su)
                assert pids, f"{attempt}'s commit did not wait for the standby"
                su.exec_driver_sql(f"SELECT pg_cancel_backend({int(pids[0])})")
                thread.join(30)
                assert len(out) == 1 and isinstance(out[0], DatabaseUnavailableError), (attempt, out)
            assert created == [1]  # stored once, on the primary; never acknowledged
            thread, out = _in_thread(post)  # the retry while the standby is still away: it waits
            assert _waiting(su)
            su.exec_driver_sql("ALTER SYSTEM RESET synchronous_standby_names")  # the standby's confirmation
            su.exec_driver_sql("SELECT pg_reload_conf()")
            thread.join(30)
            assert len(out) == 1 and not isinstance(out[0], BaseException), out
            assert (out[0].status_code, out[0].body, out[0].replayed) == (201, {"id": "e1"}, True)
            assert created == [1]
        store.close()
        admin.dispose()




def test_an_unconfirmed_commit_and_a_busy_database_answer_503_with_retry_after(world, monkeypatch):
    """The API's answers: an unconfirmed commit is a 503 naming it (the device retries with its key); a pool with
    no free connection (each waiting for the standby, say) or a lock held too long is a 503, not a 500."""
    from sqlalchemy.exc import TimeoutError as PoolTimeoutError

    from storage import CommitUnconfirmedError, DatabaseBusyError

    body = {"document_number": "B1234567", "issuing_state": "VNM"}
    for error, slug in ((CommitUnconfirmedError("not confirmed"), "commit-unconfirmed"),
                        (DatabaseBusyError("busy"), "database-busy"),
                        (PoolTimeoutError("QueuePool limit of size 5 overflow 10 reached"), "database-busy")):
        def fail(*_a, error=error, **_k):
            raise error

        monkeypatch.setattr(world.ctx.watchlist, "check", fail)
        r = world.client.post("/api/v1/watchlist/check", json=body, headers=world.h("border_guard"))
        assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
        assert r.json()["type"].endswith("/" + slug) and "QueuePool" not in r.text
