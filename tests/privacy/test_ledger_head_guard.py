"""A write never signs silently over a chain its stored head does not cover: before signing, the ledger compares
the stored head with the chain's end and records what it found (``ledger_head_mismatch``, in the chain, before the
caller's entry); verification fails while that entry is there. The known limit this closes: an attacker truncates
the ledger and deletes the head, and the next legitimate write signed the shortened chain."""

import json
import logging

import pytest

from privacy import Ledger, verify_export
from privacy._schema import connect
from privacy._verify_export import GENESIS, checkpoint_message, entry_hash, key_id_of
from tests.privacy.test_ledger_tail import KEY, fill, rehash_from, sql


@pytest.fixture()
def ledger(tmp_path, clock):
    """12 entries (the creation entry, exc-2..exc-12), checkpoints at 5 and 10, the head at 12."""
    lg = Ledger(tmp_path / "ledger.db", KEY, clock=clock, checkpoint_every=5)
    fill(lg, clock, 11, start=2)
    return lg


def write(lg):
    return lg.append("user:officer", "border_guard", "read", "exc-next", "border_exception_review", "law")


def mismatch(lg):
    found = [e for e in lg.entries() if e.action == "ledger_head_mismatch"]
    assert len(found) == 1, found
    return found[0], json.loads(found[0].details)


def test_an_intact_ledger_records_nothing(ledger):
    for _ in range(3):
        write(ledger)
    with ledger.batch():
        write(ledger)
        write(ledger)  # inside a batch the head lags on purpose: not a mismatch
    assert not [e for e in ledger.entries() if e.action.startswith("ledger_head")]
    assert ledger.verify().ok


def test_truncated_with_the_head_left_is_recorded_by_the_next_write(ledger, caplog):
    head = ledger.head()
    sql(ledger, "DELETE FROM ledger_entries WHERE seq > 9")
    sql(ledger, "DELETE FROM ledger_checkpoints WHERE seq > 9")
    with caplog.at_level(logging.ERROR, logger="privacy.ledger"):
        e = write(ledger)
    found, details = mismatch(ledger)
    assert found.seq == 10 and e.seq == 11  # the finding first, then the caller's entry
    assert details == {"found": "ahead", "head_seq": 12, "head_hash": head.entry_hash, "chain_end_seq": 9,
                       "chain_end_hash": ledger.entries()[8].entry_hash}
    assert "truncated before entry 10" in caplog.text
    v = ledger.verify()  # the chain is signed again (the head covers entry 11), but the finding is in it
    assert not v.ok and v.first_bad_index == 10 and v.signed_through == 11
    assert v.reason == ("the ledger found its signed head (entry 12) ahead of its chain (ending at entry 9): truncated "
                        "before entry 10 (ledger_head_mismatch at entry 10)")
    write(ledger)  # recorded once; the ledger keeps working
    assert mismatch(ledger)[0].seq == 10 and not ledger.verify().ok
    # deleting the finding breaks the chain; the export carries it to the standalone verifier
    path = ledger.export(str(ledger.db.url.database) + ".jsonl")
    v = verify_export(path, ledger.public_key_b64)
    assert not v.ok and "ledger_head_mismatch at entry 10" in v.reason


def test_truncated_and_the_head_deleted_is_recorded(ledger):
    """The known limit: cut back to entry 8 (no signature past it left), head deleted. Without a write the
    database alone cannot tell; the next write no longer signs the shortened chain silently."""
    sql(ledger, "DELETE FROM ledger_entries WHERE seq > 8")
    sql(ledger, "DELETE FROM ledger_checkpoints WHERE seq > 8")
    sql(ledger, "DELETE FROM ledger_head")
    write(ledger)
    found, details = mismatch(ledger)
    assert found.seq == 9 and details["found"] == "missing" and details["head_seq"] is None
    assert details["chain_end_seq"] == 8
    v = ledger.verify()
    assert not v.ok and v.first_bad_index == 9 and "no signed head over its chain (ending at entry 8)" in v.reason


def test_a_rewritten_chain_under_the_head_is_recorded(ledger):
    sql(ledger, "UPDATE ledger_entries SET purpose = 'forged' WHERE seq = 11")
    rehash_from(ledger, 11)
    write(ledger)
    found, details = mismatch(ledger)
    assert found.seq == 13 and details["found"] == "rewritten" and details["head_seq"] == 12
    v = ledger.verify()  # the signed checkpoints and head still name the rewrite itself first
    assert not v.ok and "rewritten" in v.reason


def test_entries_added_without_the_key_are_not_signed_over(ledger):
    prev = ledger.tail(1)[0].entry_hash
    forged = {"seq": 13, "at": "2026-03-01T09:00:00.000000Z", "actor": "user:intruder", "role": "admin",
              "action": "read", "record": "exc-x", "purpose": "p", "legal_basis": "b", "subject_id": None,
              "details": None}
    sql(ledger, "INSERT INTO ledger_entries (seq, at, actor, role, action, record, purpose, legal_basis, subject_id, "
                "details, prev_hash, entry_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", *forged.values(), prev,
        entry_hash(prev, forged))
    with ledger.batch():  # a batch checks once, at its start
        write(ledger)
        write(ledger)
    found, details = mismatch(ledger)
    assert found.seq == 14 and details["found"] == "behind" and (details["head_seq"], details["chain_end_seq"]) == (12, 13)
    v = ledger.verify()
    assert not v.ok and "entries 13..13 after its signed head (entry 12): added without the key" in v.reason


def test_a_missing_head_after_pruning_is_still_a_deletion(ledger, clock):
    import datetime as dt

    cut = dt.datetime.fromisoformat(ledger.entries()[10].at.replace("Z", "+00:00"))
    ledger.prune(cut)  # the creation entry goes; the prune record says the chain was written under signed heads
    assert ledger.entries()[0].seq == 11 and ledger.verify().ok
    sql(ledger, "DELETE FROM ledger_head")
    write(ledger)
    assert mismatch(ledger)[1]["found"] == "missing"


def test_a_chain_from_before_signed_heads_starts_them(tmp_path, clock, caplog):
    """A database an earlier version wrote (its key on record, entries, a checkpoint, no head): its next write
    marks where signed heads start and verifies; from then on a missing head is a deletion."""
    db = connect(tmp_path / "old.db")
    raw_key = KEY.public_key().public_bytes_raw()
    import base64

    db.execute("INSERT INTO ledger_keys (key_id, public_key, added_at) VALUES (?, ?, ?)",
               [key_id_of(raw_key), base64.b64encode(raw_key).decode(), "2025-01-01T00:00:00.000000Z"])
    prev = GENESIS
    for seq in range(1, 5):
        e = {"seq": seq, "at": f"2025-01-0{seq}T00:00:00.000000Z", "actor": "user:a", "role": "admin", "action": "read",
             "record": f"r{seq}", "purpose": "p", "legal_basis": "b", "subject_id": None, "details": None}
        h = entry_hash(prev, e)
        db.execute("INSERT INTO ledger_entries (seq, at, actor, role, action, record, purpose, legal_basis, subject_id,"
                   " details, prev_hash, entry_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [*e.values(), prev, h])
        prev = h
    at = "2025-01-04T00:00:01.000000Z"
    db.execute("INSERT INTO ledger_checkpoints (seq, entry_hash, at, key_id, signature) VALUES (?, ?, ?, ?, ?)",
               [4, prev, at, key_id_of(raw_key), base64.b64encode(KEY.sign(checkpoint_message(4, prev, at))).decode()])
    db.conn.commit()
    lg = Ledger(db, KEY, clock=clock)
    assert len(lg) == 4 and lg.head() is None and lg.verify().ok  # opening it writes nothing
    with caplog.at_level(logging.WARNING, logger="privacy.ledger"):
        write(lg)
    started = lg.entries()[4]
    assert started.action == "ledger_head_started" and json.loads(started.details)["unsigned_through"] == 4
    assert "signed heads start now" in caplog.text
    assert lg.verify().ok and lg.head().seq == 6
    sql(lg, "DELETE FROM ledger_entries WHERE seq = 6")
    sql(lg, "DELETE FROM ledger_head")
    write(lg)
    assert mismatch(lg)[1]["found"] == "missing"


def test_reset_to_an_old_copy_of_the_head_needs_a_witness(ledger):
    """What the database alone cannot show: cut back to an old head the attacker kept, with that head put back.
    Only a witness (a device's copy of a later head) names it: see tests/devicelink/test_witness_history.py."""
    old = ledger.head()
    witness = old
    fill(ledger, ledger.clock, 3, start=13)
    later = ledger.head()
    sql(ledger, "DELETE FROM ledger_entries WHERE seq > 12")
    sql(ledger, "DELETE FROM ledger_checkpoints WHERE seq > 12")
    sql(ledger, "UPDATE ledger_head SET seq = ?, entry_hash = ?, at = ?, signature = ?", old.seq, old.entry_hash,
        old.at, old.signature)
    write(ledger)
    assert not [e for e in ledger.entries() if e.action == "ledger_head_mismatch"] and ledger.verify([witness]).ok
    v = ledger.verify([later])
    assert not v.ok and "truncated" in v.reason and "witness head was signed at entry 15" in v.reason
    write(ledger)
    write(ledger)  # the new chain passes the witness: another hash at its seq
    v = ledger.verify([witness, later])
    assert not v.ok and "rewritten" in v.reason and "witness head signed at entry 15" in v.reason
