"""The one sealed outbox: items in order, exactly once at the back office, parked when refused, waiting
when it is unavailable, sealed on disk and shredded once delivered."""

from __future__ import annotations

import os
import sqlite3
import threading

import pytest

from devicelink import Outbox, OutboxCorrupted, OutboxError, VaultSealer
from privacy import RawKek, SubjectShreddedError, Vault
from storage import migrate, open_database
from tests.devicelink.conftest import FakeBackoffice

KEK = bytes(range(32))


def on_disk(directory, kek: bytes = KEK) -> Outbox:
    """As the kiosk's composition builds it: ``outbox.db`` beside its vault's key store."""
    return Outbox(directory / "outbox.db", sealer=VaultSealer(Vault(directory / "outbox-vault.db", RawKek(kek))))


def raw_bytes(directory) -> bytes:
    """Everything the outbox database left on disk (the file and its write-ahead log)."""
    return b"".join(p.read_bytes() for p in directory.glob("outbox.db*"))


def test_items_go_in_order_and_reach_the_back_office_once_across_outages():
    box, bo = Outbox(), FakeBackoffice()
    ids = [box.put(kind, {"n": n}) for n, kind in enumerate(["event", "exception", "enrolment"] * 3)]
    assert box.pending_ids() == ids and len(box) == 9
    bo.down = True
    report = box.deliver(bo)
    assert not report.reachable and report.error == "BackofficeUnavailable" and report.pending == 9
    bo.down, bo.fail_after, bo.calls = False, 4, []  # back, then drops mid-round
    report = box.deliver(bo)
    assert list(report.delivered) == ids[:4] and report.pending == 5 and not report.reachable
    bo.fail_after = None
    report = box.deliver(bo)
    assert list(report.delivered) == ids[4:] and report.reachable and report.pending == 0
    assert report.delivered[ids[4]] == f"stored:{ids[4]}"  # the back office's answer, per item
    assert [k for k in bo.received] == ids and [bo.received[i][1]["n"] for i in ids] == list(range(9))
    assert (report.count("event"), report.count("exception"), report.count("enrolment")) == (1, 2, 2)
    assert box.deliver(bo).delivered == {}  # nothing twice


def test_refused_items_are_parked_and_never_block_the_queue():
    box, bo = Outbox(), FakeBackoffice(reject_kind="exception")
    first, refused, last = box.put("event", {"a": 1}), box.put("exception", {"b": 2}), box.put("enrolment", {"c": 3})
    report = box.deliver(bo)
    assert list(report.delivered) == [first, last] and list(report.parked) == [refused] and report.pending == 0
    [parked] = box.parked()
    assert (parked.id, parked.kind) == (refused, "exception") and "schema violation" in parked.error
    assert box.load(refused) == {"b": 2}  # kept, still sealed, for an operator
    bo.reject_kind = None
    assert box.deliver(bo).delivered == {} and refused not in bo.received  # never retried


def test_a_refused_credential_stops_the_round_and_says_so():
    box, bo = Outbox(), FakeBackoffice(auth_refused=True)
    ids = [box.put("event", {"n": n}) for n in range(3)]
    report = box.deliver(bo)
    assert report.reachable and report.error == "BackofficeAuthError" and report.pending == 3
    assert bo.calls == ids[:1] and [i.attempts for i in box.pending()] == [1, 0, 0]


def test_an_unreadable_item_is_parked_and_the_rest_delivered():
    box, bo = Outbox(), FakeBackoffice()
    bad, good = box.put("event", {"a": 1}), box.put("event", {"b": 2})
    box.db.execute("UPDATE devicelink_outbox SET payload = CAST(X'00' || payload AS BLOB) WHERE id = ?", (bad,))
    with pytest.raises(OutboxCorrupted):
        box.load(bad)
    report = box.deliver(bo)
    assert list(report.delivered) == [good] and list(report.parked) == [bad] and bad not in bo.calls


def test_payloads_are_sealed_on_disk_and_shredded_once_delivered(tmp_path):
    box = on_disk(tmp_path)
    item = box.put("exception", {"document": {"document_number": "C1234567"}, "live_image": "TElWRS1KUEVH"})
    on_disk_before = raw_bytes(tmp_path)
    assert item.encode() in on_disk_before
    assert b"C1234567" not in on_disk_before and b"TElWRS1KUEVH" not in on_disk_before
    sealed = bytes(sqlite3.connect(tmp_path / "outbox.db").execute(
        "SELECT payload FROM devicelink_outbox WHERE id = ?", (item,)).fetchone()[0])  # a backup taken now
    with pytest.raises(OutboxCorrupted):  # the same files under another KEK
        on_disk(tmp_path, kek=os.urandom(32)).load(item)
    reopened = on_disk(tmp_path)
    assert reopened.load(item)["document"]["document_number"] == "C1234567"
    assert list(reopened.deliver(FakeBackoffice()).delivered) == [item]
    assert reopened.db.execute("SELECT length(payload) FROM devicelink_outbox").fetchone()[0] == 0
    with pytest.raises(SubjectShreddedError):  # the backup's copy is unreadable for good
        reopened.sealer.open(item, sealed)
    with pytest.raises(OutboxError, match="delivered"):
        reopened.load(item)


def test_on_disk_an_outbox_needs_a_sealer_in_memory_it_seals_under_an_ephemeral_key(tmp_path):
    with pytest.raises(OutboxError, match="sealer"):
        Outbox(tmp_path / "outbox.db")
    box = Outbox()
    box.put("exception", {"reason_codes": ["face_mismatch"]})
    raw = b"".join(bytes(r[0]) for r in box.db.execute("SELECT payload FROM devicelink_outbox"))
    assert raw and b"face_mismatch" not in raw
    assert box.pending()[0].payload == {"reason_codes": ["face_mismatch"]}


def test_kinds_and_ids_are_checked():
    box = Outbox()
    with pytest.raises(OutboxError, match="kind"):
        box.put("selfie", {})
    for bad in ("", "has space", "x" * 201, "é"):
        with pytest.raises(OutboxError, match="id"):
            box.put("event", {}, item_id=bad)
    item = box.put("event", {}, item_id="evt-1")
    with pytest.raises(OutboxError, match="evt-1"):
        box.put("event", {}, item_id="evt-1")
    with pytest.raises(OutboxError):
        box.put("event", {"not json": object()})
    assert box.pending_ids() == [item]
    with pytest.raises(OutboxError, match="no outbox item"):
        box.load("evt-2")


def test_on_a_host_connection_items_join_the_hosts_transaction():
    db = open_database(memory=True)
    with pytest.raises(OutboxError, match="MIGRATIONS"):
        Outbox(db=db)
    import devicelink

    migrate(db, [*devicelink.MIGRATIONS])
    lock = threading.RLock()
    box = Outbox(db=db, lock=lock)
    db.execute("CREATE TABLE host_rows (id TEXT)")
    with lock:
        db.conn.execute("BEGIN IMMEDIATE")
        db.conn.execute("INSERT INTO host_rows VALUES ('t1')")
        box.put("event", {"n": 1}, ref="t1")
        db.conn.execute("ROLLBACK")  # the host gives up: its items go with it
    assert box.pending_count() == 0
    with lock:
        db.conn.execute("BEGIN IMMEDIATE")
        db.conn.execute("INSERT INTO host_rows VALUES ('t2')")
        item = box.put("event", {"n": 2}, ref="t2")
        db.conn.execute("COMMIT")
    assert [(i.id, i.ref) for i in box.pending()] == [(item, "t2")]


def test_concurrent_delivery_rounds_deliver_each_item_once():
    box = Outbox()
    ids = [box.put("enrolment", {"n": n}) for n in range(20)]

    class Slow(FakeBackoffice):
        def deliver(self, kind, payload, key):
            threading.Event().wait(0.005)
            return super().deliver(kind, payload, key)

    bo = Slow()
    reports: list = []
    threads = [threading.Thread(target=lambda: reports.append(box.deliver(bo))) for _ in range(3)]
    threads.append(threading.Thread(target=lambda: reports.append(box.deliver(bo, only=ids[7]))))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    delivered = [i for r in reports for i in r.delivered]
    assert sorted(delivered) == sorted(ids) and bo.calls == list(dict.fromkeys(bo.calls)) and box.pending_count() == 0


def test_items_put_during_a_round_are_delivered_in_the_same_round():
    box = Outbox()
    first = box.put("event", {"n": 0})
    added = []

    class Busy(FakeBackoffice):
        def deliver(self, kind, payload, key):
            if len(added) < 2:
                added.append(box.put("event", {"n": len(added) + 1}))
            return super().deliver(kind, payload, key)

    bo = Busy()
    assert list(box.deliver(bo).delivered) == [first, *added] and box.pending_count() == 0
