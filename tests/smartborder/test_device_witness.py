"""``smartborder gate witness`` / ``smartborder kiosk witness``: every signed ledger head a device kept (its
witness history, a JSON list), the file an auditor passes to ``smartborder privacy verify-ledger --witness``."""

import base64
import json
import os

import pytest
from click.testing import CliRunner

from devicelink import Outbox, VaultSealer
from gate import GateStore
from privacy import Checkpoint, RawKek, Vault, load_witnesses
from smartborder.cli import main

HEAD = Checkpoint(41, "ab" * 32, "2026-03-01T08:00:00.000000Z", "0123456789abcdef",
                  base64.b64encode(bytes(64)).decode())


@pytest.fixture(autouse=True)
def settings(tmp_path, monkeypatch):
    for var in ("SMARTBORDER_CONFIG", "SMARTBORDER_GATE_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SMARTBORDER_ENV", "dev")
    monkeypatch.setenv("SMARTBORDER_DATA_DIR", str(tmp_path / "data"))


def gate_db(path, head=HEAD):
    keys = path.parent.parent / "keys"  # key material in a private directory of its own
    keys.mkdir(mode=0o700, exist_ok=True)
    store = GateStore(path, sealer=VaultSealer(Vault(keys / f"{path.stem}-vault.db", RawKek(os.urandom(32)))))
    if head is not None:
        store.outbox.keep_ledger_head(head)
        store.outbox.keep_ledger_head(Checkpoint(3, *list(head.to_dict().values())[1:]))  # went back: both evidence
    store.db.conn.close()


def heads(exported: list[dict]) -> list[dict]:
    """The five fields of each exported head (what verification reads; received_at and conflict beside)."""
    return [{k: h[k] for k in ("seq", "entry_hash", "at", "key_id", "signature")} for h in exported]


OLDER = {**HEAD.to_dict(), "seq": 3}


def test_gate_witness_to_a_file_and_to_stdout(tmp_path):
    db = tmp_path / "gate.db"
    gate_db(db)
    out = tmp_path / "gate-01-witness.json"
    r = CliRunner().invoke(main, ["gate", "witness", "--db", str(db), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "2 witness head(s) up to ledger entry 41" in r.output and "2 conflicting" in r.output
    exported = load_witnesses(out)  # what verify-ledger --witness reads
    assert heads(exported) == [HEAD.to_dict(), OLDER]
    assert all("went back" in h["conflict"] and h["received_at"] for h in exported)
    r = CliRunner().invoke(main, ["gate", "witness", "--db", str(db)])
    assert r.exit_code == 0 and json.loads(r.output) == exported


def test_gate_witness_default_database_from_the_settings(tmp_path):
    (tmp_path / "data").mkdir()
    gate_db(tmp_path / "data" / "gate.db")
    r = CliRunner().invoke(main, ["gate", "witness"])
    assert r.exit_code == 0, r.output
    assert [h["seq"] for h in json.loads(r.output)] == [41, 3]


def test_kiosk_witness(tmp_path):
    from smartborder.compose.kiosk import KioskConfig

    path = KioskConfig(trust_path=None, data_dir=tmp_path / "data").outbox_path  # where the composition keeps it
    path.parent.mkdir(parents=True)
    box = Outbox(path, sealer=VaultSealer(Vault(tmp_path / "vault.db", RawKek(bytes(32)))))
    box.keep_ledger_head(HEAD)
    box.close()
    out = tmp_path / "kiosk-01.json"
    r = CliRunner().invoke(main, ["kiosk", "witness", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert heads(json.loads(out.read_text())) == [HEAD.to_dict()]


def test_no_head_or_no_database_is_an_error(tmp_path):
    db = tmp_path / "gate.db"
    gate_db(db, head=None)
    r = CliRunner().invoke(main, ["gate", "witness", "--db", str(db)])
    assert r.exit_code == 1 and "keeps no ledger head yet" in r.output
    r = CliRunner().invoke(main, ["kiosk", "witness", "--db", str(tmp_path / "none.db")])
    assert r.exit_code == 1 and "no device database" in r.output


def test_an_auditor_exports_a_production_devices_witness_without_its_secrets(tmp_path, monkeypatch):
    """The gate's production configuration names its key file and token; exporting the witness heads reads the
    database only, so it runs without the KEK or the secrets in the auditor's environment."""
    data = tmp_path / "prod-data"
    data.mkdir()
    gate_db(data / "gate.db")
    config = tmp_path / "gate.toml"
    config.write_text(f'env = "prod"\ndata_dir = "{data}"\n\n[gate]\nkek_file = "{tmp_path / "keys" / "gate.kek"}"\n')
    monkeypatch.delenv("SMARTBORDER_ENV")
    monkeypatch.delenv("SMARTBORDER_DATA_DIR")
    for device in ("gate", "kiosk"):
        r = CliRunner().invoke(main, [device, "witness", "--config", str(config)])
        if device == "gate":
            assert r.exit_code == 0, r.output
            assert [h["seq"] for h in json.loads(r.output)] == [41, 3]
        else:  # no kiosk database there: the error names it, not a missing secret
            assert r.exit_code != 0 and "SMARTBORDER_" not in r.output, r.output
