"""The exchange's receiving end in process (no TLS: the peer named as the link would name it), the envelope, the
agreement's exchange keys and retention, link certificates' administration."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bilateral import (
    CLAIM_NAMES,
    CONTENT_TYPE,
    AgreementError,
    ContentRefused,
    FieldNotAgreed,
    FieldNotExchangeable,
    Inbox,
    LinkCertificateError,
    MessageIdReused,
    MessageMalformed,
    MessageTooLarge,
    Outbox,
    UnknownField,
    UnknownKind,
    WrongAdministration,
    decode_message,
    encode_message,
    issue_attestation,
    key_kid,
    link_administration,
    parse_agreement,
    sign1,
    sign_revocations,
    sign_trust_list,
)
from bilateral._exchange import Message, PurgeResult
from tests.bilateral import link_pki

T0 = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)
SOD = b"\x77\x82\x01\x00" + b"security object" * 4
EXCHANGE = {"partner": "VNM", "administration": "CHN", "direction": "exit", "rely_on": ["passive_authentication"],
            "validity_s": 900, "clock_skew_s": 120, "retention_days": {"VNM": 30, "CHN": 90}}


def agreement(**changes):
    table = {**EXCHANGE, **changes}
    return parse_agreement({"agreement": {k: v for k, v in table.items() if v is not None}})


@pytest.fixture()
def keys():
    return {"signing": ec.generate_private_key(ec.SECP256R1()), "list": Ed25519PrivateKey.generate(),
            "ledger": Ed25519PrivateKey.generate()}


def attestation(keys, *, issuer="VNM", attestation_id=None, when=T0) -> bytes:
    return issue_attestation(signing_key=keys["signing"], kid=key_kid(keys["signing"].public_key()),
                             secret=b"s" * 32, issuer=issuer, direction="exit", lane="BL1-EXIT-03",
                             issuing_state="VNM", document_number="C1234567", ef_sod=SOD,
                             checks={"passive_authentication": "passed"}, validity_s=900, now=when,
                             attestation_id=attestation_id)


def envelope(kind: str, body: bytes, message_id: str = "aa" * 16, sender: str = "VNM") -> bytes:
    return encode_message(Message(kind, message_id, sender, body))


@pytest.fixture()
def inbox(tmp_path, keys):
    box = Inbox(tmp_path / "inbox.db", agreement=agreement(), list_keys=[keys["list"].public_key()],
                ledger_key=keys["ledger"])
    yield box
    box.close()


def _actions(box) -> list[tuple[str, str, dict]]:
    from sqlalchemy import text
    rows = box.db.query(text("SELECT action, record, details FROM ledger_entries WHERE action LIKE 'bilateral_%' "
                             "ORDER BY seq"))
    return [(r["action"], r["record"], json.loads(r["details"])) for r in rows]


# -- the agreement -------------------------------------------------------------------------------------------------
def test_the_agreement_names_the_exchanged_fields_and_each_sides_retention():
    a = agreement(exchange_fields=["iss", "iat", "nbf", "exp", "cti", "v", "dir", "doc", "chk"])
    assert a.administration == "CHN" and "lane" not in a.exchange_fields
    assert (a.retention_of("CHN"), a.retention_of("VNM")) == (90, 30)
    assert agreement().exchange_fields == frozenset(CLAIM_NAMES)  # absent: every claim
    with pytest.raises(AgreementError, match="LAO"):
        a.retention_of("LAO")


@pytest.mark.parametrize(("changes", "error", "named"), [
    ({"exchange_fields": ["iss", "name"]}, FieldNotExchangeable, "name"),
    ({"exchange_fields": ["iss", "document_number"]}, FieldNotExchangeable, "document_number"),
    ({"exchange_fields": []}, AgreementError, "exchange_fields"),
    ({"exchange_fields": ["iss", "iss"]}, AgreementError, "exchange_fields"),
    ({"exchange_fields": "iss"}, AgreementError, "exchange_fields"),
    ({"retention_days": {"CHN": 90}}, AgreementError, "retention_days"),
    ({"retention_days": {"CHN": 90, "VNM": 30, "LAO": 1}}, AgreementError, "retention_days"),
    ({"retention_days": {"CHN": 0, "VNM": 30}}, AgreementError, "CHN"),
    ({"retention_days": {"CHN": 3651, "VNM": 30}}, AgreementError, "CHN"),
    ({"retention_days": {"CHN": True, "VNM": 30}}, AgreementError, "CHN"),
    ({"administration": None}, AgreementError, "administration"),
    ({"administration": "VNM"}, AgreementError, "administration"),
    ({"administration": "chn"}, AgreementError, "administration"),
    ({"retention": 30}, AgreementError, "unknown keys"),
])
def test_the_agreements_exchange_keys_are_strict(changes, error, named):
    with pytest.raises(error, match=named):
        agreement(**changes)


def test_an_agreement_without_the_exchange_keys_still_loads_but_runs_no_exchange(tmp_path, keys):
    plain = agreement(administration=None, retention_days=None)
    assert plain.administration is None and plain.retention_days == ()
    with pytest.raises(AgreementError, match="administration and retention_days"):
        Inbox(None, agreement=plain, list_keys=[], ledger_key=keys["ledger"])
    with pytest.raises(AgreementError, match="administration and retention_days"):
        Outbox(None, agreement=plain, link=None, ledger_key=keys["ledger"])


# -- the envelope ----------------------------------------------------------------------------------------------
def test_an_envelope_round_trips():
    m = Message("trust_list", "0f" * 16, "VNM", b"\x00\x01 signed list")
    assert decode_message(encode_message(m)) == m


@pytest.mark.parametrize(("data", "error"), [
    (b"[]", MessageMalformed),
    (b'{"v": true, "kind": "attestation", "message_id": "' + b"a" * 32 + b'", "sender": "VNM", "body": "AA=="}',
     MessageMalformed),
    (b'{"v": 2, "kind": "attestation", "message_id": "' + b"a" * 32 + b'", "sender": "VNM", "body": "AA=="}',
     MessageMalformed),
    (b'{"v": 1, "kind": "attestation", "message_id": "' + b"a" * 32 + b'", "sender": "VNM", "body": ""}',
     MessageMalformed),
    (b'{"v": 1, "kind": "attestation", "message_id": "' + b"a" * 31 + b'", "sender": "VNM", "body": "AA=="}',
     MessageMalformed),
    (b'{"v": 1, "kind": "attestation", "message_id": "' + b"a" * 32 + b'", "sender": "Vnm", "body": "AA=="}',
     MessageMalformed),
    (b'{"v": 1, "kind": "attestation", "message_id": "' + b"a" * 32 + b'", "sender": "VNM", "body": "AA==",'
     b' "x": 1}', UnknownField),
    (b'{"v": 1, "kind": "faces", "message_id": "' + b"a" * 32 + b'", "sender": "VNM", "body": "AA=="}', UnknownKind),
    (b"\xff\xfe", MessageMalformed),
    (b" " * 200_000, MessageTooLarge),
])
def test_a_bad_envelope_is_a_named_error(data, error):
    with pytest.raises(error):
        decode_message(data)


# -- what the inbox checks -------------------------------------------------------------------------------------
def test_an_attestation_is_received_once_a_replay_is_a_duplicate_other_bytes_refused(inbox, keys):
    att = attestation(keys)
    assert inbox.receive(envelope("attestation", att), peer="VNM").outcome == "received"
    assert inbox.receive(envelope("attestation", att), peer="VNM").outcome == "duplicate"
    with pytest.raises(MessageIdReused):
        inbox.receive(envelope("attestation", attestation(keys)), peer="VNM")
    assert inbox.count() == 1 and inbox.bodies("attestation") == [att]
    assert [(a, d["outcome"], d.get("reason")) for a, _, d in _actions(inbox)] == [
        ("bilateral_received", "received", None), ("bilateral_duplicate", "duplicate", None),
        ("bilateral_refused", "refused", "message_id_reused")]
    assert inbox.ledger.verify().ok


@pytest.mark.parametrize(("peer", "sender", "issuer"), [("LAO", "VNM", "VNM"), ("VNM", "LAO", "VNM"),
                                                         ("VNM", "VNM", "LAO"), ("CHN", "VNM", "VNM")])
def test_anything_not_from_the_partner_is_refused(inbox, keys, peer, sender, issuer):
    with pytest.raises(WrongAdministration):
        inbox.receive(envelope("attestation", attestation(keys, issuer=issuer), sender=sender), peer=peer)
    assert inbox.count() == 0
    assert _actions(inbox)[-1][2]["reason"] == "wrong_administration"


def test_an_attestation_with_a_claim_not_agreed_is_refused(tmp_path, keys):
    narrow = agreement(exchange_fields=[f for f in CLAIM_NAMES if f != "lane"])
    box = Inbox(tmp_path / "narrow.db", agreement=narrow, list_keys=[], ledger_key=keys["ledger"])
    with pytest.raises(FieldNotAgreed, match="lane"):
        box.receive(envelope("attestation", attestation(keys)), peer="VNM")
    assert box.count() == 0
    box.close()
    vnm_side = parse_agreement({"agreement": {**EXCHANGE, "partner": "CHN", "administration": "VNM",
                                              "retention_days": {"VNM": 30, "CHN": 90},
                                              "exchange_fields": [f for f in CLAIM_NAMES if f != "lane"]}})
    outbox = Outbox(tmp_path / "out.db", agreement=vnm_side, link=None, ledger_key=keys["ledger"])
    with pytest.raises(FieldNotAgreed):  # nor is it queued
        outbox.enqueue("attestation", attestation(keys))
    assert outbox.count("pending") == 0
    outbox.close()


@pytest.mark.parametrize(("make", "reason"), [
    # another protocol's payload under the same key: no crossing-attestation content type
    (lambda k: sign1(cbor2.dumps({1: "VNM"}), k["signing"], kid=b"k" * 8, content_type="application/cwt"),
     "wrong_content_type"),
    (lambda k: sign1(cbor2.dumps({1: "VNM"}), k["signing"], kid=b"k" * 8, content_type=CONTENT_TYPE), "malformed"),
    (lambda k: sign1(cbor2.dumps({1: "VNM", "name": "NGUYEN"}), k["signing"], kid=b"k" * 8,
                     content_type=CONTENT_TYPE), "malformed"),
    (lambda k: attestation(k)[:-1], "malformed"),
    (lambda k: b"\xd2" + b"\x00" * 40, "malformed"),
    # a claim key no str() can print (minor 2: was a ValueError, a 500 at the receiver)
    (lambda k: sign1(cbor2.dumps({1: "VNM", 10 ** 5000: 1}), k["signing"], kid=b"k" * 8,
                     content_type=CONTENT_TYPE), "malformed"),
    # a duplicate claim key (the strict decoding parse_claims uses)
    (lambda k: sign1(b"\xa2\x01\x63VNM\x01\x63VNM", k["signing"], kid=b"k" * 8, content_type=CONTENT_TYPE),
     "malformed"),
])
def test_a_body_that_is_not_an_attestation_of_this_profile_is_refused(inbox, keys, make, reason):
    with pytest.raises(ContentRefused) as e:
        inbox.receive(envelope("attestation", make(keys)), peer="VNM")
    assert e.value.reason == reason and e.value.status == 422
    assert inbox.count() == 0


def test_an_attestation_with_an_unprintable_claim_key_is_refused_by_name_at_enqueue(tmp_path, keys):
    vnm_side = parse_agreement({"agreement": {**EXCHANGE, "partner": "CHN", "administration": "VNM"}})
    outbox = Outbox(tmp_path / "out.db", agreement=vnm_side, link=None, ledger_key=keys["ledger"])
    body = sign1(cbor2.dumps({1: "VNM", 10 ** 5000: 1}), keys["signing"], kid=b"k" * 8, content_type=CONTENT_TYPE)
    with pytest.raises(ContentRefused) as e:
        outbox.enqueue("attestation", body)
    assert e.value.reason == "malformed" and outbox.count("pending") == 0
    outbox.close()


def test_lists_must_be_the_partners_with_no_rollback_or_equivocation(inbox, keys):
    list_key = keys["list"]

    def revocations(version, ids=()):
        return sign_revocations(ids, administration="VNM", list_key=list_key, version=version, issued_at=T0)

    assert inbox.receive(envelope("revocations", revocations(3), "01" * 16), peer="VNM").outcome == "received"
    assert inbox.receive(envelope("revocations", revocations(3), "02" * 16), peer="VNM").outcome == "received"
    refusals = [("03", revocations(2), "revocations_rollback"),
                ("04", revocations(3, [b"\x01" * 16]), "revocations_equivocation"),
                ("05", sign_revocations([], administration="LAO", list_key=list_key, version=9, issued_at=T0),
                 "revocations_invalid"),
                ("06", sign_trust_list([keys["signing"].public_key()], administration="VNM", list_key=list_key,
                                       version=9, issued_at=T0), "revocations_invalid")]
    for mid, body, reason in refusals:
        with pytest.raises(ContentRefused) as e:
            inbox.receive(envelope("revocations", body, mid * 16), peer="VNM")
        assert e.value.reason == reason
    assert inbox.receive(envelope("revocations", revocations(4), "07" * 16), peer="VNM").outcome == "received"
    trust = sign_trust_list([keys["signing"].public_key()], administration="VNM", list_key=list_key, version=1,
                            issued_at=T0)
    assert inbox.receive(envelope("trust_list", trust, "08" * 16), peer="VNM").outcome == "received"
    assert inbox.count("revocations") == 3 and inbox.count("trust_list") == 1


def test_the_list_floor_survives_a_restart(tmp_path, keys):
    def rev(version):
        return sign_revocations([], administration="VNM", list_key=keys["list"], version=version, issued_at=T0)

    path = tmp_path / "inbox.db"
    box = Inbox(path, agreement=agreement(), list_keys=[keys["list"].public_key()], ledger_key=keys["ledger"])
    box.receive(envelope("revocations", rev(5), "01" * 16), peer="VNM")
    box.close()
    box = Inbox(path, agreement=agreement(), list_keys=[keys["list"].public_key()], ledger_key=keys["ledger"])
    with pytest.raises(ContentRefused, match="version"):
        box.receive(envelope("revocations", rev(4), "02" * 16), peer="VNM")
    assert box.ledger.verify().ok
    box.close()


# -- retention -------------------------------------------------------------------------------------------------
def _file_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def test_purge_erases_bodies_past_this_sides_retention_from_the_file(tmp_path, keys):
    path = tmp_path / "inbox.db"
    box = Inbox(path, agreement=agreement(), list_keys=[], ledger_key=keys["ledger"])
    old, new = attestation(keys), attestation(keys, when=T0 + dt.timedelta(days=10))
    box.receive(envelope("attestation", old, "0a" * 16), peer="VNM", now=T0)
    box.receive(envelope("attestation", new, "0b" * 16), peer="VNM", now=T0 + dt.timedelta(days=10))
    assert old in _file_bytes(path) and new in _file_bytes(path)
    assert box.purge(T0 + dt.timedelta(days=89)).purged == 0  # CHN keeps 90 days (VNM's 30 are the other side's)
    assert box.purge(T0 + dt.timedelta(days=90, seconds=1)) == PurgeResult(1, True)
    data = _file_bytes(path)
    assert old not in data and old[-64:] not in data  # not even its signature is left in a free page or the WAL
    assert new in data
    assert box.bodies("attestation") == [new]
    # the id stays: a late replay of the purged message is a duplicate, not a new message
    assert box.receive(envelope("attestation", old, "0a" * 16), peer="VNM").outcome == "duplicate"
    purged = [(r, d) for a, r, d in _actions(box) if a == "bilateral_purged"]
    assert purged == [("0a" * 16, {"kind": "attestation", "sha256": Message("attestation", "0a" * 16, "VNM",
                                                                             old).digest, "partner": "VNM",
                                   "outcome": "purged", "reason": "retention_90_days"})]
    assert box.ledger.verify().ok
    box.close()


def test_the_outbox_purges_delivered_bodies_after_its_sides_retention(tmp_path, keys):
    vnm_side = parse_agreement({"agreement": {**EXCHANGE, "partner": "CHN", "administration": "VNM"}})
    path = tmp_path / "out.db"
    outbox = Outbox(path, agreement=vnm_side, link=None, ledger_key=keys["ledger"])
    body = sign_revocations([b"\x07" * 16], administration="VNM", list_key=keys["list"], version=1, issued_at=T0)
    pending = sign_revocations([], administration="VNM", list_key=keys["list"], version=2, issued_at=T0)
    mid = outbox.enqueue("revocations", body, now=T0)
    outbox.enqueue("revocations", pending, now=T0)
    outbox._done({"message_id": mid, "kind": "revocations", "sha256": "x"}, "delivered", T0.timestamp(), "received")
    assert outbox.purge(T0 + dt.timedelta(days=29)).purged == 0
    assert outbox.purge(T0 + dt.timedelta(days=30)) == PurgeResult(1, True)  # VNM keeps 30 days
    assert body not in _file_bytes(path) and pending in _file_bytes(path)  # a pending message is never purged
    outbox.close()


def test_the_outbox_purges_parked_bodies_after_its_sides_retention_too(tmp_path, keys):
    """Minor 1: a parked message is not kept forever: past this side's retention its body goes (ledgered)."""
    vnm_side = parse_agreement({"agreement": {**EXCHANGE, "partner": "CHN", "administration": "VNM"}})
    path = tmp_path / "out.db"
    outbox = Outbox(path, agreement=vnm_side, link=None, ledger_key=keys["ledger"])
    body = sign_revocations([b"\x09" * 16], administration="VNM", list_key=keys["list"], version=1, issued_at=T0)
    mid = outbox.enqueue("revocations", body, now=T0)
    outbox._done({"message_id": mid, "kind": "revocations", "sha256": "x"}, "parked", T0.timestamp(),
                  "revocations_invalid")
    assert outbox.purge(T0 + dt.timedelta(days=29)).purged == 0
    assert outbox.purge(T0 + dt.timedelta(days=30)) == PurgeResult(1, True)
    assert body not in _file_bytes(path)
    assert outbox.status(mid)["state"] == "parked" and outbox.requeue(mid) == 0  # nothing left to send
    assert [(a, d.get("reason")) for a, r, d in _actions(outbox) if r == mid][-1] == (
        "bilateral_purged", "retention_30_days")
    outbox.close()


def test_a_purge_a_reader_kept_from_the_wal_is_incomplete_until_the_checkpoint_succeeds(tmp_path, keys):
    """M4: another connection's read transaction keeps the WAL: the purge says so (and ledgers it), the bytes
    are still in -wal; once the reader is gone the next purge (nothing left to erase) truncates it."""
    import sqlite3

    path = tmp_path / "inbox.db"
    box = Inbox(path, agreement=agreement(), list_keys=[], ledger_key=keys["ledger"])
    old = attestation(keys)
    box.receive(envelope("attestation", old, "0a" * 16), peer="VNM", now=T0)
    reader = sqlite3.connect(path)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM bilateral_inbox").fetchone()
        assert box.purge(T0 + dt.timedelta(days=91)) == PurgeResult(1, False)
        assert old in Path(f"{path}-wal").read_bytes()  # what "incomplete" means
        assert box.purge(T0 + dt.timedelta(days=91)) == PurgeResult(0, False)  # still kept: still incomplete
    finally:
        reader.rollback()
        reader.close()
    assert box.purge(T0 + dt.timedelta(days=92)) == PurgeResult(0, True)
    assert old not in path.read_bytes() and old[-64:] not in _file_bytes(path)
    assert [a for a, _, _ in _actions(box) if "purge" in a] == [
        "bilateral_purged", "bilateral_purge_incomplete", "bilateral_purge_complete"]
    assert box.purge(T0 + dt.timedelta(days=93)) == PurgeResult(0, True)  # nothing outstanding: no entry
    assert [a for a, _, _ in _actions(box)][-1] == "bilateral_purge_complete"
    assert box.ledger.verify().ok
    box.close()


def test_an_incomplete_purge_is_completed_at_the_next_open(tmp_path, keys):
    import sqlite3

    vnm_side = parse_agreement({"agreement": {**EXCHANGE, "partner": "CHN", "administration": "VNM"}})
    path = tmp_path / "out.db"
    outbox = Outbox(path, agreement=vnm_side, link=None, ledger_key=keys["ledger"])
    body = sign_revocations([b"\x07" * 16], administration="VNM", list_key=keys["list"], version=1, issued_at=T0)
    mid = outbox.enqueue("revocations", body, now=T0)
    outbox._done({"message_id": mid, "kind": "revocations", "sha256": "x"}, "delivered", T0.timestamp(), "received")
    reader = sqlite3.connect(path)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM bilateral_outbox").fetchone()
    assert outbox.purge(T0 + dt.timedelta(days=30)) == PurgeResult(1, False)
    assert body in Path(f"{path}-wal").read_bytes()
    reader.rollback()
    reader.close()
    again = Outbox(path, agreement=vnm_side, link=None, ledger_key=keys["ledger"])  # a restart, say
    assert body not in _file_bytes(path)
    assert [a for a, _, _ in _actions(again) if "purge" in a] == [
        "bilateral_purged", "bilateral_purge_incomplete", "bilateral_purge_complete"]
    again.close()
    outbox.close()


# -- link certificates -----------------------------------------------------------------------------------------
def test_a_link_certificate_names_exactly_one_administration(tmp_path):
    ca = link_pki.make_ca(tmp_path, "vnm", "VNM")
    good = link_pki.issue(tmp_path, ca, "good", o="VNM", server=False)
    assert link_administration(good.cert.read_bytes()) == "VNM"
    for leaf in (link_pki.issue(tmp_path, ca, "none", o=None, server=False),
                 link_pki.issue(tmp_path, ca, "two", o="VNM", extra_o="CHN", server=False),
                 link_pki.issue(tmp_path, ca, "long", o="Viet Nam", server=False)):
        with pytest.raises(LinkCertificateError):
            link_administration(leaf.cert.read_bytes())
    with pytest.raises(LinkCertificateError):
        link_administration(b"not a certificate")
