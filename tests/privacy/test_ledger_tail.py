"""The ledger's tail is protected: a signed head after every write, verification that fails on an unsigned
tail, and witness heads (kept by gates and kiosks) that catch a truncation even when the attacker also
deleted every signature past the cut (issue #17 part 2)."""

import base64
import datetime as dt
import json
import shutil
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from privacy import Checkpoint, Ledger, LedgerError, WitnessFileError, load_witnesses, verify_export
from privacy._verify_export import GENESIS, checkpoint_message, entry_hash
from tests.privacy.conftest import raw

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
_FIELDS = ("seq", "at", "actor", "role", "action", "record", "purpose", "legal_basis", "subject_id", "details")


def fill(lg, clock, n, start=1):
    for i in range(start, start + n):
        clock.travel(minutes=1)
        lg.append(f"user:officer{i % 3}", "border_guard", "read", f"exc-{i}", "border_exception_review",
                  "Law on Exit and Entry 2019", subject_id=f"subj_{i % 4}")


@pytest.fixture()
def ledger(tmp_path, clock):
    """12 entries (the signed creation entry, then exc-2..exc-12 at their seq), checkpoints signed at 5 and
    10, the head at 12."""
    lg = Ledger(tmp_path / "ledger.db", KEY, clock=clock, checkpoint_every=5)
    fill(lg, clock, 11, start=2)
    return lg


def sql(lg, statement, *params):
    raw(lg.db, statement, list(params))


def rehash_from(lg, seq):
    """Recompute every hash from ``seq`` on, as anyone can without a secret."""
    prev = GENESIS if seq == 1 else raw(lg.db, "SELECT entry_hash FROM ledger_entries WHERE seq = ?",
                                                  [seq - 1]).fetchone()[0]
    rows = raw(lg.db, f"SELECT {', '.join(_FIELDS)} FROM ledger_entries WHERE seq >= ? ORDER BY seq",
                         [seq]).fetchall()
    for r in rows:
        h = entry_hash(prev, dict(zip(_FIELDS, r, strict=True)))
        sql(lg, "UPDATE ledger_entries SET prev_hash = ?, entry_hash = ? WHERE seq = ?", prev, h, r[0])
        prev = h


def test_the_head_is_signed_after_every_write(ledger, clock):
    head = ledger.head()
    assert head is not None and head.seq == 12 and head.entry_hash == ledger.tail(1)[0].entry_hash
    KEY.public_key().verify(base64.b64decode(head.signature), checkpoint_message(head.seq, head.entry_hash, head.at))
    assert [c.seq for c in ledger.checkpoints()] == [5, 10]  # the periodic checkpoints stay as they were
    e = ledger.append("user:a", "admin", "read", "x", "p", "b")
    assert ledger.head().seq == e.seq == 13 and ledger.head().entry_hash == e.entry_hash
    assert raw(ledger.db, "SELECT COUNT(*) FROM ledger_head").fetchone()[0] == 1
    v = ledger.verify()
    assert v.ok and v.signed_through == 13 and v.checkpoints == 2


def test_a_failed_write_leaves_the_head_as_it_was(ledger):
    before = ledger.head()
    with pytest.raises(RuntimeError), ledger.batch():
        ledger.append("user:a", "admin", "read", "x", "p", "b")
        raise RuntimeError("rolled back")
    assert ledger.head() == before and len(ledger) == 12 and ledger.verify().ok


def test_batch_signs_the_head_once_at_the_end(ledger):
    with ledger.batch():
        for i in range(3):
            ledger.append("user:a", "admin", "read", f"b{i}", "p", "b")
            assert ledger.head().seq == 12  # not yet
    assert ledger.head().seq == 15 and ledger.verify().ok


def test_a_new_ledger_starts_with_its_signed_creation_entry(tmp_path, clock):
    lg = Ledger(tmp_path / "new.db", KEY, clock=clock)
    [created] = lg.entries()
    assert (created.seq, created.action, created.actor, created.record) == (1, "ledger_created", "system:ledger",
                                                                            lg.key_id)
    assert json.loads(created.details) == {"key_id": lg.key_id, "public_key": lg.public_key_b64}
    assert lg.head().seq == 1 and lg.head().entry_hash == created.entry_hash
    v = lg.verify()
    assert v.ok and v.entries == 1 and v.signed_through == 1
    again = Ledger(tmp_path / "new.db", KEY, clock=clock)  # opened again: no second creation entry
    assert len(again) == 1 and again.verify().ok
    lg.checkpoint()
    w = _signed(2, "ab" * 32)  # a witness beyond the end is still a truncation
    v = lg.verify([w])
    assert not v.ok and "truncated" in v.reason and "witness head" in v.reason


def test_a_wiped_ledger_fails(tmp_path, clock):
    """Every entry, the head and the checkpoints deleted: no entry is no valid ledger, opening it again does
    not start a new one over it, and the next write records what it found."""
    lg = Ledger(tmp_path / "wiped.db", KEY, clock=clock, checkpoint_every=2)
    fill(lg, clock, 4, start=2)
    for table in ("ledger_entries", "ledger_head", "ledger_checkpoints"):
        sql(lg, f"DELETE FROM {table}")
    v = lg.verify()
    assert not v.ok and v.entries == 0 and v.first_bad_index == 1
    assert v.reason == "no entries: a ledger starts with its signed creation entry (ledger_created); wiped?"
    path = lg.export(tmp_path / "wiped.jsonl")
    v = verify_export(path, lg.public_key_b64)
    assert not v.ok and "no entries" in v.reason
    reopened = Ledger(tmp_path / "wiped.db", KEY, clock=clock)  # its key is on record: not a new ledger
    assert len(reopened) == 0 and not reopened.verify().ok
    e = reopened.append("user:a", "admin", "read", "x", "p", "b")
    [found, _] = reopened.entries()
    assert found.action == "ledger_head_mismatch" and e.seq == 2
    assert json.loads(found.details)["found"] == "empty"
    v = reopened.verify()
    assert not v.ok and v.first_bad_index == 1 and "its chain empty" in v.reason and "wiped before entry 1" in v.reason


def _signed(seq, h, at="2026-03-01T09:00:00.000000Z", key=KEY):
    from privacy._verify_export import key_id_of

    raw_key = key.public_key().public_bytes_raw()
    return Checkpoint(seq, h, at, key_id_of(raw_key), base64.b64encode(key.sign(checkpoint_message(seq, h, at))).decode())


# -- tampering, each named --------------------------------------------------------------------------
def test_truncation_of_the_newest_entries(ledger, clock):
    fill(ledger, clock, 1, start=13)
    sql(ledger, "DELETE FROM ledger_entries WHERE seq > 10")  # the 3 newest: 11, 12, 13
    v = ledger.verify()
    assert not v.ok and v.first_bad_index == 11 and "truncated" in v.reason
    assert "entries 11..13 missing: a ledger head was signed at entry 13" in v.reason
    sql(ledger, "DELETE FROM ledger_entries WHERE seq > 8")  # past a checkpoint: the lowest signature is named
    assert "entries 9..10 missing: a checkpoint was signed at entry 10 (truncated)" in ledger.verify().reason


def test_deletion_in_the_middle(ledger):
    sql(ledger, "DELETE FROM ledger_entries WHERE seq = 7")
    v = ledger.verify()
    assert not v.ok and v.first_bad_index == 8 and "entry 7 missing" in v.reason


def test_reordering(ledger):
    sql(ledger, "UPDATE ledger_entries SET seq = -11 WHERE seq = 11")
    sql(ledger, "UPDATE ledger_entries SET seq = 11 WHERE seq = 12")
    sql(ledger, "UPDATE ledger_entries SET seq = 12 WHERE seq = -11")
    v = ledger.verify()
    assert not v.ok and v.first_bad_index == 11 and "reordered" in v.reason


def test_rewrite_after_the_last_checkpoint_with_recomputed_hashes(ledger):
    sql(ledger, "UPDATE ledger_entries SET actor = 'user:nobody' WHERE seq = 11")
    rehash_from(ledger, 11)  # the chain is consistent again; only the signed head still knows
    v = ledger.verify()
    assert not v.ok and v.first_bad_index == 11 and "no longer matches the ledger head signed at entry 12" in v.reason


def test_entries_appended_without_the_key_are_an_unsigned_tail(ledger):
    prev = ledger.tail(1)[0].entry_hash
    forged = {"seq": 13, "at": "2026-03-01T09:00:00.000000Z", "actor": "user:intruder", "role": "admin",
              "action": "read", "record": "exc-x", "purpose": "p", "legal_basis": "b", "subject_id": None,
              "details": None}
    sql(ledger, f"INSERT INTO ledger_entries ({', '.join(_FIELDS)}, prev_hash, entry_hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", *forged.values(), prev, entry_hash(prev, forged))
    v = ledger.verify()
    assert not v.ok and v.first_bad_index == 13 and v.reason.startswith("unsigned tail") and "13..13" in v.reason


def test_a_deleted_head_leaves_an_unsigned_tail(ledger):
    sql(ledger, "DELETE FROM ledger_head")  # entries 11 and 12 lie beyond the last checkpoint (10)
    v = ledger.verify()
    assert not v.ok and v.first_bad_index == 11 and v.reason.startswith("unsigned tail") and "11..12" in v.reason


def test_truncation_with_every_signature_past_the_cut_deleted_needs_a_witness(ledger, clock):
    witness = ledger.head()  # what a gate received with its last answer: seq 12
    fill(ledger, clock, 4, start=13)  # 16 entries, a checkpoint at 15
    old_gate = ledger.head()
    # the attacker cuts back to the checkpoint at 10 and deletes the head and the checkpoint at 15 too
    sql(ledger, "DELETE FROM ledger_entries WHERE seq > 10")
    sql(ledger, "DELETE FROM ledger_checkpoints WHERE seq > 10")
    sql(ledger, "DELETE FROM ledger_head")
    assert ledger.verify().ok  # without a witness nothing is left to see it: what the witnesses are for
    v = ledger.verify([witness])
    assert not v.ok and v.first_bad_index == 11 and "truncated" in v.reason and "witness head" in v.reason
    assert "entries 11..12 missing" in v.reason
    v = ledger.verify([witness.to_dict(), old_gate])  # several witnesses: the lowest beyond the end is named
    assert not v.ok and "entries 11..12 missing" in v.reason
    # cut where no signature lies: an unsigned tail even without a witness
    sql(ledger, "DELETE FROM ledger_entries WHERE seq > 8")
    sql(ledger, "DELETE FROM ledger_checkpoints WHERE seq > 8")
    v = ledger.verify()
    assert not v.ok and v.reason.startswith("unsigned tail")


def test_a_witness_names_a_rewrite(ledger, clock):
    witness = ledger.head()  # seq 12
    fill(ledger, clock, 2, start=13)
    # rewrite from entry 11 on and delete every signature that covers it; the witness still does
    sql(ledger, "UPDATE ledger_entries SET purpose = 'forged' WHERE seq = 11")
    rehash_from(ledger, 11)
    sql(ledger, "DELETE FROM ledger_head")
    v = ledger.verify([witness])
    assert not v.ok and v.first_bad_index == 11 and "rewritten" in v.reason and "witness head signed at entry 12" \
        in v.reason


def test_witness_signatures_are_checked(ledger):
    head = ledger.head()
    forged = Checkpoint(head.seq, head.entry_hash, head.at, head.key_id, base64.b64encode(b"\0" * 64).decode())
    v = ledger.verify([forged])
    assert not v.ok and "witness head at entry 12 has an invalid signature" in v.reason
    other = Ed25519PrivateKey.generate()
    v = ledger.verify([_signed(head.seq, head.entry_hash, key=other)])
    assert not v.ok and "unknown key" in v.reason
    # a forged witness beyond the end is a bad signature, not a truncation
    v = ledger.verify([Checkpoint(40, head.entry_hash, head.at, head.key_id, forged.signature)])
    assert not v.ok and "invalid signature" in v.reason


def test_malformed_witness_is_a_named_failure(ledger):
    head = ledger.head().to_dict()
    for broken, what in (({**head, "seq": "12"}, "seq"), ({**head, "entry_hash": "zz"}, "entry_hash"),
                         ({k: v for k, v in head.items() if k != "signature"}, "missing signature"),
                         ({**head, "signature": "not base64!"}, "signature"), ({**head, "seq": True}, "seq")):
        v = ledger.verify([broken])
        assert not v.ok and "witness head #1 is malformed" in v.reason and what in v.reason


def test_a_witness_of_pruned_entries_is_covered(ledger, clock):
    early = _signed(3, ledger.entries()[2].entry_hash)
    cut = dt.datetime.fromisoformat(ledger.entries()[6].at.replace("Z", "+00:00"))  # entries 1..6 go
    assert ledger.prune(cut) == 6
    v = ledger.verify([early, ledger.head()])
    assert v.ok, v.reason
    assert v.witnesses == 2
    # a witness inside the pruned range still needs a valid signature
    bad = Checkpoint(3, early.entry_hash, early.at, early.key_id, base64.b64encode(b"\1" * 64).decode())
    assert "invalid signature" in ledger.verify([bad]).reason
    # the witness of the last pruned entry must agree with the prune record
    wrong = _signed(6, "ab" * 32)
    v = ledger.verify([wrong])
    assert not v.ok and "prune record" in v.reason


def test_prune_keeps_the_head_valid(ledger):
    cut = dt.datetime.fromisoformat(ledger.entries()[10].at.replace("Z", "+00:00"))
    ledger.prune(cut)
    assert ledger.head().seq == ledger.tail(1)[0].seq and ledger.verify().ok


# -- the head as a token (the X-Ledger-Head header) -------------------------------------------------
def test_head_token_round_trip(ledger):
    head = ledger.head()
    token = head.to_token()
    assert "=" not in token and "+" not in token and "/" not in token
    assert Checkpoint.from_token(token) == head
    assert Checkpoint.from_token(token + "=" * (-len(token) % 4)) == head  # padding optional
    assert json.loads(base64.urlsafe_b64decode(token + "==="))["seq"] == 12
    for garbage in ("", "!!!", "a" * 3000, base64.urlsafe_b64encode(b"[1, 2]").decode(),
                    base64.urlsafe_b64encode(b'{"seq": 1}').decode()):
        with pytest.raises(LedgerError):
            Checkpoint.from_token(garbage)


def test_a_head_token_is_validated_field_by_field(ledger):
    head = ledger.head().to_dict()

    def token(**changes):
        body = json.dumps({**head, **changes}).encode()
        return base64.urlsafe_b64encode(body).decode().rstrip("=")

    assert Checkpoint.from_token(token(seq=2**62)).seq == 2**62
    for changes, what in (({"seq": 2**63}, "seq"), ({"seq": 2**62 + 1}, "seq"), ({"seq": 0}, "seq"),
                          ({"seq": -1}, "seq"), ({"seq": 1.5}, "seq"), ({"at": "yesterday"}, "at"),
                          ({"key_id": "KEY"}, "key_id"), ({"key_id": "0123456789ABCDEF"}, "key_id"),
                          ({"entry_hash": "AB" * 32}, "entry_hash"), ({"signature": "AAAA"}, "signature")):
        with pytest.raises(LedgerError, match=what):
            Checkpoint.from_token(token(**changes))
    with pytest.raises(LedgerError):
        Checkpoint.from_token(base64.urlsafe_b64encode(b"[" * 100_000).decode()[:2000])


def test_signed_by(ledger):
    head = ledger.head()
    assert head.signed_by(ledger.public_key_b64) and head.signed_by(KEY.public_key())
    other = Ed25519PrivateKey.generate().public_key()
    assert not head.signed_by(other) and not head.signed_by("not base64!") and not head.signed_by("AAAA")
    forged = Checkpoint(head.seq + 1, head.entry_hash, head.at, head.key_id, head.signature)
    assert not forged.signed_by(ledger.public_key_b64)


# -- exports and witness files ----------------------------------------------------------------------
def test_export_carries_the_head_and_verifies_with_witnesses(ledger, clock, tmp_path):
    witness = ledger.head()
    path = ledger.export(tmp_path / "ledger.jsonl")
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    heads = [x for x in lines if x["type"] == "checkpoint" and x.get("head")]
    assert len(heads) == 1 and heads[0]["seq"] == 12
    assert len(ledger.checkpoints()) == 2  # the export signed nothing new
    assert verify_export(path, ledger.public_key_b64, [witness.to_dict()]).ok
    # the attacker drops the newest entries and the head line from the export
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(json.dumps(x) for x in lines
                             if not (x["type"] == "entry" and x["seq"] > 10) and not x.get("head")) + "\n")
    assert verify_export(cut, ledger.public_key_b64).ok  # the last signature (checkpoint 10) is at its end
    v = verify_export(cut, ledger.public_key_b64, [witness.to_dict()])
    assert not v.ok and "truncated" in v.reason and v.first_bad_index == 11
    # ... or only the head line: an unsigned tail
    nohead = tmp_path / "nohead.jsonl"
    nohead.write_text("\n".join(json.dumps(x) for x in lines if not x.get("head")) + "\n")
    v = verify_export(nohead, ledger.public_key_b64)
    assert not v.ok and v.reason.startswith("unsigned tail")

    # the standalone verifier takes witness files (object, list, JSON lines)
    alone = tmp_path / "auditor"
    alone.mkdir()
    shutil.copy(__import__("privacy._verify_export").__file__.replace("__init__.py", "_verify_export.py"),
                alone / "verify.py")
    one = tmp_path / "gate-01.json"
    one.write_text(json.dumps(witness.to_dict()))
    many = tmp_path / "kiosks.json"
    many.write_text(json.dumps([witness.to_dict(), witness.to_dict()]))

    def run(export, *witness_files):
        args = [a for f in witness_files for a in ("--witness", str(f))]
        r = subprocess.run([sys.executable, "-I", str(alone / "verify.py"), str(export), "--public-key",
                            ledger.public_key_b64, *args], capture_output=True, text=True, cwd=alone, timeout=60)
        return r.returncode, json.loads(r.stdout)

    code, out = run(path, one, many)
    assert code == 0 and out["ok"] and out["witnesses"] == 3
    code, out = run(cut, one)
    assert code == 1 and "truncated" in out["reason"]
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    code, out = run(path, broken)
    assert code == 1 and "broken.json" in out["reason"] and "not JSON" in out["reason"]


def test_load_witnesses_forms(ledger, tmp_path):
    head = ledger.head().to_dict()
    f = tmp_path / "w.json"
    f.write_text(json.dumps({**head, "received_at": "2026-03-01T10:00:00+00:00"}))
    assert [w["seq"] for w in load_witnesses(f)] == [12]
    f.write_text(json.dumps([head, {**head, "seq": 10}]))
    assert [w["seq"] for w in load_witnesses(f)] == [12, 10]
    f.write_text(json.dumps(head) + "\n\n" + json.dumps(head) + "\n")
    assert len(load_witnesses(f)) == 2
    for text, why in (("", "no witness head"), ("[]", "no witness head"), ("[1]", "malformed"),
                      (json.dumps({**head, "entry_hash": "x"}), "malformed"), ("{}\n{x", "line 2")):
        f.write_text(text)
        with pytest.raises(WitnessFileError, match=why):
            load_witnesses(f)
    with pytest.raises(WitnessFileError, match="cannot be read"):
        load_witnesses(tmp_path / "missing.json")
