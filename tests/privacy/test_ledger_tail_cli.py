"""``smartborder privacy verify-ledger [--witness FILE ...]`` on a copy of a back-office database whose
newest ledger entries an attacker deleted: named without a witness while a signature past the cut is left,
and through the witness a gate kept (its ``X-Ledger-Head``) once the attacker deleted those too."""

import json
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from smartborder.cli import main


def copy_db(src: Path, dst: Path) -> None:
    """A consistent copy through SQLite's backup API (the source may hold a write-ahead log)."""
    dst.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    os.chmod(dst, 0o600)


@pytest.fixture()
def office(tmp_path, monkeypatch):
    """A back office (its composition's config, the real app) with ledgered activity; the gate's witness
    files: the head it received early on and the newest."""
    pytest.importorskip("fastapi")
    from backoffice._privacy import keys_path
    from privacy import Checkpoint
    from smartborder.commands.backoffice import build_config
    from tests.backoffice.conftest import build_world, exception_body

    for var in ("SMARTBORDER_CONFIG", "SMARTBORDER_KEK", "SMARTBORDER_SECRET_KEY", "SMARTBORDER_KEK_FILE",
                "SMARTBORDER_BACKOFFICE_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SMARTBORDER_ENV", "dev")
    monkeypatch.setenv("SMARTBORDER_DATA_DIR", str(tmp_path / "data"))
    db = tmp_path / "data" / "bo.db"
    world = build_world(build_config(str(db), argon2_time_cost=1, argon2_memory_kib=1024))
    heads = []
    for i in range(3):
        r = world.client.post("/api/v1/exceptions", json=exception_body(),
                              headers=world.h("gate", **{"Idempotency-Key": f"k{i}"}))
        assert r.status_code == 201, r.text
        heads.append(Checkpoint.from_token(r.headers["X-Ledger-Head"]))
    ledger = world.ctx.privacy.ledger
    assert heads[-1] == ledger.head() and heads[0].seq < heads[-1].seq - 3
    world.client.close()
    world.ctx.store.close()
    files = {}
    for name, head in (("early", heads[0]), ("newest", heads[-1])):
        files[name] = tmp_path / f"gate-01-{name}.json"
        files[name].write_text(json.dumps(head.to_dict()))
    return db, keys_path(db), files, heads


def attacked_copy(tmp_path, office) -> Path:
    """The attacker's copy: a second back-office database (its key store where the composition looks)."""
    from backoffice._privacy import keys_path

    db, keys, _, _ = office
    copy = tmp_path / "copy" / "bo.db"
    copy_db(db, copy)
    copy_db(keys, keys_path(copy))
    return copy


def run(*args):
    return CliRunner().invoke(main, ["privacy", "verify-ledger", *args])


def sql(db, statement, *params):
    with sqlite3.connect(db) as conn:
        conn.execute(statement, params)
    conn.close()


def test_intact_copy_verifies_with_the_gates_witnesses(tmp_path, office):
    copy = attacked_copy(tmp_path, office)
    _, _, files, heads = office
    r = run("--db", str(copy), "--json", "--witness", str(files["early"]), "--witness", str(files["newest"]))
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["ok"] and out["witnesses"] == 2 and out["signed_through"] == heads[-1].seq


def test_three_newest_entries_deleted(tmp_path, office):
    copy = attacked_copy(tmp_path, office)
    _, _, files, heads = office
    sql(copy, "DELETE FROM ledger_entries WHERE seq > (SELECT MAX(seq) - 3 FROM ledger_entries)")
    end = heads[-1].seq - 3
    r = run("--db", str(copy))
    assert r.exit_code == 1
    assert f"LEDGER BROKEN at entry {end + 1}" in r.output and "truncated" in r.output  # the signed head names it
    # the attacker also deletes the head (no checkpoint lies past the cut): the tail is unsigned
    sql(copy, "DELETE FROM ledger_head")
    r = run("--db", str(copy), "--json")
    assert r.exit_code == 1 and json.loads(r.output)["reason"].startswith("unsigned tail")
    # with the gate's witness the truncation itself is named
    r = run("--db", str(copy), "--witness", str(files["newest"]))
    assert r.exit_code == 1 and "truncated" in r.output and "witness head" in r.output


def test_truncated_back_to_an_old_signed_head_is_caught_only_through_a_witness(tmp_path, office):
    """The attacker kept an old copy of ledger_head (a backup), cuts the ledger back to it and deletes every
    newer signature: the database alone looks whole; the gate's copy of a newer head does not."""
    copy = attacked_copy(tmp_path, office)
    _, _, files, heads = office
    early = heads[0]
    sql(copy, "DELETE FROM ledger_entries WHERE seq > ?", early.seq)
    sql(copy, "DELETE FROM ledger_checkpoints WHERE seq > ?", early.seq)
    sql(copy, "UPDATE ledger_head SET seq = ?, entry_hash = ?, at = ?, key_id = ?, signature = ?",
        early.seq, early.entry_hash, early.at, early.key_id, early.signature)
    assert run("--db", str(copy)).exit_code == 0  # what no verification without a witness can see
    r = run("--db", str(copy), "--json", "--witness", str(files["early"]), "--witness", str(files["newest"]))
    assert r.exit_code == 1, r.output
    out = json.loads(r.output)
    assert out["first_bad_index"] == early.seq + 1 and "truncated" in out["reason"] and "witness head" in out["reason"]


def test_a_witness_file_that_cannot_be_used_fails(tmp_path, office):
    copy = attacked_copy(tmp_path, office)
    bad = tmp_path / "bad.json"
    bad.write_text('{"seq": 3}')
    r = run("--db", str(copy), "--witness", str(bad))
    assert r.exit_code == 1 and "LEDGER NOT VERIFIED" in r.output and "malformed" in r.output
    r = run("--db", str(copy), "--json", "--witness", str(tmp_path / "missing.json"))
    assert r.exit_code == 1 and "cannot be read" in json.loads(r.output)["reason"]
