import base64
import json
import shutil
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from privacy import Ledger, LedgerError, verify_export
from privacy._verify_export import GENESIS, entry_hash
from tests.privacy.conftest import raw

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@pytest.fixture()
def ledger(tmp_path, clock):
    """10 entries: the signed creation entry (seq 1, at T0), then exc-2..exc-10 at their seq (T0 + seq min)."""
    lg = Ledger(tmp_path / "ledger.db", KEY, clock=clock, checkpoint_every=None)
    assert [(e.seq, e.action) for e in lg.entries()] == [(1, "ledger_created")]
    for i in range(2, 11):
        clock.travel(minutes=1)
        lg.append(f"user:officer{i % 3}", "border_guard", "read", f"exc-{i}", "border_exception_review",
                  "Law on Exit and Entry 2019", subject_id=f"subj_{i % 4}")
    return lg


def _sql(lg, statement, *params):
    raw(lg.db, statement, list(params))


def test_append_and_verify(ledger):
    e = ledger.append("device:gate-01", "gate", "write", "tx-1", "border_control", "Law on Exit and Entry 2019",
                      details={"items": 2})
    assert e.seq == 11 and len(ledger) == 11
    assert ledger.entries()[0].prev_hash == GENESIS
    assert ledger.entries(after_seq=9)[0].entry_hash == ledger.entries()[10 - 1].entry_hash
    v = ledger.verify()
    assert v.ok and v.first_bad_index is None and v.entries == 11 and v.head_seq == 11
    assert [x.record for x in ledger.for_subject("subj_1")] == ["exc-5", "exc-9"]
    with pytest.raises(LedgerError):
        ledger.append("", "r", "a", "x", "p", "b")


def test_edit_is_named(ledger):
    _sql(ledger, "UPDATE ledger_entries SET actor = 'user:nobody' WHERE seq = 4")
    v = ledger.verify()
    assert not v.ok and v.first_bad_index == 4 and "edited" in v.reason


def test_edit_of_the_when_or_purpose_is_named(ledger):
    _sql(ledger, "UPDATE ledger_entries SET at = '2020-01-01T00:00:00.000000Z' WHERE seq = 7")
    assert ledger.verify().first_bad_index == 7
    _sql(ledger, "UPDATE ledger_entries SET at = (SELECT at FROM ledger_entries WHERE seq = 6) WHERE seq = 7")


def test_deletion_is_named(ledger):
    _sql(ledger, "DELETE FROM ledger_entries WHERE seq = 5")
    v = ledger.verify()
    assert not v.ok and v.first_bad_index == 6 and "entry 5 missing" in v.reason


def test_deletion_of_the_first_entry(ledger):
    _sql(ledger, "DELETE FROM ledger_entries WHERE seq = 1")
    assert ledger.verify().first_bad_index == 2


def test_reordering_is_named(ledger):
    # swap the contents of entries 3 and 8 by swapping their sequence numbers
    _sql(ledger, "UPDATE ledger_entries SET seq = -3 WHERE seq = 3")
    _sql(ledger, "UPDATE ledger_entries SET seq = 3 WHERE seq = 8")
    _sql(ledger, "UPDATE ledger_entries SET seq = 8 WHERE seq = -3")
    v = ledger.verify()
    assert not v.ok and v.first_bad_index == 3


def test_insertion_is_named(ledger):
    # make room after entry 4 and insert a forged entry that links correctly to entry 4
    for seq in range(10, 4, -1):
        _sql(ledger, "UPDATE ledger_entries SET seq = ? WHERE seq = ?", seq + 1, seq)
    prev = raw(ledger.db, "SELECT entry_hash FROM ledger_entries WHERE seq = 4").fetchone()[0]
    forged = {"seq": 5, "at": "2026-03-01T08:04:30.000000Z", "actor": "user:intruder", "role": "admin",
              "action": "read", "record": "exc-4", "purpose": "curiosity", "legal_basis": "none",
              "subject_id": None, "details": None}
    _sql(ledger, "INSERT INTO ledger_entries (seq, at, actor, role, action, record, purpose, legal_basis, subject_id, "
                 "details, prev_hash, entry_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
         *forged.values(), prev, entry_hash(prev, forged))
    v = ledger.verify()
    assert not v.ok and v.first_bad_index == 6  # the shifted original no longer matches its hash


def test_rewritten_chain_is_caught_by_the_signed_checkpoint(ledger):
    ledger.checkpoint()
    ledger.append("user:a", "admin", "read", "x", "p", "b")
    # rewrite entry 6 and recompute every later hash (needs no secret)
    _sql(ledger, "UPDATE ledger_entries SET purpose = 'forged' WHERE seq = 6")
    rows = raw(ledger.db, "SELECT seq, at, actor, role, action, record, purpose, legal_basis, subject_id, details "
                             "FROM ledger_entries ORDER BY seq").fetchall()
    prev = GENESIS
    for r in rows:
        e = dict(zip(("seq", "at", "actor", "role", "action", "record", "purpose", "legal_basis", "subject_id",
                      "details"), r))
        h = entry_hash(prev, e)
        _sql(ledger, "UPDATE ledger_entries SET prev_hash = ?, entry_hash = ? WHERE seq = ?", prev, h, r[0])
        prev = h
    v = ledger.verify()
    assert not v.ok and v.first_bad_index == 1 and "checkpoint" in v.reason


def test_truncation_is_caught_by_a_checkpoint(ledger):
    ledger.checkpoint()
    _sql(ledger, "DELETE FROM ledger_entries WHERE seq >= 9")
    v = ledger.verify()
    assert not v.ok and v.first_bad_index == 9 and "truncated" in v.reason


def test_forged_checkpoint_signature(ledger):
    ledger.checkpoint()
    _sql(ledger, "UPDATE ledger_checkpoints SET signature = ?", base64.b64encode(b"\0" * 64).decode())
    v = ledger.verify()
    assert not v.ok and v.first_bad_index == 10 and "signature" in v.reason


def test_auto_checkpoints(tmp_path, clock):
    lg = Ledger(tmp_path / "l.db", KEY, clock=clock, checkpoint_every=5)
    for i in range(12):
        lg.append("a", "r", "act", str(i), "p", "b")
    assert [c.seq for c in lg.checkpoints()] == [5, 10]
    assert lg.verify().checkpoints == 2


def test_reader_without_key_uses_recorded_keys(ledger, tmp_path):
    ledger.checkpoint()
    reader = Ledger(ledger.db, None)
    v = reader.verify()
    assert v.ok and not v.key_pinned
    with pytest.raises(LedgerError):
        reader.append("a", "r", "x", "y", "p", "b")


def test_export_verifies_standalone(ledger, tmp_path):
    path = ledger.export(tmp_path / "out" / "ledger.jsonl")
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines[0]["type"] == "header" and lines[0]["public_keys"] == [ledger.public_key_b64]
    assert sum(x["type"] == "entry" for x in lines) == 10 and lines[-1]["type"] == "checkpoint"
    v = verify_export(path, ledger.public_key_b64)
    assert v.ok and v.key_pinned and v.entries == 10
    # the verifier is one file an auditor can run alone: copy it away from the project and run it
    alone = tmp_path / "auditor"
    alone.mkdir()
    shutil.copy(__import__("privacy._verify_export").__file__.replace("__init__.py", "_verify_export.py"),
                alone / "verify.py")
    run = subprocess.run([sys.executable, "-I", str(alone / "verify.py"), str(path), "--public-key",
                          ledger.public_key_b64], capture_output=True, text=True, cwd=alone, timeout=60)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["ok"] is True
    # a tampered export fails, naming the entry
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text(path.read_text().replace('"record": "exc-3"', '"record": "exc-33"'))
    v = verify_export(tampered, ledger.public_key_b64)
    assert not v.ok and v.first_bad_index == 3
    run = subprocess.run([sys.executable, "-I", str(alone / "verify.py"), str(tampered)], capture_output=True,
                         text=True, cwd=alone, timeout=60)
    assert run.returncode == 1 and json.loads(run.stdout)["first_bad_index"] == 3
    # the wrong pinned key rejects even an intact export
    other = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw()).decode()
    assert not verify_export(path, other).ok


def test_prune_keeps_the_chain_verifiable(ledger, clock, tmp_path):
    # entries 1..10 were written at T0+1..10 min
    before = ledger.entries()[6].at  # entry 7's time: entries 1..6 go
    import datetime as dt

    cut = dt.datetime.fromisoformat(before.replace("Z", "+00:00"))
    assert ledger.prunable(cut) == 6
    assert ledger.prune(cut) == 6
    seqs = [e.seq for e in ledger.entries()]
    assert seqs[0] == 7 and ledger.tail(1)[0].action == "ledger_prune"
    v = ledger.verify()
    assert v.ok, v.reason
    assert ledger.prune(cut) == 0  # idempotent
    path = ledger.export(tmp_path / "pruned.jsonl")
    assert verify_export(path, ledger.public_key_b64).ok
    # deleting the oldest remaining entry is not a prune: caught
    _sql(ledger, "DELETE FROM ledger_entries WHERE seq = 7")
    v = ledger.verify()
    assert not v.ok and v.first_bad_index == 8


def test_prune_interrupted_and_resumed(ledger):
    import datetime as dt

    from storage import ConstraintError

    cut = dt.datetime.fromisoformat(ledger.entries()[8].at.replace("Z", "+00:00"))  # entries 1..8 go
    _sql(ledger, "CREATE TRIGGER crash BEFORE DELETE ON ledger_entries WHEN OLD.seq > 3 "
                 "BEGIN SELECT RAISE(ABORT, 'power cut'); END")
    with pytest.raises(ConstraintError, match="power cut"):  # driver-neutral: a storage error, not sqlite3's
        ledger.prune(cut, batch=3)
    assert [e.seq for e in ledger.entries()][0] == 4  # the first batch went
    assert ledger.verify().ok  # a shorter prefix is still covered by the prune record
    _sql(ledger, "UPDATE ledger_entries SET record = 'edited' WHERE seq = 5")
    assert ledger.verify().first_bad_index == 5
    _sql(ledger, "UPDATE ledger_entries SET record = 'exc-5' WHERE seq = 5")
    _sql(ledger, "DROP TRIGGER crash")
    assert ledger.prune(cut, batch=3) == 5
    assert [e.seq for e in ledger.entries()][0] == 9 and ledger.verify().ok
    assert sum(e.action == "ledger_prune" for e in ledger.entries()) == 1


def test_retention_purge_prunes_the_ledger_after_six_years(stack):
    p, clock = stack.p, stack.clock
    for i in range(5):
        p.ledger.append("user:a", "border_guard", "read", f"exc-{i}", "border_exception_review", "law")
    clock.travel(days=6 * 365 + 2, seconds=1)  # 2192 days = 6 calendar years here
    p.ledger.append("user:a", "border_guard", "read", "exc-new", "border_exception_review", "law")
    dry = p.retention.purge(dry_run=True)
    assert dry.ledger_pruned == 6  # the creation entry and the 5 reads
    report = p.retention.purge()
    assert report.ledger_pruned == 6
    assert p.ledger.entries()[0].record == "exc-new" and p.ledger.verify().ok
