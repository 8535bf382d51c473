"""The privacy package on both backends: SQLite files and a throwaway PostgreSQL server (``postgres_db`` for the
data, ``postgres_keys_db`` for the vault's key store: a second database and role). Issue #24 increment 4."""

from __future__ import annotations

import datetime as dt
import os
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from privacy import Ledger, RawKek, SubjectShreddedError, Vault, envelope_key_id, open_privacy
from privacy._retention import PURGE_LOCK
from storage import LockBusyError, session_lock
from tests.privacy.conftest import T0, Clock

KEY = Ed25519PrivateKey.generate()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path):
    """(data, keys): two SQLite files, or two PostgreSQL databases with a role each."""
    if request.param == "sqlite":
        return tmp_path / "data" / "d.db", tmp_path / "keys" / "k.db"
    return request.getfixturevalue("postgres_db"), request.getfixturevalue("postgres_keys_db")


def _rotating() -> RawKek:
    return RawKek(os.urandom(32))


def _close(*objs) -> None:
    for o in objs:
        o.db.close()


def test_the_ledger_chains_signs_detects_and_prunes(backend):
    data, _ = backend
    clock = Clock()
    lg = Ledger(data, KEY, clock=clock, checkpoint_every=4)
    try:
        for i in range(6):
            lg.append("user:a", "border_guard", "read", f"exc-{i}", "border_exception_review", "law",
                      subject_id="subj-1" if i % 2 else None, details={"i": i})
        with lg.batch():
            for i in range(6, 9):
                lg.append("user:a", "border_guard", "read", f"exc-{i}", "border_exception_review", "law")
        cp = lg.checkpoint()
        assert len(lg) == 10 and cp.seq == 10 and lg.head().seq == 10  # the creation entry, then 9
        assert [e.seq for e in lg.entries(after_seq=7, limit=2)] == [8, 9] and len(lg.entries()) == 10
        assert [e.record for e in lg.tail(2)] == ["exc-7", "exc-8"] and len(lg.for_subject("subj-1")) == 3
        assert lg.find("read", "exc-3").seq == 5 and lg.verify().ok
        with lg.db.tx() as db:  # an edit made directly in the database
            db.execute(text("UPDATE ledger_entries SET record = 'edited' WHERE seq = 4"))
        v = lg.verify()
        assert not v.ok and v.first_bad_index == 4
        with lg.db.tx() as db:
            db.execute(text("UPDATE ledger_entries SET record = 'exc-2' WHERE seq = 4"))
        clock.travel(days=1)
        lg.append("user:a", "border_guard", "read", "exc-9", "border_exception_review", "law")
        assert lg.prune(T0 + dt.timedelta(hours=1), batch=3) == 10
        assert lg.entries()[0].seq == 11 and lg.verify().ok
    finally:
        _close(lg)


def test_the_vault_seals_opens_shreds_and_rotates(backend):
    _, keys = backend
    kek = RawKek(bytes(range(32)))
    vault = Vault(keys, kek)
    try:
        a = vault.seal("subj-a", "template", "enr-1", b"face A")
        b = vault.seal("subj-b", "template", "enr-2", b"face B")
        assert vault.open("subj-a", "template", "enr-1", a) == b"face A"
        # PostgreSQL: no unwrapped data key stays in memory (another worker may shred it); SQLite: an LRU cache
        assert (len(vault._cache) > 0) == (vault.db.dialect == "sqlite")
        assert vault.pseudonym("C1234567", "VNM") == vault.pseudonym("c123 4567", "vnm")
        assert vault.shred("subj-a") is True and vault.shred("subj-a") is False and vault.is_shredded("subj-a")
        with pytest.raises(SubjectShreddedError):
            vault.open("subj-a", "template", "enr-1", a)
        new = _rotating()
        assert vault.rotate_kek(new) >= 2  # the live data key and the pseudonymisation secret
        assert vault.open("subj-b", "template", "enr-2", b) == b"face B"
        assert vault.db.query(text("SELECT DISTINCT kek_id FROM vault_keys UNION SELECT DISTINCT kek_id FROM "
                                   "vault_secrets")) == [{"kek_id": new.key_id}]
        assert vault.shred_keys([envelope_key_id(b)]) == 1
        with pytest.raises(SubjectShreddedError):
            vault.open("subj-b", "template", "enr-2", b)
    finally:
        _close(vault)


def test_retention_subjects_and_the_purge(backend):
    data, keys = backend
    clock = Clock()
    p = open_privacy(data, keys, RawKek(bytes(range(32))), clock=clock, next_kek=_rotating)
    try:
        subject = p.vault.pseudonym("C1234567", "VNM")
        ref = p.seal_item(subject, "live_image", "tx-1", b"\xff\xd8\xff image", ended=T0)
        p.seal_item(subject, "enrolment_record", "enr-1", b'{"name": "NGUYEN"}', last_exit=T0)
        p.subjects.record_consent("C1234567", "enrolment", True, text_version="v1", issuing_state="VNM",
                                  actor="kiosk-01")
        assert p.subjects.has_consent(subject, "enrolment") and len(p.subjects.consents(subject)) == 1
        out = p.subjects.export_subject("C1234567", issuing_state="VNM")
        assert {i["category"] for i in out["items"]} == {"live_image", "enrolment_record"}
        clock.travel(days=400)  # the live image is due (at its transaction's end), the enrolment record is not
        dry = p.retention.purge(dry_run=True)
        assert dry.purged == 1 and dry.by_category == {"live_image": 1}
        envelope = p.retention.get(ref).payload
        report = p.retention.purge()
        assert report.purged == 1 and report.keys_shredded == 1 and report.complete, report
        assert report.ids_sha256 == dry.ids_sha256
        with pytest.raises(SubjectShreddedError):
            p.vault.open(subject, "live_image", "tx-1", envelope)
        assert [r["dry_run"] for r in p.retention.runs()] == [False, True]
        erased = p.subjects.erase_subject("C1234567", issuing_state="VNM")
        assert erased["key_shredded"] and erased["items_removed"] == 1 and erased["consents_removed"] == 1
        assert p.retention.items_of_subject(subject) == [] and p.ledger.verify().ok
        actions = [e.action for e in p.ledger.entries()]
        assert "retention_purge" in actions and "subject_erasure" in actions
    finally:
        _close(p.vault, p.ledger)


def test_a_duplicate_item_reference_is_a_named_error_and_leaves_the_transaction_usable(backend):
    from privacy import RetentionError, RetentionStore

    data, _ = backend
    r = RetentionStore(data)
    try:
        with r.db.tx():
            r.register("exception", "exc-1", ref="itm_1")
            with pytest.raises(RetentionError, match="already registered"):
                r.register("exception", "exc-2", ref="itm_1")
            r.register("exception", "exc-3", ref="itm_3")  # the savepoint went, the transaction goes on
        assert sorted(i.record_id for i in (r.get("itm_1"), r.get("itm_3"))) == ["exc-1", "exc-3"]
    finally:
        _close(r)


def test_a_verification_while_another_worker_appends_sees_one_consistent_state(backend):
    """Verification reads the signatures and the chain in one snapshot: entries another worker (another connection)
    appends meanwhile never show up as an unsigned tail (on PostgreSQL each statement would otherwise see newer
    commits; on SQLite the chunks of the chain were read in separate transactions)."""
    data, _ = backend
    writer, reader = Ledger(data, KEY), Ledger(data, KEY)
    done, failures = threading.Event(), []

    def append() -> None:
        try:
            for i in range(150):
                writer.append("user:a", "border_guard", "read", f"exc-{i}", "review", "law")
        finally:
            done.set()

    t = threading.Thread(target=append)
    t.start()
    checks = 0
    try:
        while not done.is_set() or checks < 3:
            v = reader.verify()
            checks += 1
            if not v.ok:
                failures.append(v.reason)
    finally:
        t.join(120)
        _close(writer, reader)
    assert checks >= 3 and not failures, failures[:3]


# --- PostgreSQL only: what several workers need ---

def test_a_second_purge_is_refused_by_name(postgres_db, postgres_keys_db):
    p = open_privacy(postgres_db, postgres_keys_db, RawKek(bytes(range(32))), clock=Clock(), next_kek=_rotating)
    try:
        with session_lock(p.retention.db.engine, PURGE_LOCK):  # another worker's purge is running
            with pytest.raises(LockBusyError, match="privacy.retention.purge"):
                p.retention.purge()
        assert p.retention.purge().complete  # once it ended, a purge runs
    finally:
        _close(p.vault, p.ledger)


def test_two_workers_appending_at_once_keep_one_linear_chain(postgres_db):
    """Two threads, each with its own Ledger and pool (as two workers), append at once: the advisory lock makes the
    chain linear (no duplicate seq, no head signed over another's entry) and it verifies."""
    Ledger(postgres_db, KEY).db.close()  # the creation entry
    per_worker, errors = 40, []
    start = threading.Barrier(2)

    def worker(name: str) -> None:
        lg = Ledger(postgres_db, KEY, checkpoint_every=7)
        try:
            start.wait()
            for i in range(per_worker):
                if i % 10 == 9:
                    with lg.batch():
                        lg.append(f"user:{name}", "border_guard", "read", f"{name}-{i}", "review", "law")
                        lg.append(f"user:{name}", "border_guard", "read", f"{name}-{i}b", "review", "law")
                else:
                    lg.append(f"user:{name}", "border_guard", "read", f"{name}-{i}", "review", "law")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            lg.db.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    lg = Ledger(postgres_db, KEY)
    try:
        entries = lg.entries()
        expected = 1 + 2 * (per_worker + per_worker // 10)
        assert [e.seq for e in entries] == list(range(1, expected + 1))
        assert {e.actor for e in entries[1:]} == {"user:a", "user:b"}
        assert all(e.prev_hash == p.entry_hash for p, e in zip(entries, entries[1:], strict=False))
        assert lg.head().seq == expected and lg.verify().ok
        mixed = [e.actor for e in entries[1:]]
        assert any(x != y for x, y in zip(mixed, mixed[1:], strict=False))  # the two really interleaved
    finally:
        lg.db.close()
