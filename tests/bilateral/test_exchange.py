"""Two back offices that trust each other narrowly (issue #26 item 3): Vietnam's outbox sends, China's partner
link receives in a process of its own, over real mutual TLS on loopback, each side with its own link PKI."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from bilateral import (
    MAX_BODY_BYTES,
    MESSAGES_PATH,
    Outbox,
    PartnerLink,
    client_tls_context,
    encode_message,
    issue_attestation,
    key_kid,
    load_agreement,
    sign_revocations,
    sign_trust_list,
)
from bilateral._exchange import Message
from tests.bilateral import link_pki

REPO = Path(__file__).resolve().parents[2]
T0 = dt.datetime.now(dt.UTC).replace(microsecond=0)
SOD = b"\x77\x82\x01\x00" + b"security object of a VNM passport" * 3

CHN_AGREEMENT = """
[agreement]
partner = "VNM"
administration = "CHN"
rely_on = ["passive_authentication"]
validity_s = 900
clock_skew_s = 120
[agreement.retention_days]
VNM = 30
CHN = 90
"""
VNM_AGREEMENT = CHN_AGREEMENT.replace('partner = "VNM"', 'partner = "CHN"').replace(
    'administration = "CHN"', 'administration = "VNM"')


def _pem_private(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass
class World:
    dir: Path
    vnm_ca: link_pki.Ca
    chn_ca: link_pki.Ca
    vnm_client: link_pki.Leaf
    chn_server: link_pki.Leaf
    rogue_client: link_pki.Leaf  # O=VNM, issued by a CA nobody trusts
    rogue_server: link_pki.Leaf  # O=CHN, issued by a CA nobody trusts
    lao_server: link_pki.Leaf  # issued by CHN's link CA, naming LAO
    lao_client: link_pki.Leaf  # issued by VNM's link CA, naming LAO
    chn_named_client: link_pki.Leaf  # issued by VNM's link CA, naming CHN (VNM's CA may not speak for CHN)
    vnm_server: link_pki.Leaf  # VNM's link CA's, for server authentication only
    signing_key: ec.EllipticCurvePrivateKey
    list_key: Ed25519PrivateKey
    vnm_ledger_key: Ed25519PrivateKey
    chn_ledger_key: Ed25519PrivateKey
    chn_agreement: Path
    vnm_agreement: Path

    def attestation(self, **overrides) -> bytes:
        args = dict(signing_key=self.signing_key, kid=key_kid(self.signing_key.public_key()), secret=b"k" * 32,
                    issuer="VNM", direction="exit", lane="BL1-EXIT-03", issuing_state="VNM",
                    document_number="C1234567", ef_sod=SOD, checks={"passive_authentication": "passed"},
                    validity_s=900, now=T0)
        args.update(overrides)
        return issue_attestation(**args)

    def revocations(self, version: int, ids=(), key=None) -> bytes:
        return sign_revocations(ids, administration="VNM", list_key=key or self.list_key, version=version,
                                issued_at=T0)

    def trust_list(self, version: int) -> bytes:
        return sign_trust_list([self.signing_key.public_key()], administration="VNM", list_key=self.list_key,
                               version=version, issued_at=T0)

    def tls(self, client: link_pki.Leaf | None = None):
        client = client or self.vnm_client
        return client_tls_context(partner_ca=self.chn_ca.pem, client_cert=client.cert, client_key=client.key)

    def outbox(self, path: Path, port: int, *, client: link_pki.Leaf | None = None) -> Outbox:
        link = PartnerLink(f"https://127.0.0.1:{port}", partner="CHN", tls=self.tls(client), timeout_s=3.0)
        return Outbox(path, agreement=load_agreement(self.vnm_agreement), link=link, ledger_key=self.vnm_ledger_key)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    d = tmp_path_factory.mktemp("link-pki")
    vnm_ca, chn_ca = link_pki.make_ca(d, "vnm", "VNM"), link_pki.make_ca(d, "chn", "CHN")
    rogue_ca = link_pki.make_ca(d, "rogue", "VNM")
    w = World(
        d, vnm_ca, chn_ca,
        vnm_client=link_pki.issue(d, vnm_ca, "vnm-backoffice", o="VNM", server=False),
        chn_server=link_pki.issue(d, chn_ca, "chn-backoffice", o="CHN", server=True),
        rogue_client=link_pki.issue(d, rogue_ca, "rogue-vnm-client", o="VNM", server=False),
        rogue_server=link_pki.issue(d, rogue_ca, "rogue-chn-server", o="CHN", server=True),
        lao_server=link_pki.issue(d, chn_ca, "lao-server", o="LAO", server=True),
        lao_client=link_pki.issue(d, vnm_ca, "lao-client", o="LAO", server=False),
        chn_named_client=link_pki.issue(d, vnm_ca, "chn-named-client", o="CHN", server=False),
        vnm_server=link_pki.issue(d, vnm_ca, "vnm-server", o="VNM", server=True),
        signing_key=ec.generate_private_key(ec.SECP256R1()), list_key=Ed25519PrivateKey.generate(),
        vnm_ledger_key=Ed25519PrivateKey.generate(), chn_ledger_key=Ed25519PrivateKey.generate(),
        chn_agreement=d / "chn-agreement.toml", vnm_agreement=d / "vnm-agreement.toml")
    w.chn_agreement.write_text(CHN_AGREEMENT)
    w.vnm_agreement.write_text(VNM_AGREEMENT)
    (d / "list-key.pem").write_bytes(w.list_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (d / "chn-ledger.key").write_bytes(_pem_private(w.chn_ledger_key))
    return w


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """China's partner link in a child process (python -m tests.bilateral.partner_server)."""

    def __init__(self, world: World, db: Path, *, server: link_pki.Leaf | None = None, port: int | None = None):
        self.world, self.db = world, db
        self.server = server or world.chn_server
        self.port = port or _free_port()
        self.proc: subprocess.Popen | None = None

    def start(self, *, exit_after_commits: int | None = None) -> Receiver:
        cfg = {"db": str(self.db), "agreement": str(self.world.chn_agreement),
               "list_key": str(self.world.dir / "list-key.pem"), "ledger_key": str(self.world.dir / "chn-ledger.key"),
               "cert": str(self.server.cert), "key": str(self.server.key), "partner_ca": str(self.world.vnm_ca.pem),
               "port": self.port, "exit_after_commits": exit_after_commits}
        path = self.db.with_suffix(".json")
        path.write_text(json.dumps(cfg))
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.bilateral.partner_server", str(path)], cwd=REPO)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the partner link exited with {self.proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return self
            time.sleep(0.05)
        raise RuntimeError("the partner link did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def rows(self) -> list[tuple]:
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as c:
            return c.execute("SELECT sender, message_id, kind, sha256 FROM bilateral_inbox ORDER BY rowid").fetchall()

    def ledger(self) -> list[tuple[str, str, dict]]:
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as c:
            rows = c.execute("SELECT action, record, details FROM ledger_entries WHERE action LIKE 'bilateral_%' "
                             "ORDER BY seq").fetchall()
        return [(a, r, json.loads(d)) for a, r, d in rows]


@pytest.fixture(scope="module")
def receiver(world, tmp_path_factory):
    r = Receiver(world, tmp_path_factory.mktemp("chn") / "inbox.db").start()
    yield r
    r.stop()


def _ledger_actions(outbox: Outbox) -> list[tuple[str, str, dict]]:
    rows = outbox.db.query(text(
        "SELECT action, record, details FROM ledger_entries WHERE action LIKE 'bilateral_%' ORDER BY seq"))
    return [(r["action"], r["record"], json.loads(r["details"])) for r in rows]


def test_each_kind_is_delivered_once_and_both_sides_ledger_it(world, receiver, tmp_path):
    outbox = world.outbox(tmp_path / "outbox.db", receiver.port)
    att = world.attestation()
    ids = [outbox.enqueue("attestation", att), outbox.enqueue("revocations", world.revocations(1)),
           outbox.enqueue("trust_list", world.trust_list(1))]
    assert outbox.enqueue("attestation", att) == ids[0]  # the same attestation again: one message
    report = outbox.flush()
    assert (report.delivered, report.parked, report.pending) == (3, 0, 0)
    assert outbox.flush().delivered == 0  # nothing sent twice
    held = {r[1]: r for r in receiver.rows()}
    assert [held[i][2] for i in ids] == ["attestation", "revocations", "trust_list"]
    assert all(held[i][0] == "VNM" for i in ids)
    received = [(r, d) for a, r, d in receiver.ledger() if a == "bilateral_received" and r in ids]
    assert sorted(r for r, _ in received) == sorted(ids)
    for _, d in received:
        assert set(d) == {"kind", "sha256", "partner", "outcome"} and d["partner"] == "VNM"
    sent = _ledger_actions(outbox)
    assert [a for a, r, _ in sent if r == ids[0]] == ["bilateral_queued", "bilateral_delivered"]
    assert outbox.ledger.verify().ok
    # no body in either ledger: only its digest
    with contextlib.closing(sqlite3.connect(receiver.db)) as c:
        details = " ".join(d for (d,) in c.execute("SELECT details FROM ledger_entries WHERE details IS NOT NULL"))
    assert att.hex() not in details and base64.b64encode(att).decode() not in details
    outbox.close()


def test_a_replay_of_a_delivered_id_is_a_duplicate_and_other_bytes_under_it_are_refused(world, receiver):
    message = Message("revocations", "ab" * 16, "VNM", world.revocations(1))
    with httpx.Client(base_url=f"https://127.0.0.1:{receiver.port}", verify=world.tls(), trust_env=False) as client:
        first = client.post(MESSAGES_PATH, content=encode_message(message))
        tls_version = first.extensions["network_stream"].get_extra_info("ssl_object").version()
        again = client.post(MESSAGES_PATH, content=encode_message(message))
        other = client.post(MESSAGES_PATH, content=encode_message(
            Message("revocations", "ab" * 16, "VNM", world.revocations(2))))
    assert (first.status_code, first.json()["outcome"]) == (200, "received")
    assert tls_version == "TLSv1.3"  # both ends offer it
    assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")
    assert (other.status_code, other.json()["reason"]) == (409, "message_id_reused")
    assert [r for r in receiver.rows() if r[1] == "ab" * 16] == [("VNM", "ab" * 16, "revocations",
                                                               message.digest)]
    outcomes = [d["outcome"] for a, r, d in receiver.ledger() if r == "ab" * 16]
    assert outcomes == ["received", "duplicate", "refused"]


def test_a_client_certificate_of_another_ca_is_refused_at_the_handshake(world, receiver, tmp_path):
    outbox = world.outbox(tmp_path / "outbox.db", receiver.port, client=world.rogue_client)
    before = len(receiver.rows())
    mid = outbox.enqueue("revocations", world.revocations(1), message_id="0c" * 16)
    report = outbox.flush()
    assert (report.delivered, report.retrying, report.pending) == (0, 1, 1)
    status = outbox.status(mid)
    assert status["state"] == "pending" and status["attempts"] == 1
    # the TLS alert (the server's refusal of an unknown CA) surfaced as a transport error, retried later
    assert status["last_error"].startswith(("ConnectError: ", "ReadError: ", "RemoteProtocolError: ",
                                            "WriteError: ")), status["last_error"]
    assert len(receiver.rows()) == before
    assert all(r != mid for _, r, _ in receiver.ledger())  # no request ever reached the app
    outbox.close()


@pytest.mark.parametrize("client", ["lao_client", "chn_named_client"])
def test_a_client_certificate_of_the_partner_ca_naming_another_administration_is_a_link_failure(
        world, receiver, tmp_path, client):
    """The receiver refuses it (403 wrong_administration); for the sender that is its link's certificate, not
    the message: kept pending and retried (a parked backlog would never reach the partner once it is fixed)."""
    outbox = world.outbox(tmp_path / "outbox.db", receiver.port, client=getattr(world, client))
    mid = outbox.enqueue("revocations", world.revocations(1))
    other = outbox.enqueue("revocations", world.revocations(2))
    report = outbox.flush()
    assert (report.parked, report.retrying, report.pending) == (0, 1, 2)
    assert outbox.status(mid)["last_error"] == "HTTP 403 wrong_administration"
    assert outbox.status(other)["attempts"] == 0  # the flush stopped at the link failure
    assert not [r for r in receiver.rows() if r[1] == mid]
    assert [a for a, _, _ in _ledger_actions(outbox) if a == "bilateral_parked"] == []
    outbox.close()


@pytest.mark.parametrize(("server", "error"), [("rogue_server", "CERTIFICATE_VERIFY_FAILED"),
                                               ("lao_server", "names 'LAO', not the partner 'CHN'")])
def test_a_server_certificate_of_another_ca_or_administration_is_refused_by_the_client(world, tmp_path, server,
                                                                                         error):
    impostor = Receiver(world, tmp_path / "impostor.db", server=getattr(world, server)).start()
    try:
        outbox = world.outbox(tmp_path / "outbox.db", impostor.port)
        mid = outbox.enqueue("trust_list", world.trust_list(1))
        report = outbox.flush()
        assert (report.delivered, report.pending) == (0, 1)
        assert error in outbox.status(mid)["last_error"]
        assert impostor.rows() == []  # the handshake failed, or its certificate named LAO: nothing was sent
        assert impostor.ledger() == []  # not even a refusal: no request reached the app
        outbox.close()
    finally:
        impostor.stop()


def test_an_outage_and_a_lost_answer_every_message_arrives_exactly_once(world, tmp_path):
    chn = Receiver(world, tmp_path / "chn-inbox.db")  # not started: the link is down
    outbox = world.outbox(tmp_path / "outbox.db", chn.port)
    bodies = [("attestation", world.attestation(now=T0 + dt.timedelta(seconds=i))) for i in range(3)]
    bodies += [("revocations", world.revocations(1)), ("trust_list", world.trust_list(1))]
    ids = [outbox.enqueue(kind, body, now=T0) for kind, body in bodies]
    report = outbox.flush(now=T0)
    assert (report.delivered, report.retrying, report.pending) == (0, 1, 5)
    assert outbox.status(ids[0])["next_attempt_at"] == T0.timestamp() + 1  # base 1 s, then 2, 4 ... capped
    assert outbox.flush(now=T0).retrying == 0  # not due yet: nothing attempted
    outbox.close()  # the sender restarts: the messages are in its file
    outbox = world.outbox(tmp_path / "outbox.db", chn.port)
    assert outbox.count("pending") == 5
    # the partner comes back, commits the first message and dies before answering
    chn.start(exit_after_commits=1)
    report = outbox.flush(now=T0 + dt.timedelta(seconds=1))
    assert (report.delivered, report.pending) == (0, 5)
    chn.proc.wait(10)
    assert chn.proc.returncode == 3
    assert [r[1] for r in chn.rows()] == [ids[0]]  # stored, but the sender saw no 2xx
    assert outbox.status(ids[0])["attempts"] == 2
    chn.start()
    try:
        report = outbox.flush(now=T0 + dt.timedelta(seconds=1))
        assert report.delivered == 0  # backed off: 2 s after the second failure
        report = outbox.flush(now=T0 + dt.timedelta(seconds=4))
        assert (report.delivered, report.pending) == (5, 0)
        rows = chn.rows()
        assert sorted(r[1] for r in rows) == sorted(ids) and len(rows) == len(ids)
        outcomes = [(r, d["outcome"]) for a, r, d in chn.ledger()]
        assert outcomes.count((ids[0], "received")) == 1 and outcomes.count((ids[0], "duplicate")) == 1
        assert all(outcomes.count((i, "received")) == 1 for i in ids)
    finally:
        outbox.close()
        chn.stop()


def test_the_backoff_is_exponential_and_capped(world, tmp_path):
    outbox = Outbox(tmp_path / "o.db", agreement=load_agreement(world.vnm_agreement),
                    link=PartnerLink(f"https://127.0.0.1:{_free_port()}", partner="CHN", tls=world.tls(),
                                     timeout_s=1.0), ledger_key=world.vnm_ledger_key, base_s=1.0, cap_s=5.0)
    mid = outbox.enqueue("revocations", world.revocations(1), now=T0)
    at, waits = T0.timestamp(), []
    for _ in range(5):
        outbox.flush(now=dt.datetime.fromtimestamp(at, dt.UTC))
        nxt = outbox.status(mid)["next_attempt_at"]
        waits.append(nxt - at)
        at = nxt
    assert waits == [1, 2, 4, 5, 5]
    outbox.close()


def _raw_post(world, port: int, content: bytes, client=None) -> httpx.Response:
    with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=world.tls(client), trust_env=False) as c:
        return c.post(MESSAGES_PATH, content=content)


@pytest.mark.parametrize(("content", "status", "reason"), [
    (b"not json", 400, "message_malformed"),
    (b'{"v": 1, "kind": "attestation"}', 400, "message_malformed"),
    (json.dumps({"v": 1, "kind": "attestation", "message_id": "cd" * 16, "sender": "VNM", "body": "AA==",
                 "priority": "high"}).encode(), 400, "unknown_field"),
    (json.dumps({"v": 1, "kind": "watchlist", "message_id": "cd" * 16, "sender": "VNM", "body": "AA=="}).encode(),
     400, "unknown_kind"),
    (json.dumps({"v": 1, "kind": "revocations", "message_id": "cd" * 16, "sender": "LAO", "body": "AA=="}).encode(),
     403, "wrong_administration"),
    (json.dumps({"v": 1, "kind": "revocations", "message_id": "CD" * 16, "sender": "VNM", "body": "AA=="}).encode(),
     400, "message_malformed"),
    (json.dumps({"v": 1, "kind": "revocations", "message_id": "cd" * 16, "sender": "VNM", "body": "A*=="}).encode(),
     400, "message_malformed"),
    (b'{"v": 1, "v": 1, "kind": "revocations", "message_id": "' + b"cd" * 16 + b'", "sender": "VNM", "body": "AA=="}',
     400, "message_malformed"),
    (b"x" * (MAX_BODY_BYTES * 2), 413, "too_large"),
])
def test_malformed_envelopes_are_refused_by_name(world, receiver, content, status, reason):
    before = len(receiver.rows())
    response = _raw_post(world, receiver.port, content)
    assert (response.status_code, response.json()["reason"]) == (status, reason)
    assert len(receiver.rows()) == before
    assert receiver.ledger()[-1][2]["reason"] == reason


@pytest.mark.parametrize(("make", "reason"), [
    (lambda w: ("revocations", w.attestation()), "revocations_invalid"),  # an attestation sent as a list
    (lambda w: ("trust_list", w.revocations(1)), "trust_list_invalid"),  # the other list's name
    (lambda w: ("revocations", w.revocations(1, key=Ed25519PrivateKey.generate())), "revocations_invalid"),
    (lambda w: ("attestation", w.revocations(1)), "malformed"),
    (lambda w: ("attestation", b"\x00" * (MAX_BODY_BYTES + 1)), "too_large"),
])
def test_a_body_refused_by_the_receiver_is_parked_with_its_reason_and_not_retried(world, receiver, tmp_path,
                                                                                   make, reason):
    outbox = world.outbox(tmp_path / "outbox.db", receiver.port)
    kind, body = make(world)
    message = Message(kind, "ef" * 16, "VNM", body)
    if kind == "attestation":  # the sender checks an attestation itself: put it in the file as an older one would
        with outbox.db.tx() as c:
            c.execute(text(
                "INSERT INTO bilateral_outbox (message_id, kind, sha256, body, state, next_attempt_at, queued_at) "
                "VALUES (:m, :k, :h, :b, 'pending', 0, 0)"), {"m": message.message_id, "k": kind, "h": message.digest,
                                                             "b": body})
    else:
        outbox.enqueue(kind, body, message_id=message.message_id)
    refusals = sum(1 for a, _, _ in receiver.ledger() if a == "bilateral_refused")
    report = outbox.flush()
    assert (report.delivered, report.parked, report.pending) == (0, 1, 0)
    assert outbox.parked()[0]["reason"] == reason
    assert outbox.flush().parked == 0
    sent = 0 if reason == "too_large" else 1  # too large: parked by the sender itself, never sent
    assert sum(1 for a, _, _ in receiver.ledger() if a == "bilateral_refused") == refusals + sent
    assert outbox.status(message.message_id)["attempts"] == 1
    assert [(a, d.get("reason")) for a, r, d in _ledger_actions(outbox) if r == message.message_id][-1:] == [
        ("bilateral_parked", reason)]
    outbox.close()


def test_the_client_context_trusts_the_partner_ca_only_checks_the_hostname_and_wants_tls_1_3(world):
    ctx = world.tls()
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    assert [c["subject"] for c in ctx.get_ca_certs()] == [((("organizationName", "CHN"),),
                                                           (("commonName", "chn partner-link CA"),))]


def test_a_server_certificate_for_another_host_is_refused(world, receiver):
    """The partner CA's genuine server certificate, presented for a name it does not carry (SNI and hostname
    check against chn-backoffice.example): refused by the client context the link uses."""
    url = f"https://127.0.0.1:{receiver.port}"
    with httpx.Client(base_url=url, verify=world.tls(), trust_env=False) as client:
        assert client.post(MESSAGES_PATH, content=b"{}").status_code == 400  # the right name: through to the app
    with httpx.Client(base_url=url, verify=world.tls(), trust_env=False) as client, \
            pytest.raises(httpx.ConnectError, match="Hostname mismatch"):
        client.post(MESSAGES_PATH, content=b"{}", extensions={"sni_hostname": "chn-backoffice.example"})


def test_the_app_served_without_the_client_certificate_in_scope_refuses(world, tmp_path):
    """Fail closed: the receiving app mounted or served any other way (no TLS extension in the scope) refuses."""
    from fastapi.testclient import TestClient

    from backoffice._partner_link import create_partner_app
    from bilateral import Inbox

    inbox = Inbox(tmp_path / "inbox.db", agreement=load_agreement(world.chn_agreement),
                  list_keys=[world.list_key.public_key()], ledger_key=world.chn_ledger_key)
    with TestClient(create_partner_app(inbox, partner_ca=world.vnm_ca.pem)) as client:
        response = client.post(MESSAGES_PATH, content=encode_message(
            Message("revocations", "cd" * 16, "VNM", world.revocations(1))))
    assert (response.status_code, response.json()["reason"]) == (403, "no_client_certificate")
    assert inbox.count() == 0
    inbox.close()


def _leaf_pem(leaf: link_pki.Leaf) -> str:
    return leaf.cert.read_text()


@pytest.mark.parametrize(("tls", "status", "reason"), [
    # the genuine client certificate, verified by whoever served the app: through
    (lambda w: {"client_cert_chain": [_leaf_pem(w.vnm_client)], "client_cert_error": None}, 200, None),
    # a server that says the certificate failed, or says nothing about it: refused
    (lambda w: {"client_cert_chain": [_leaf_pem(w.vnm_client)], "client_cert_error": "unable to verify"},
     403, "no_client_certificate"),
    (lambda w: {"client_cert_chain": [_leaf_pem(w.vnm_client)]}, 403, "no_client_certificate"),
    # a server that did not verify against the partner's CA: the app does
    (lambda w: {"client_cert_chain": [_leaf_pem(w.rogue_client)], "client_cert_error": None},
     403, "wrong_administration"),
    (lambda w: {"client_cert_chain": [w.vnm_ca.pem.read_text()], "client_cert_error": None},
     403, "wrong_administration"),  # the CA itself
    (lambda w: {"client_cert_chain": [_leaf_pem(w.vnm_server)], "client_cert_error": None},
     403, "wrong_administration"),  # the partner CA's, but for server authentication only
    (lambda w: {"client_cert_chain": ["not a certificate"], "client_cert_error": None},
     403, "wrong_administration"),
])
def test_the_app_verifies_the_client_certificate_itself_however_it_is_served(world, tmp_path, tls, status,
                                                                               reason):
    """Minor 6: the app fails closed on the ASGI TLS extension alone: client_cert_error must be None and the
    chain's first certificate the partner link CA's (signature, validity, CA, client authentication)."""
    from fastapi.testclient import TestClient

    from backoffice._partner_link import create_partner_app
    from bilateral import Inbox

    inbox = Inbox(tmp_path / "inbox.db", agreement=load_agreement(world.chn_agreement),
                  list_keys=[world.list_key.public_key()], ledger_key=world.chn_ledger_key)
    app = create_partner_app(inbox, partner_ca=world.vnm_ca.pem)
    extension = tls(world)

    async def served(scope, receive, send):
        if scope["type"] == "http":
            scope = {**scope, "extensions": {"tls": extension}}
        await app(scope, receive, send)

    with TestClient(served) as client:
        response = client.post(MESSAGES_PATH, content=encode_message(
            Message("revocations", "cd" * 16, "VNM", world.revocations(1))))
    assert response.status_code == status
    assert response.json().get("reason") == reason
    assert inbox.count() == (1 if status == 200 else 0)
    inbox.close()


def test_the_delivery_loop_delivers_what_is_queued_while_it_runs(world, receiver, tmp_path):
    import threading

    outbox = world.outbox(tmp_path / "outbox.db", receiver.port)
    stop = threading.Event()
    loop = threading.Thread(target=outbox.run, args=(stop,), kwargs={"idle_s": 0.05})
    loop.start()
    try:
        mid = outbox.enqueue("revocations", world.revocations(1))
        deadline = time.monotonic() + 10
        while outbox.status(mid)["state"] == "pending" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        loop.join(10)
    assert not loop.is_alive()
    assert outbox.status(mid)["state"] == "delivered"
    assert [r[1] for r in receiver.rows()].count(mid) == 1
    outbox.close()


def test_the_server_context_requires_a_client_certificate_of_the_partner_ca_only(world, tmp_path):
    from backoffice._partner_link import PeerCertH11Protocol, partner_tls_config

    config = partner_tls_config(object(), host="127.0.0.1", port=_free_port(), certfile=world.chn_server.cert,
                                keyfile=world.chn_server.key, partner_ca=world.vnm_ca.pem)
    assert config.ssl.verify_mode == ssl.CERT_REQUIRED
    assert config.ssl.minimum_version == ssl.TLSVersion.TLSv1_3  # both ends are ours: 1.3 only
    assert (config.ws, config.proxy_headers) == ("none", False)
    assert [c["subject"] for c in config.ssl.get_ca_certs()] == [((("organizationName", "VNM"),),
                                                                  (("commonName", "vnm partner-link CA"),))]
    assert config.http_protocol_class is PeerCertH11Protocol


class RawServer:
    """A TLS server in a thread of this process (the partner CA's certificate of the test's choice, the VNM link
    CA required of the client) answering every request with ``answer`` (raw HTTP bytes) and closing; it counts
    the bytes each connection received after the handshake."""

    def __init__(self, world: World, leaf: link_pki.Leaf, answer: bytes):
        import threading

        self.answer, self.received, self.done = answer, [], threading.Event()
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(leaf.cert, leaf.key)
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.ctx.load_verify_locations(world.vnm_ca.pem)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                raw, _ = self.sock.accept()
                self._one(raw)

    def _one(self, raw: socket.socket) -> None:
        got = b""
        try:
            raw.settimeout(5)
            conn = self.ctx.wrap_socket(raw, server_side=True)
            while b"\r\n\r\n" not in got:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                got += chunk
            if b"\r\n\r\n" in got:
                head, _, rest = got.partition(b"\r\n\r\n")
                length = next((int(v) for k, _, v in (h.partition(b":") for h in head.split(b"\r\n"))
                               if k.strip().lower() == b"content-length"), 0)
                while len(rest) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    rest += chunk
                    got += chunk
                conn.sendall(self.answer)
            conn.close()
        except (OSError, ssl.SSLError):
            pass
        finally:
            raw.close()
            self.received.append(len(got))
            self.done.set()

    def close(self) -> None:
        self.sock.close()


def _http(status: int, body: bytes, *, headers: str = "content-type: application/json\r\n") -> bytes:
    return (f"HTTP/1.1 {status} X\r\n{headers}content-length: {len(body)}\r\nconnection: close\r\n\r\n"
            .encode() + body)


def test_a_server_of_the_partner_ca_naming_another_administration_receives_no_byte(world, tmp_path):
    """M1: the server's administration is checked after the handshake, before the request is written."""
    server = RawServer(world, world.lao_server, _http(200, b'{"outcome": "received"}'))
    outbox = world.outbox(tmp_path / "outbox.db", server.port)
    try:
        mid = outbox.enqueue("revocations", world.revocations(1))
        report = outbox.flush()
        assert server.done.wait(10)
        assert server.received == [0]  # the envelope never left this side
        assert (report.delivered, report.retrying, report.pending) == (0, 1, 1)
        assert outbox.status(mid)["state"] == "pending"
        assert "names 'LAO', not the partner 'CHN'" in outbox.status(mid)["last_error"]
    finally:
        outbox.close()
        server.close()


def test_a_genuine_server_answering_with_connection_close_is_a_delivery(world, tmp_path):
    mid = "5a" * 16
    server = RawServer(world, world.chn_server,
                       _http(200, json.dumps({"outcome": "received", "message_id": mid}).encode()))
    outbox = world.outbox(tmp_path / "outbox.db", server.port)
    try:
        outbox.enqueue("revocations", world.revocations(1), message_id=mid)
        report = outbox.flush()
        assert (report.delivered, report.pending) == (1, 0)
        assert outbox.status(mid)["state"] == "delivered"
        assert server.received and server.received[0] > 0
    finally:
        outbox.close()
        server.close()


@pytest.mark.parametrize(("answer", "error"), [
    (_http(200, b"not gzip at all", headers="content-encoding: gzip\r\n"), "content-encoded"),
    (_http(500, b"[" * 2000 + b"]" * 2000), "HTTP 500"),
    (_http(500, b"x" * 100_000), "more than 4096 bytes"),
])
def test_an_unreadable_answer_is_a_link_failure_not_a_crash(world, tmp_path, answer, error):
    """M2: a corrupt gzip answer, JSON nested too deep, an answer too long: the message stays pending."""
    server = RawServer(world, world.chn_server, answer)
    outbox = world.outbox(tmp_path / "outbox.db", server.port)
    try:
        mid = outbox.enqueue("revocations", world.revocations(1))
        report = outbox.flush()
        assert (report.delivered, report.parked, report.retrying, report.pending) == (0, 0, 1, 1)
        assert outbox.status(mid)["state"] == "pending" and error in outbox.status(mid)["last_error"]
    finally:
        outbox.close()
        server.close()


class FakeLink:
    """A partner link that answers by a list of actions: an exception to raise or an Answer to return."""

    def __init__(self, *actions):
        self.actions, self.sent = list(actions), []

    def send(self, envelope: bytes):
        from bilateral._outbox import Answer

        self.sent.append(envelope)
        action = self.actions.pop(0) if len(self.actions) > 1 else self.actions[0]
        if isinstance(action, BaseException):
            raise action
        if isinstance(action, tuple):  # (status, reason, outcome): the answer to this envelope's message id
            return Answer(*action, json.loads(envelope)["message_id"])
        return action

    def close(self) -> None:
        pass


def test_the_delivery_loop_outlives_a_round_that_fails_with_anything(world, tmp_path, caplog):
    """M2: a RecursionError, an httpx.DecodingError, a database error out of a round: logged by type, backed
    off, and the loop delivers once the cause is gone."""
    import logging
    import threading

    from sqlalchemy.exc import OperationalError

    link = FakeLink(RecursionError("deep"), httpx.DecodingError("bad gzip"),
                    OperationalError("UPDATE", {}, Exception("database is locked")), (200, None, "received"))
    outbox = Outbox(tmp_path / "o.db", agreement=load_agreement(world.vnm_agreement), link=link,
                    ledger_key=world.vnm_ledger_key, base_s=0.01, cap_s=0.05)
    mid = outbox.enqueue("revocations", world.revocations(1))
    stop = threading.Event()
    loop = threading.Thread(target=outbox.run, args=(stop,), kwargs={"idle_s": 0.01})
    with caplog.at_level(logging.ERROR, logger="bilateral._outbox"):
        loop.start()
        try:
            deadline = time.monotonic() + 10
            while outbox.status(mid)["state"] != "delivered" and time.monotonic() < deadline:
                stop.wait(0.01)
            assert loop.is_alive()
        finally:
            stop.set()
            loop.join(10)
    assert outbox.status(mid)["state"] == "delivered"
    assert len(link.sent) >= 4
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "RecursionError" in logged and "DecodingError" in logged and "OperationalError" in logged
    assert "database is locked" not in logged and "bad gzip" not in logged  # the type only, never a message
    outbox.close()


def _answer_server(world, status: int, body: dict | None, *, headers: str = "content-type: application/json\r\n"):
    return RawServer(world, world.chn_server, _http(status, b"" if body is None else json.dumps(body).encode(),
                                                    headers=headers))


@pytest.mark.parametrize(("status", "body", "error"), [
    (204, None, "HTTP 204"),
    (200, {"outcome": "something-else"}, "HTTP 200 without a delivery: outcome 'something-else'"),
    (200, {"outcome": "received", "message_id": "99" * 16}, "for another message id"),
    (200, {"outcome": "received"}, "for another message id None"),
    (201, {"outcome": "received", "message_id": "5b" * 16}, "HTTP 201"),
])
def test_only_a_200_received_or_duplicate_for_the_message_is_a_delivery(world, tmp_path, status, body, error):
    """M5: a maintenance page's 204, another outcome, another message's id: retried with a named error."""
    server = _answer_server(world, status, body)
    outbox = world.outbox(tmp_path / "outbox.db", server.port)
    try:
        mid = outbox.enqueue("revocations", world.revocations(1), message_id="5b" * 16)
        report = outbox.flush()
        assert (report.delivered, report.parked, report.retrying) == (0, 0, 1)
        assert outbox.status(mid)["state"] == "pending" and error in outbox.status(mid)["last_error"]
        assert [a for a, r, _ in _ledger_actions(outbox) if r == mid] == ["bilateral_queued"]
    finally:
        outbox.close()
        server.close()


@pytest.mark.parametrize(("status", "body"), [
    (500, {"reason": "internal"}), (503, None), (408, None), (429, {"reason": "slow_down"}),
    (404, {"detail": "Not Found"}), (301, None), (400, {"reason": "something_unknown"}),
    (403, {"reason": "no_client_certificate"}), (422, {"reason": "wrong_administration"}),
])
def test_an_answer_that_is_not_a_content_refusal_keeps_the_backlog_pending(world, tmp_path, status, body):
    """M3 and the retry path: a 5xx, 408, 429, a misdeployed route's 404, a redirect, an unknown reason, the
    link's certificate refused: nothing parked, the flush stops at the first, the link is backed off."""
    server = _answer_server(world, status, body, headers="location: https://elsewhere.example/\r\n"
                            if status == 301 else "content-type: application/json\r\n")
    outbox = world.outbox(tmp_path / "outbox.db", server.port)
    try:
        ids = [outbox.enqueue("revocations", world.revocations(v), now=T0) for v in (1, 2, 3)]
        report = outbox.flush(now=T0)
        assert (report.delivered, report.parked, report.retrying, report.pending) == (0, 0, 1, 3)
        assert outbox.status(ids[0])["last_error"].startswith(f"HTTP {status}")
        assert [outbox.status(i)["attempts"] for i in ids] == [1, 0, 0]
        assert outbox.flush(now=T0).retrying == 0  # the link is backed off: nothing tried
        assert outbox.parked() == []
    finally:
        outbox.close()
        server.close()


def test_a_parked_message_is_requeued_and_delivered_with_a_ledger_entry(world, receiver, tmp_path):
    outbox = world.outbox(tmp_path / "outbox.db", receiver.port)
    link = outbox.link
    outbox.link = FakeLink((422, "revocations_invalid", None))
    mid = outbox.enqueue("revocations", world.revocations(1))
    assert outbox.flush().parked == 1 and outbox.parked()[0]["reason"] == "revocations_invalid"
    with pytest.raises(ValueError, match="requeue"):
        outbox.requeue()
    assert outbox.requeue("00" * 16) == 0
    assert outbox.requeue(mid) == 1
    assert outbox.status(mid)["state"] == "pending" and outbox.status(mid)["attempts"] == 0
    outbox.link = link
    assert outbox.flush().delivered == 1
    assert [a for a, r, _ in _ledger_actions(outbox) if r == mid] == [
        "bilateral_queued", "bilateral_parked", "bilateral_requeued", "bilateral_delivered"]
    assert [r[1] for r in receiver.rows()].count(mid) == 1
    outbox.link = FakeLink((409, "message_id_reused", None))
    ids = [outbox.enqueue("revocations", world.revocations(v)) for v in (7, 8)]
    assert outbox.flush().parked == 2
    assert outbox.requeue(all_parked=True) == 2 and outbox.count("parked") == 0
    outbox.link = link
    assert outbox.flush().delivered == 2 and all(outbox.status(i)["state"] == "delivered" for i in ids)
    assert outbox.ledger.verify().ok
    outbox.close()


def test_two_outboxes_on_one_file_ledger_a_delivery_once(world, tmp_path):
    """Minor 4: a service's loop and a CLI flush on the same file both send (the receiver keeps it once) but
    only the one whose update changed the row ledgers ``delivered``."""
    import threading

    barrier = threading.Barrier(2, timeout=10)

    class Slow(FakeLink):
        def send(self, envelope):
            barrier.wait()
            return super().send(envelope)

    path = tmp_path / "o.db"
    boxes = [Outbox(path, agreement=load_agreement(world.vnm_agreement), link=Slow((200, None, "received")),
                    ledger_key=world.vnm_ledger_key) for _ in range(2)]
    mid = boxes[0].enqueue("revocations", world.revocations(1))
    reports = []
    threads = [threading.Thread(target=lambda b=b: reports.append(b.flush())) for b in boxes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(r.delivered for r in reports) == [0, 1]
    assert [a for a, r, _ in _ledger_actions(boxes[0]) if r == mid] == ["bilateral_queued", "bilateral_delivered"]
    for b in boxes:
        b.close()


def test_the_link_refuses_a_tls_1_2_client(world, receiver):
    """Minor 6: both ends are ours, so the receiver takes TLS 1.3 only (a real handshake at 1.2 fails)."""
    ctx = world.tls()
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    before = len(receiver.ledger())
    with httpx.Client(base_url=f"https://127.0.0.1:{receiver.port}", verify=ctx, trust_env=False) as client, \
            pytest.raises(httpx.ConnectError):
        client.post(MESSAGES_PATH, content=b"{}")
    assert len(receiver.ledger()) == before  # nothing reached the app


def test_a_chunked_body_over_the_cap_is_refused_while_read(world, receiver):
    """Minor 11: no content-length (chunked): the receiver counts what it reads and stops past the cap."""
    from bilateral import MAX_ENVELOPE_BYTES

    def chunks():
        for _ in range(MAX_ENVELOPE_BYTES // 16384 + 2):
            yield b"x" * 16384

    before = len(receiver.ledger())
    with httpx.Client(base_url=f"https://127.0.0.1:{receiver.port}", verify=world.tls(), trust_env=False) as c:
        response = c.post(MESSAGES_PATH, content=chunks())
    assert "content-length" not in response.request.headers
    assert (response.status_code, response.json()["reason"]) == (413, "too_large")
    refusals = [d for a, _, d in receiver.ledger()[before:] if a == "bilateral_refused"]
    assert [d["reason"] for d in refusals] == ["too_large"]


def test_the_receiver_stops_reading_a_body_past_the_cap():
    """Minor 11: the read itself is capped (not only the envelope's check after it): a stream far longer than
    the cap is abandoned one chunk past it."""
    import asyncio

    from backoffice._partner_link import _read_capped
    from bilateral import MAX_ENVELOPE_BYTES, MessageTooLarge

    consumed = []

    class Streaming:
        headers: dict = {}

        async def stream(self):
            for _ in range(1000):
                consumed.append(1)
                yield b"x" * 16384

    with pytest.raises(MessageTooLarge):
        asyncio.run(_read_capped(Streaming()))
    assert len(consumed) == MAX_ENVELOPE_BYTES // 16384 + 1
