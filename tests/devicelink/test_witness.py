"""Devices as witnesses of the back office's ledger: the client reads ``X-Ledger-Head`` on every answer, the
outbox's database keeps a history of heads (never overwritten: tests/devicelink/test_witness_history.py), a
malformed header never fails a request, and the gate's and the kiosk's existing databases upgrade to keep it."""

from __future__ import annotations

import base64
import json
import logging
import os

import httpx
import pytest
from sqlalchemy import text

import devicelink
from devicelink import (
    LEDGER_HEAD_HEADER,
    BackofficeClient,
    Outbox,
    OutboxError,
    VaultSealer,
    stored_ledger_head,
    stored_ledger_heads,
)
from gate import GateStore, sync_once
from privacy import Checkpoint, RawKek, Vault
from storage import applied_migrations, migrate, open_database
from tests.devicelink.conftest import FakeBackoffice
from tests.devicelink.test_backoffice import jpeg
from tests.devicelink.test_gate_host import refer

EVENT = {"occurred_at": "2026-11-22T08:00:00+07:00", "kind": "heartbeat", "outcome": "ok", "reason_codes": []}


def head(seq: int, h: str = "ab" * 32) -> Checkpoint:
    return Checkpoint(seq, h, "2026-03-01T08:00:00.000000Z", "0123456789abcdef", base64.b64encode(bytes(64)).decode())


def mock(values: list, on_head=None) -> BackofficeClient:
    """A client whose back office answers 201 with the next X-Ledger-Head value of ``values`` (None: none)."""
    answers = iter(values)

    def handler(request: httpx.Request) -> httpx.Response:
        value = next(answers)
        return httpx.Response(201, json={"id": "x"}, headers={} if value is None else {LEDGER_HEAD_HEADER: value})

    return BackofficeClient(token="sbd_t", on_ledger_head=on_head,
                            http=httpx.Client(base_url="http://bo", transport=httpx.MockTransport(handler)))


# -- the client ---------------------------------------------------------------------------------------
def test_the_client_hands_on_every_head_that_differs_from_the_one_before():
    """A lower seq too (a rolled-back ledger is evidence, and a forged high seq must not hide the genuine heads
    after it): the outbox's history decides what to keep."""
    seen = []
    client = mock([head(5).to_token(), None, head(5).to_token(), head(3).to_token(), head(9).to_token(),
                   head(9, "cd" * 32).to_token()], on_head=seen.append)
    for i in range(6):
        client.post_event(EVENT, f"k{i}")
    assert client.ledger_head == head(9, "cd" * 32)
    assert [(h.seq, h.entry_hash[:2]) for h in seen] == [(5, "ab"), (3, "ab"), (9, "ab"), (9, "cd")]


@pytest.mark.parametrize("value", ["", "not-base64!", base64.urlsafe_b64encode(b"[1]").decode(),
                                   base64.urlsafe_b64encode(json.dumps({**head(1).to_dict(), "seq": -1}).encode()).decode(),
                                   "A" * 5000])
def test_a_malformed_header_is_logged_and_ignored(value, caplog):
    client = mock([head(2).to_token(), value])
    client.post_event(EVENT, "k1")
    with caplog.at_level(logging.WARNING, logger="devicelink"):
        assert client.post_event(EVENT, "k2") == {"id": "x"}  # the request itself succeeds
    assert client.ledger_head == head(2)
    assert any(LEDGER_HEAD_HEADER in r.getMessage() for r in caplog.records)


def test_a_failing_witness_store_never_fails_the_request(caplog):
    def broken(h):
        raise OutboxError("disk full")

    client = mock([head(4).to_token()], on_head=broken)
    with caplog.at_level(logging.WARNING, logger="devicelink"):
        assert client.post_event(EVENT, "k1") == {"id": "x"}
    assert client.ledger_head == head(4) and "not kept" in caplog.text


# -- the outbox keeps it ------------------------------------------------------------------------------
def test_the_outbox_keeps_every_head_it_needs_across_restarts(tmp_path, caplog):
    path = tmp_path / "outbox.db"
    vault = Vault(tmp_path / "vault.db", RawKek(bytes(32)))
    box = Outbox(path, sealer=VaultSealer(vault))
    assert box.ledger_head() is None and box.ledger_heads() == []
    assert box.keep_ledger_head(head(7)) and box.ledger_head() == head(7)
    assert not box.keep_ledger_head(head(7))  # kept already
    with caplog.at_level(logging.WARNING, logger="devicelink"):
        assert box.keep_ledger_head(head(6))  # a lower seq: kept as evidence, with the head it came after
    assert box.ledger_head() == head(7)  # the highest seq
    assert "the ledger went back" in caplog.text
    with caplog.at_level(logging.ERROR, logger="devicelink"):
        assert box.keep_ledger_head(head(7, "cd" * 32))  # a fork: both kept, logged
    assert "the ledger was rewritten" in caplog.text
    assert box.keep_ledger_head(head(8))
    box.close()
    again = Outbox(path, sealer=VaultSealer(vault))
    assert again.ledger_head() == head(8)
    kept = [(k.head.seq, k.head.entry_hash[:2], bool(k.conflict)) for k in again.ledger_heads()]
    assert kept == [(7, "ab", True), (6, "ab", True), (7, "cd", True), (8, "ab", False)]
    assert stored_ledger_head(path) == head(8)  # read only, without the vault
    assert [k.head for k in stored_ledger_heads(path)] == [k.head for k in again.ledger_heads()]


def test_a_delivery_round_keeps_the_clients_head():
    box, bo = Outbox(), FakeBackoffice()
    box.put("event", {"n": 1})
    bo.ledger_head = head(12)  # what BackofficeClient.ledger_head holds after its answers
    box.deliver(bo)
    assert box.ledger_head() == head(12)
    bo.ledger_head, bo.down = head(3), True
    box.deliver(bo)  # even a round the back office broke off keeps what was seen; a lower seq beside, as evidence
    assert box.ledger_head() == head(12)
    assert [(k.head.seq, bool(k.conflict)) for k in box.ledger_heads()] == [(12, True), (3, True)]


def test_a_failing_witness_never_fails_a_delivery_round(caplog):
    box, bo = Outbox(), FakeBackoffice()
    box.put("event", {"n": 1})
    bo.ledger_head = Checkpoint(2**63, "ab" * 32, "2026-03-01T08:00:00Z", "0123456789abcdef",
                                base64.b64encode(bytes(64)).decode())  # what SQLite cannot even store
    with caplog.at_level(logging.WARNING, logger="devicelink"):
        report = box.deliver(bo)
    assert len(report.delivered) == 1 and box.ledger_heads() == [] and "was not kept" in caplog.text
    bo.ledger_head = "not a head"
    box.put("event", {"n": 2})
    assert len(box.deliver(bo).delivered) == 1
    with pytest.raises(OutboxError, match="seq"):  # what the outbox refuses itself
        box.keep_ledger_head(Checkpoint(0, "ab" * 32, "2026-03-01T08:00:00Z", "0123456789abcdef",
                                        base64.b64encode(bytes(64)).decode()))


def test_stored_ledger_head_names_what_is_wrong(tmp_path):
    with pytest.raises(OutboxError, match="no device database"):
        stored_ledger_head(tmp_path / "missing.db")
    db = open_database(tmp_path / "other.db")
    db.execute("CREATE TABLE t (x)")
    db.conn.close()
    with pytest.raises(OutboxError, match="keeps no ledger head"):
        stored_ledger_head(tmp_path / "other.db")


# -- existing databases upgrade ------------------------------------------------------------------------
def test_an_existing_gate_database_upgrades_to_keep_the_witness(tmp_path):
    from gate._store import MIGRATIONS

    old = [MIGRATIONS[0], devicelink.MIGRATIONS[0], next(m for m in MIGRATIONS if m.name.startswith("gate_002"))]
    path = tmp_path / "gate.db"
    db = open_database(path)
    migrate(db, old)  # gate.db as the previous version left it: gate_001, devicelink_001, gate_002
    db.conn.close()
    vault = Vault(tmp_path / "gate.db.vault", RawKek(os.urandom(32)))
    store = GateStore(path, sealer=VaultSealer(vault))
    assert applied_migrations(store.db) == [m.name for m in old] + ["devicelink_002_ledger_head",
                                                                    "devicelink_003_ledger_heads"]
    assert store.ledger_head() is None
    store.outbox.keep_ledger_head(head(4))
    assert store.ledger_head() == head(4) and [k.head for k in store.ledger_heads()] == [head(4)]
    # every devicelink migration is in the gate's list (the outbox refuses a host database that lacks one)
    assert {m.name for m in devicelink.MIGRATIONS} <= {m.name for m in MIGRATIONS}


def test_an_existing_kiosk_outbox_upgrades_to_keep_the_witness(tmp_path):
    path = tmp_path / "outbox.db"
    db = open_database(path)
    migrate(db, devicelink.MIGRATIONS[:1])  # the kiosk's outbox as the previous version left it
    db.conn.close()
    box = Outbox(path, sealer=VaultSealer(Vault(tmp_path / "vault.db", RawKek(bytes(32)))))
    assert applied_migrations(box.db) == ["devicelink_001_outbox", "devicelink_002_ledger_head",
                                          "devicelink_003_ledger_heads"]
    assert box.keep_ledger_head(head(1)) and box.ledger_head() == head(1)


def test_a_host_database_without_the_witness_table_is_refused():
    db = open_database(memory=True)
    migrate(db, devicelink.MIGRATIONS[:1])
    with pytest.raises(OutboxError, match="devicelink_002_ledger_head, devicelink_003_ledger_heads"):
        Outbox(db=db)
    migrate(db, devicelink.MIGRATIONS[:2])
    with pytest.raises(OutboxError, match="devicelink_003_ledger_heads"):
        Outbox(db=db)


# -- against the real back office ------------------------------------------------------------------------
def test_a_device_keeps_the_back_offices_signed_head(backoffice, tmp_path):
    ledger = backoffice.app.state.ctx.privacy.ledger
    box = Outbox()
    client = BackofficeClient(token=backoffice.tokens["gate"], http=backoffice.http, on_ledger_head=box.keep_ledger_head)
    from tests.backoffice.conftest import exception_body

    client.post_exception(exception_body(), "exc-1")  # sealed and ledgered: the head moves
    first = ledger.head()
    assert first is not None and client.ledger_head == first and box.ledger_head() == first
    client.post_exception(exception_body(), "exc-2")
    assert box.ledger_head() == ledger.head() and ledger.head().seq > first.seq
    # an older head (a replayed or stale answer) never replaces the newer one
    assert not box.keep_ledger_head(first) and box.ledger_head() == ledger.head()
    assert ledger.verify([box.ledger_head()]).ok
    # the auditor finds the truncation through the device's copy after the back office lost its newest entries
    # and every signature over them
    witness = box.ledger_head()
    with ledger.db.tx() as db:  # the ledger runs on the back office's Store
        db.execute(text("DELETE FROM ledger_entries WHERE seq >= :seq"), {"seq": first.seq})
        db.execute(text("DELETE FROM ledger_head"))
    v = ledger.verify([witness])
    assert not v.ok and "truncated" in v.reason and "witness head" in v.reason


def test_a_kiosk_answer_carries_the_head_and_errors_after_authentication_too(backoffice):
    client = BackofficeClient(token=backoffice.tokens["kiosk"], http=backoffice.http)
    from tests.backoffice.conftest import exception_body

    client.post_exception(exception_body(), "exc-k")
    assert client.ledger_head == backoffice.app.state.ctx.privacy.ledger.head()
    r = backoffice.http.get("/api/v1/privacy/purposes", headers={"Authorization": f"Bearer {backoffice.tokens['kiosk']}"})
    assert r.status_code == 403 and Checkpoint.from_token(r.headers[LEDGER_HEAD_HEADER]) == client.ledger_head
    r = backoffice.http.get("/api/v1/privacy/purposes", headers={"Authorization": "Bearer sbd_unknown"})
    assert r.status_code == 401 and LEDGER_HEAD_HEADER not in r.headers  # not a device: no head


def test_staff_answers_carry_no_head(backoffice):
    auth = backoffice.app.state.ctx.auth
    auth.create_user("sup", "correct horse battery", "supervisor")
    token, _ = auth.login("sup", "correct horse battery", "test")
    r = backoffice.http.get("/api/v1/watchlist/changes", params={"since": 0}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and LEDGER_HEAD_HEADER not in r.headers


def test_the_header_is_in_the_openapi_of_device_operations(backoffice):
    spec = backoffice.app.openapi()
    events = spec["paths"]["/api/v1/events"]["post"]["responses"]
    assert LEDGER_HEAD_HEADER in events["201"]["headers"]
    feed = spec["paths"]["/api/v1/watchlist/changes"]["get"]["responses"]
    assert LEDGER_HEAD_HEADER in feed["200"]["headers"]
    purge = spec["paths"]["/api/v1/privacy/purge"]["post"]["responses"]
    assert "headers" not in purge["200"]


def test_a_gate_syncing_over_http_keeps_the_head_in_gate_db(tmp_path):
    """The gate's own sync (devicelink's client, the outbox on gate.db) against the real back office on
    loopback: the witness is kept in gate.db with no wiring of the client's callback."""
    from smartborder.sim.backoffice import SimBackoffice

    vault = Vault(tmp_path / "gate.db.vault", RawKek(os.urandom(32)))
    store = GateStore(tmp_path / "gate.db", sealer=VaultSealer(vault))
    with SimBackoffice() as bo:
        client = BackofficeClient(bo.url, bo.gate_token)
        try:
            refer(store, live=jpeg((170, 130, 110)), chip=jpeg((180, 140, 120)))  # an exception and an event
            report = sync_once(store, client)
            assert report.delivered == 2 and report.reachable
            ledger = bo.app.state.ctx.privacy.ledger
            assert store.ledger_head() == ledger.head()
            assert ledger.verify([store.ledger_head()]).ok
        finally:
            client.close()
    assert stored_ledger_head(tmp_path / "gate.db") == store.ledger_head()


def test_the_kiosks_outbox_keeps_the_head_after_a_delivery_round(backoffice, tmp_path):
    """The kiosk's outbox as its composition builds it, delivering through the one client: no callback wired,
    the round keeps what the answers carried."""
    from tests.backoffice.conftest import exception_body
    from tests.devicelink.test_backoffice import kiosk_outbox

    box = kiosk_outbox(tmp_path)
    client = backoffice.client("kiosk")
    box.put("exception", exception_body())
    box.put("event", EVENT)
    report = box.deliver(client)
    assert len(report.delivered) == 2
    ledger = backoffice.app.state.ctx.privacy.ledger
    assert ledger.head() is not None and box.ledger_head() == ledger.head()
    box.close()
