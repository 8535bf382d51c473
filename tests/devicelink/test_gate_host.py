"""The outbox on a connection its host owns: the gate's store writes a transaction's row and its outbox
items in one SQLite transaction (a gate killed in between leaves nothing partial), sealed by the vault
beside the gate's database and shredded once delivered."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sqlite3

import pytest

from devicelink import Outbox, VaultSealer
from gate import FaceOutcome, GateStore, GateWorkflow, StoreError
from gate.testing import verified_chip
from privacy import RawKek, SubjectShreddedError, Vault
from storage import MigrationError, migrate, open_database
from tests.devicelink.conftest import FakeBackoffice
from tests.gate.test_store_and_workflow import Clock, LoggingDoor, fresh_store, open_store, steps


def refer(store, live=b"LIVE-JPEG-BYTES", chip=b"chip-jpeg"):
    """One impostor through the gate: an event and an exception record with the images."""
    wf = GateWorkflow(steps(face=lambda c: FaceOutcome(True, True, 0.1, 0.6, live, liveness_path="passive+challenge"),
                            chip=lambda p: verified_chip(dg2_image=chip)), LoggingDoor(), store,
                      gate_id="g1", clock=Clock())
    try:
        return wf.process()
    finally:
        wf.close()


def test_the_gate_store_uses_the_one_outbox_class():
    store = fresh_store()
    result = refer(store)
    assert type(store.outbox) is Outbox
    assert [(i.kind, i.ref) for i in store.outbox.pending()] == [("event", result.transaction_id),
                                                                ("exception", result.transaction_id)]
    assert list(result.outbox_ids) == store.outbox.pending_ids()


def _run_and_hang(path):
    store = open_store(path)
    store.apply_watchlist_changes([], new_version=1)

    def hang(p):
        os.kill(os.getpid(), signal.SIGKILL)

    GateWorkflow(steps(chip=hang), LoggingDoor(), store, gate_id="g1").process()


def _kill_between_the_row_and_its_items(path):
    """The transaction's row is written, then the process dies before its outbox items and the COMMIT."""
    store = open_store(path)
    real_put = store.outbox.put

    def put(kind, payload, **kw):
        real_put(kind, payload, **kw)
        os.kill(os.getpid(), signal.SIGKILL)

    store.outbox.put = put
    refer(store)


@pytest.mark.parametrize("target", [_run_and_hang, _kill_between_the_row_and_its_items])
def test_killed_mid_transaction_leaves_nothing_partial(tmp_path, target):
    path = tmp_path / "gate.db"
    store = fresh_store(path)
    GateWorkflow(steps(), LoggingDoor(), store, gate_id="g1").process()
    before = store.outbox.pending_count()
    proc = mp.get_context("spawn").Process(target=target, args=(str(path),))
    proc.start()
    proc.join(60)
    assert proc.exitcode == -signal.SIGKILL
    reopened = open_store(path)
    assert reopened.outbox.pending_count() == before == 1
    assert len(reopened.transactions()) == 1


def test_outbox_is_sealed_by_the_vault_and_shredded_after_delivery(tmp_path):
    vault = Vault(tmp_path / "vault.db", RawKek(bytes(range(32))))
    store = GateStore(tmp_path / "gate.db", sealer=VaultSealer(vault), clock=Clock())
    store.apply_watchlist_changes([], 1)
    refer(store)
    raw = sqlite3.connect(tmp_path / "gate.db").execute("SELECT id, payload FROM devicelink_outbox").fetchall()
    assert raw and all(b"LIVE" not in bytes(p) and b"C1234567" not in bytes(p) for _, p in raw)
    backup = {i: bytes(p) for i, p in raw}  # a copy of the database taken before delivery
    exc = [i for i in store.outbox.pending() if i.kind == "exception"][0]
    assert exc.payload["reason_codes"] == ["face_mismatch"]
    store.outbox.mark_delivered(exc.id)
    with pytest.raises(SubjectShreddedError):
        VaultSealer(vault).open(exc.id, backup[exc.id])


def test_delivered_items_lose_their_payload():
    store = fresh_store()
    refer(store)
    report = store.outbox.deliver(FakeBackoffice())
    assert len(report.delivered) == 2 and store.outbox.pending_count() == 0
    count, longest = store.db.execute("SELECT COUNT(*), MAX(length(payload)) FROM devicelink_outbox").fetchone()
    assert count == 2 and longest == 0


def test_a_gate_database_on_disk_refuses_to_open_without_a_sealer(tmp_path):
    with pytest.raises(StoreError, match="sealer"):
        GateStore(tmp_path / "gate.db")


def test_in_memory_store_seals_outbox_payloads_by_default():
    store = fresh_store()
    refer(store, live=b"LIVE-IMAGE-BYTES")
    raw = b"".join(bytes(r[0]) for r in store.db.execute("SELECT payload FROM devicelink_outbox"))
    assert raw and b"face_mismatch" not in raw and b"TElWRS1JTUFHRS1CWVRFUw" not in raw
    assert any(i.payload["reason_codes"] == ["face_mismatch"] for i in store.outbox.pending())


def test_a_database_of_the_previous_outbox_format_upgrades_only_when_nothing_waits(tmp_path):
    from gate._store import MIGRATIONS

    for waiting in (False, True):
        path = tmp_path / f"old-{waiting}.db"
        db = open_database(path)
        migrate(db, MIGRATIONS[:1])  # a gate database as the previous version left it
        db.execute("INSERT INTO gate_outbox (id, seq, kind, payload, created_at, delivered_at) VALUES "
                   "('a', 1, 'event', X'', '2026-01-01', '2026-01-01')")
        if waiting:
            db.execute("INSERT INTO gate_outbox (id, seq, kind, payload, created_at) VALUES "
                       "('b', 2, 'exception', X'01', '2026-01-01')")
        db.conn.close()
        if waiting:
            with pytest.raises(MigrationError, match="not delivered"):
                open_store(path)
        else:
            store = open_store(path)
            tables = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            assert "gate_outbox" not in tables and "devicelink_outbox" in tables
