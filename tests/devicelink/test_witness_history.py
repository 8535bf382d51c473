"""A device keeps a bounded *history* of the back office's signed ledger heads, never overwriting one: a ledger
rolled back to an old copy (a restored backup of the data database) and written past the seq a device saw can no
longer launder itself, a forged head cannot block the genuine ones, and a pinned ledger key drops forged heads."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import sqlite3

import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import devicelink
from devicelink import LEDGER_HEAD_HEADER, BackofficeClient, Outbox, VaultSealer, stored_ledger_heads
from privacy import Checkpoint, RawKek, Vault
from privacy._verify_export import checkpoint_message, key_id_of
from storage import migrate, open_database

EVENT = {"occurred_at": "2026-11-22T08:00:00+07:00", "kind": "heartbeat", "outcome": "ok", "reason_codes": []}
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
KEY_B64 = base64.b64encode(KEY.public_key().public_bytes_raw()).decode()


def signed(seq: int, h: str = "ab" * 32, at: str = "2026-03-01T08:00:00.000000Z", key=KEY) -> Checkpoint:
    raw = key.public_key().public_bytes_raw()
    return Checkpoint(seq, h, at, key_id_of(raw), base64.b64encode(key.sign(checkpoint_message(seq, h, at))).decode())


class Clock:
    def __init__(self) -> None:
        self.t = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.t

    def travel(self, **delta) -> None:
        self.t += dt.timedelta(**delta)


def seqs(box: Outbox) -> list[int]:
    return [k.head.seq for k in box.ledger_heads()]


# -- thinning and bounds ----------------------------------------------------------------------------------
def test_the_history_is_thinned_by_age_never_a_conflict_nor_the_newest():
    clock = Clock()
    box = Outbox(clock=clock)
    seq = 0
    for _ in range(3 * 60):  # three hours, two heads a minute
        for _ in range(2):
            seq += 1
            box.keep_ledger_head(signed(seq))
            clock.travel(seconds=30)
    kept = box.ledger_heads()
    times = [dt.datetime.fromisoformat(k.received_at) for k in kept]
    recent = [t for t in times if clock() - t <= dt.timedelta(minutes=10)]
    assert len(recent) >= 19  # all the last 10 minutes (thinned once a minute)
    older = [t.replace(second=0, microsecond=0) for t in times if clock() - t > dt.timedelta(minutes=11)]
    assert len(older) == len(set(older))  # one a minute
    assert kept[-1].head.seq == seq and box.ledger_head().seq == seq
    # a day later, the minutes of the first day thin to one an hour (the last received in each)
    clock.travel(days=1, hours=1)
    box.keep_ledger_head(signed(seq + 1))
    hours = [k.received_at[:13] for k in box.ledger_heads()[:-1]]
    assert len(hours) == len(set(hours)) == 3
    assert [k.head.seq for k in box.ledger_heads()] == [120, 240, 360, 361]  # the last of each hour


def test_the_history_is_bounded_conflicts_last(monkeypatch, caplog):
    monkeypatch.setattr(devicelink._outbox, "MAX_LEDGER_HEADS", 10)
    monkeypatch.setattr(devicelink._outbox, "MAX_LEDGER_CONFLICTS", 4)
    clock = Clock()
    box = Outbox(clock=clock)
    box.keep_ledger_head(signed(50))
    box.keep_ledger_head(signed(40))  # went back: 50 and 40 kept as conflicts
    for s in range(41, 61):
        clock.travel(minutes=1)  # one a minute: nothing thins before the bound
        box.keep_ledger_head(signed(s))
    kept = box.ledger_heads()
    assert len(kept) == 10 and [k.head.seq for k in kept if k.conflict] == [50, 40]
    assert kept[-1].head.seq == 60 and seqs(box)[2:] == list(range(53, 61))  # the oldest ordinary ones went
    with caplog.at_level(logging.ERROR, logger="devicelink"):
        box.keep_ledger_head(signed(59, "cd" * 32))  # fork and step back: 3 more conflicts would pass the cap of 4
    assert "kept as an ordinary head" in caplog.text and len([k for k in box.ledger_heads() if k.conflict]) == 2


def test_a_forged_high_seq_does_not_block_the_genuine_heads():
    """No key pinned: the forged head is kept (the auditor's verification names it), and so is every genuine
    head after it."""
    clock = Clock()
    box = Outbox(clock=clock)
    forged = Checkpoint(10**9, "ef" * 32, "2026-03-01T08:00:00Z", "0123456789abcdef", base64.b64encode(bytes(64)).decode())
    box.keep_ledger_head(signed(10))
    box.keep_ledger_head(forged)
    for s in (11, 12, 13):
        clock.travel(seconds=5)
        assert box.keep_ledger_head(signed(s))
    assert seqs(box) == [10, 10**9, 11, 12, 13]
    assert [bool(k.conflict) for k in box.ledger_heads()] == [False, True, True, False, False]


# -- the client: validation, pinning, never failing a request ---------------------------------------------------
def mock(values: list, **kw) -> BackofficeClient:
    answers = iter(values)

    def handler(request: httpx.Request) -> httpx.Response:
        value = next(answers)
        return httpx.Response(201, json={"id": "x"}, headers={} if value is None else {LEDGER_HEAD_HEADER: value})

    return BackofficeClient(token="sbd_t", http=httpx.Client(base_url="http://bo", transport=httpx.MockTransport(handler)),
                            **kw)


def raw_token(**fields) -> str:
    body = {**signed(1).to_dict(), **fields}
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


def test_a_poisoned_header_never_fails_a_request_nor_reaches_the_outbox(caplog):
    box = Outbox()
    client = mock([raw_token(seq=2**63), raw_token(seq=2**62 + 1), raw_token(at="soon"), signed(3).to_token(),
                   raw_token(seq=2**63)], on_ledger_head=box.keep_ledger_head)
    with caplog.at_level(logging.WARNING, logger="devicelink"):
        for i in range(4):
            assert client.post_event(EVENT, f"k{i}") == {"id": "x"}
    assert seqs(box) == [3] and caplog.text.count("malformed") == 3
    box.put("event", EVENT)
    assert box.deliver(client).reachable is True  # the round is not broken by what the client saw


def test_a_pinned_ledger_key_drops_heads_it_did_not_sign(caplog):
    box = Outbox()
    other = Ed25519PrivateKey.generate()
    forged = Checkpoint(10**9, "ab" * 32, "2026-03-01T08:00:00Z", signed(1).key_id, base64.b64encode(bytes(64)).decode())
    values = [signed(5).to_token(), forged.to_token(), signed(6, key=other).to_token(), signed(7).to_token()]
    client = mock(values, on_ledger_head=box.keep_ledger_head, ledger_public_key=KEY_B64)
    with caplog.at_level(logging.ERROR, logger="devicelink"):
        for i in range(4):
            assert client.post_event(EVENT, f"k{i}") == {"id": "x"}
    assert seqs(box) == [5, 7] and client.ledger_heads_rejected == 2 and client.ledger_head == signed(7)
    assert caplog.text.count("the pinned ledger key did not sign") == 2
    with pytest.raises(ValueError, match="ledger_public_key"):
        mock([], ledger_public_key="not base64!")
    with pytest.raises(ValueError, match="ledger_public_key"):
        mock([], ledger_public_key=base64.b64encode(bytes(31)).decode())


# -- the upgrade keeps the head kept so far ---------------------------------------------------------------------
def test_the_head_kept_by_the_previous_version_is_carried_over(tmp_path):
    path = tmp_path / "outbox.db"
    db = open_database(path)
    migrate(db, devicelink.MIGRATIONS[:2])  # the outbox as the previous version left it, with its one head
    h = signed(9)
    db.execute("INSERT INTO devicelink_ledger_head (id, seq, entry_hash, at, key_id, signature, received_at) VALUES "
               "(1, ?, ?, ?, ?, ?, ?)", (h.seq, h.entry_hash, h.at, h.key_id, h.signature, "2026-02-01T00:00:00+00:00"))
    db.conn.close()
    assert [k.head for k in stored_ledger_heads(path)] == [h]  # read before the device opens it again
    box = Outbox(path, sealer=VaultSealer(Vault(tmp_path / "vault.db", RawKek(bytes(32)))))
    assert [(k.head, k.received_at) for k in box.ledger_heads()] == [(h, "2026-02-01T00:00:00+00:00")]
    tables = {r[0] for r in box.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "devicelink_ledger_head" not in tables
    assert box.keep_ledger_head(signed(10)) and seqs(box) == [9, 10]


# -- the rollback, end to end ----------------------------------------------------------------------------------
def copy_db(src, dst) -> None:
    dst.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()
    os.chmod(dst, 0o600)


def test_a_restored_old_copy_written_past_the_seq_a_gate_saw_fails_verification(tmp_path, monkeypatch):
    """The back office's ledger reaches seq N and the gate sees N; the data database is replaced by an older copy
    (the live key store beside it) and the back office keeps writing, with its real key, past N. The gate's
    exported witnesses make ``privacy verify-ledger --witness`` fail: rewritten at N. With only the newest head
    (what a device kept before) the rollback would be invisible."""
    pytest.importorskip("fastapi")
    from backoffice import create_app
    from gate import GateStore
    from smartborder.cli import main
    from smartborder.commands.backoffice import build_config
    from tests.backoffice.conftest import build_world, exception_body

    for var in ("SMARTBORDER_CONFIG", "SMARTBORDER_KEK", "SMARTBORDER_SECRET_KEY", "SMARTBORDER_KEK_FILE",
                "SMARTBORDER_BACKOFFICE_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SMARTBORDER_ENV", "dev")
    monkeypatch.setenv("SMARTBORDER_DATA_DIR", str(tmp_path / "data"))
    db = tmp_path / "data" / "bo.db"
    config = build_config(str(db), argon2_time_cost=1, argon2_memory_kib=1024)
    world = build_world(config)
    device_clock = Clock()
    keys = tmp_path / "gate-keys"
    keys.mkdir(mode=0o700)
    store = GateStore(tmp_path / "gate" / "gate.db", sealer=VaultSealer(Vault(keys / "v.db", RawKek(os.urandom(32)))),
                      clock=device_clock)

    def gate_client(http) -> BackofficeClient:
        return BackofficeClient(token=world.tokens["gate"], http=http, on_ledger_head=store.outbox.keep_ledger_head)

    def kiosk_writes(http, n: int) -> None:  # the back office's other work, which the gate does not see
        for i in range(n):
            r = http.post("/api/v1/exceptions", json=exception_body(), headers=world.h("kiosk", **{"Idempotency-Key":
                                                                                                    os.urandom(8).hex()}))
            assert r.status_code == 201, r.text

    gate = gate_client(world.client)
    gate.post_exception(exception_body(), "exc-g1")
    copy_db(db, tmp_path / "backup" / "bo.db")  # an ordinary backup: the ledger at the gate's first head
    backed_up = world.ctx.privacy.ledger.head().seq
    kiosk_writes(world.client, 3)
    gate.post_exception(exception_body(), "exc-g2")
    ledger = world.ctx.privacy.ledger
    n = ledger.head().seq
    assert store.ledger_head() == ledger.head() and n > backed_up + 3
    world.client.close()
    world.ctx.store.close()

    # the attack: the data database replaced by the older copy; the back office restarts with its real key
    copy_db(tmp_path / "backup" / "bo.db", db)
    from fastapi.testclient import TestClient

    app = create_app(config)
    http = TestClient(app, raise_server_exceptions=False)
    assert app.state.ctx.privacy.ledger.head().seq == backed_up
    kiosk_writes(http, 6)  # the new chain passes N while the gate is away
    device_clock.travel(hours=2)
    gate = gate_client(http)
    for i in range(3):
        device_clock.travel(minutes=1)
        gate.post_event(EVENT, f"evt-{i}")
    restored = app.state.ctx.privacy.ledger
    assert restored.head().seq > n and store.ledger_head() == restored.head()
    assert restored.verify().ok  # the back office alone sees nothing wrong
    http.close()
    app.state.ctx.store.close()

    runner = CliRunner()
    out = tmp_path / "audit" / "gate-01.json"
    r = runner.invoke(main, ["gate", "witness", "--db", str(tmp_path / "gate" / "gate.db"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    exported = json.loads(out.read_text())
    assert isinstance(exported, list) and n in [h["seq"] for h in exported]
    newest = tmp_path / "audit" / "newest-only.json"
    newest.write_text(json.dumps(max(exported, key=lambda h: h["seq"])))
    r = runner.invoke(main, ["privacy", "verify-ledger", "--db", str(db), "--witness", str(newest)])
    assert r.exit_code == 0, r.output  # what the single kept head allowed: the rollback laundered
    r = runner.invoke(main, ["privacy", "verify-ledger", "--db", str(db), "--json", "--witness", str(out)])
    assert r.exit_code == 1, r.output
    result = json.loads(r.output)
    assert "rewritten" in result["reason"] and f"witness head signed at entry {n}" in result["reason"]
    assert result["first_bad_index"] <= backed_up + 1  # no signature left in the copy covers where it forked
