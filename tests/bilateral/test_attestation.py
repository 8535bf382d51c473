"""Issue at the exit, verify at the other side's entry: the round trip and every refusal by its named error."""

from __future__ import annotations

import datetime as dt

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from bilateral import (
    CONTENT_TYPE,
    AttestationMalformed,
    CheckNotPassed,
    CoseBadSignature,
    CoseUnknownKid,
    CoseWrongAlg,
    DocumentIdentityInvalid,
    DocumentMismatch,
    Expired,
    NotYetValid,
    Replayed,
    Revoked,
    SecurityObjectMissing,
    ValidityTooLong,
    WrongDirection,
    WrongIssuer,
    decode_sign1,
    document_hash,
    document_key,
    dumps_deterministic,
    parse_claims,
    sig_structure,
    sign_revocations,
    sign_trust_list,
)
from tests.bilateral.conftest import CHECKS, LISTS_AT, NUMBER, SOD, STATE, T0


def test_round_trip_names_the_checks_the_agreement_lets_the_entry_side_skip(bl):
    blob = bl.issue()
    verified = bl.verify(blob)
    att = verified.attestation
    assert att.issuer == "VNM" and att.direction == "exit" and att.lane == "BL1-EXIT-03"
    assert att.issued_at == att.not_before == int(T0.timestamp()) and att.expires_at == att.issued_at + 900
    assert att.checks == ("chip_authenticity", "document_expired", "passive_authentication")
    # attested and agreed: skippable; chip_authenticity attested but not in the agreement: run it
    assert verified.skippable == {"passive_authentication", "document_expired"}
    assert verified.kid == bl.kid and len(att.attestation_id) == 16


def test_only_checks_attested_are_skippable(bl):
    verified = bl.verify(bl.issue(checks={"document_expired": "passed"}))
    assert verified.skippable == {"document_expired"}


@pytest.mark.parametrize("outcome", ["failed", "missing", "not_required", "skipped", ""])
def test_a_check_that_did_not_pass_is_never_attested(bl, outcome):
    with pytest.raises(CheckNotPassed, match="watchlist"):
        bl.issue(checks={"passive_authentication": "passed", "watchlist": outcome})
    with pytest.raises(CheckNotPassed):
        bl.issue(checks={})


def test_attestation_ids_are_random(bl):
    ids = {parse_claims(decode_sign1(bl.issue()).payload).attestation_id for _ in range(20)}
    assert len(ids) == 20


def test_no_document_number_name_or_biometric_in_the_bytes(bl):
    blob = bl.issue()
    upper = blob.upper()
    for needle in (b"C1234567", b"VNMC1234567", b"VNM C1234567", "C1234567".encode("utf-16-le"),
                   dumps_deterministic(["VNM", "C1234567"]), b"1234567"):
        assert needle not in upper
    claims = cbor2.loads(decode_sign1(blob).payload)
    assert set(claims) == {1, 4, 5, 6, 7, "v", "dir", "lane", "doc", "chk"}
    # the only text in the claims: the issuer, direction, lane and the checks' names
    texts = [v for v in claims.values() if isinstance(v, str)] + list(claims["chk"])
    assert sorted(texts) == sorted(["VNM", "exit", "BL1-EXIT-03", *CHECKS])


def test_the_document_key_rotates_daily_and_the_hash_needs_the_secret(bl):
    day = T0.date()
    assert document_key(bl.secret, day) != document_key(bl.secret, day + dt.timedelta(days=1))
    h1 = document_hash(bl.secret, day, STATE, NUMBER, SOD)
    assert h1 != document_hash(bl.secret, day + dt.timedelta(days=1), STATE, NUMBER, SOD)
    assert h1 != document_hash(b"x" * 32, day, STATE, NUMBER, SOD)
    assert h1 == document_hash(bl.secret, day, "vnm", "C1234567", SOD)  # the MRZ filler and case do not matter
    assert h1 != document_hash(bl.secret, day, "CHN", "C1234567", SOD)
    with pytest.raises(ValueError):
        document_key(b"short", day)
    # the attestation issued tomorrow for the same document carries another hash
    a = parse_claims(decode_sign1(bl.issue()).payload)
    b = parse_claims(decode_sign1(bl.issue(now=T0 + dt.timedelta(days=1))).payload)
    assert a.document_hash != b.document_hash


@pytest.mark.parametrize(("state", "number"), [
    ("VNM", "STRAßE1"), ("VNM", "\ufb01LE1"), ("VNM", "\u0131X1"), ("V<N<M", "C1"), ("VNM1234", "5"),
    ("VNM", "C 12 34"), ("VNM", "C1234567\u00a0"), ("VNM", " C1234567"), ("VNMX", "C1"), ("", "C1"), ("VNM", ""),
    ("VNM", "<<<"), ("<<<", "C1"), ("D<<<", "C1"), ("<D<", "C1"), ("ＶＮＭ", "C1"), ("VNM", "Ｃ1234567"),
    ("VNM", "C-1234567"), (None, "C1"), ("VNM", b"C1"),
])
def test_anything_but_mrz_characters_is_refused_not_normalised(bl, state, number):
    """Unicode case mapping (ß -> SS, the ligature fi, dotless i), fillers inside the state, spaces and
    full-width forms would make two readings collide in the hash, or one reading differ between the sides:
    they are refused, at issue and at entry, by name."""
    with pytest.raises(DocumentIdentityInvalid):
        document_hash(bl.secret, T0.date(), state, number, SOD)
    with pytest.raises(DocumentIdentityInvalid):
        bl.issue(issuing_state=state, document_number=number)
    blob = bl.issue()
    with pytest.raises(DocumentIdentityInvalid):
        bl.verify(blob, issuing_state=state, document_number=number)
    assert bl.store.seen_count() == 0


def test_the_same_mrz_reading_gives_the_same_hash():
    secret, day = b"s" * 32, T0.date()

    def h(state: str, number: str) -> bytes:
        return document_hash(secret, day, state, number, SOD)

    assert h("D<<", "C01X00T47") == h("D", "C01X00T47") == h("d<<", "C01X00T47")
    assert h("VNM", "C1234567<<") == h("VNM", "C1234567") == h("vnm", "c1234567")
    assert h("D<<", "C01X00T47") != h("DEU", "C01X00T47")
    assert h("VNM", "C1234567") != h("VNM", "C12345670")


def test_the_signed_claims_are_deterministic_cbor_in_rfc8949_key_order(bl):
    payload = decode_sign1(bl.issue()).payload
    claims = cbor2.loads(payload)
    assert cbor2.dumps(claims, canonical=True) == payload
    # RFC 8949 4.2.1: keys sorted by their encoded bytes (bytewise lexicographic)
    keys = [cbor2.dumps(k) for k in claims]
    assert keys == sorted(keys)


def test_forged_signature_is_refused(bl):
    forger = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(CoseBadSignature):  # another key claiming the partner's kid
        bl.verify(bl.issue(signing_key=forger, kid=bl.kid))
    with pytest.raises(CoseUnknownKid):  # its own kid: not on the trust list
        bl.verify(bl.issue(signing_key=forger, kid=b"\x01" * 8))


def test_a_tampered_payload_byte_is_refused(bl):
    blob = bytearray(bl.issue())
    msg = decode_sign1(bytes(blob))
    at = bytes(blob).index(msg.payload) + msg.payload.index(b"BL1-EXIT-03")
    blob[at + 10] = ord("4")  # lane BL1-EXIT-03 -> BL1-EXIT-04
    with pytest.raises(CoseBadSignature):
        bl.verify(bytes(blob))


def test_a_swapped_protected_alg_is_refused(bl):
    blob = bl.issue()
    msg = decode_sign1(blob)
    swapped_protected = dumps_deterministic({1: -8, 3: CONTENT_TYPE, 4: bl.kid})
    forged = dumps_deterministic(cbor2.CBORTag(18, [swapped_protected, {}, msg.payload, msg.signature]))
    with pytest.raises(CoseWrongAlg):
        bl.verify(forged)
    moved = dumps_deterministic(cbor2.CBORTag(18, [dumps_deterministic({3: CONTENT_TYPE, 4: bl.kid}), {1: -7}, msg.payload,
                                                  msg.signature]))
    with pytest.raises(CoseWrongAlg):  # alg moved to the unprotected bucket
        bl.verify(moved)


def test_unknown_kid_is_refused(bl):
    with pytest.raises(CoseUnknownKid):
        bl.verify(bl.issue(kid=b"\x00" * 8))


def test_expired_and_not_yet_valid_with_the_stated_clock_skew(bl):
    exp = T0 + dt.timedelta(seconds=900)
    bl.verify(bl.issue(), now=exp + dt.timedelta(seconds=119))  # within the 120 s skew
    with pytest.raises(Expired):
        bl.verify(bl.issue(), now=exp + dt.timedelta(seconds=120))
    bl.verify(bl.issue(), now=T0 - dt.timedelta(seconds=120))
    with pytest.raises(NotYetValid):
        bl.verify(bl.issue(), now=T0 - dt.timedelta(seconds=121))


def test_a_validity_longer_than_the_agreement_is_refused(bl):
    with pytest.raises(ValidityTooLong):
        bl.verify(bl.issue(validity_s=901))


def test_wrong_direction_and_wrong_issuer(bl):
    with pytest.raises(WrongDirection):
        bl.verify(bl.issue(direction="entry"))
    with pytest.raises(WrongIssuer):
        bl.verify(bl.issue(issuer="CHN"))


def test_another_document_is_refused(bl):
    blob = bl.issue()
    with pytest.raises(DocumentMismatch):
        bl.verify(blob, document_number="C7654321")
    with pytest.raises(DocumentMismatch):
        bl.verify(blob, issuing_state="CHN")
    with pytest.raises(DocumentMismatch):  # the entry side with another agreement's secret
        bl.verify(blob, secret=b"z" * 32)
    bl.verify(blob)  # refusals did not consume it


def test_a_forged_chip_with_the_same_state_and_number_is_refused(bl):
    """The exit side authenticated the genuine chip (PA passed); at entry a forged booklet carries the same
    state and number but its own chip (another name, another DG2, so another SOD). The entry gate that skips
    the certificate chain on the partner's word still hashes the SOD it read, and that SOD is not the one the
    attestation binds."""
    blob = bl.issue()
    forged_sod = SOD.replace(b"genuine", b"forged!")
    assert document_hash(bl.secret, T0.date(), STATE, NUMBER, forged_sod) != \
        document_hash(bl.secret, T0.date(), STATE, NUMBER, SOD)
    with pytest.raises(DocumentMismatch):
        bl.verify(blob, ef_sod=forged_sod)
    assert bl.store.seen_count() == 0
    assert bl.verify(blob).skippable  # the genuine chip's SOD: accepted


@pytest.mark.parametrize("sod", [b"", None, bytearray()])
def test_no_security_object_is_refused_at_issue_and_at_entry(bl, sod):
    with pytest.raises(SecurityObjectMissing):
        bl.issue(ef_sod=sod)
    blob = bl.issue()
    with pytest.raises(SecurityObjectMissing):
        bl.verify(blob, ef_sod=sod)
    assert bl.store.seen_count() == 0
    with pytest.raises(SecurityObjectMissing):
        document_hash(bl.secret, T0.date(), STATE, NUMBER, sod)


def test_replay_is_refused_and_survives_a_restart(tmp_path, bl):
    from bilateral import ReplayStore

    path = tmp_path / "bilateral.db"
    store = bl.install_lists(ReplayStore(path))
    blob = bl.issue()
    bl.verify(blob, replay_store=store)
    with pytest.raises(Replayed):
        bl.verify(blob, replay_store=store)
    store.close()
    again = ReplayStore(path)
    with pytest.raises(Replayed):
        bl.verify(blob, replay_store=again)
    again.close()


def test_the_replay_store_forgets_ids_once_their_attestations_are_expired(bl):
    first = bl.issue()
    bl.verify(first)
    assert bl.store.seen_count() == 1
    later = T0 + dt.timedelta(seconds=900 + 121)
    bl.verify(bl.issue(now=later), now=later)
    assert bl.store.seen_count() == 1  # the first id is gone: it would be refused as expired anyway
    with pytest.raises(Expired):
        bl.verify(first, now=later)


def test_a_forward_clock_step_cannot_purge_an_id_for_a_replay(tmp_path, bl):
    """The gate's clock steps +990 s (NTP step, RTC fault): the next verification purges the first id, whose
    keep_until (exp + skew) has passed on that clock. Clock corrected (and the store reopened), the first
    attestation replayed is refused by the persisted purge watermark, not taken as new."""
    from bilateral import BeforePurgeWatermark, ReplayStore

    path = tmp_path / "bilateral.db"
    store = bl.install_lists(ReplayStore(path))
    first = bl.issue()
    bl.verify(first, replay_store=store, now=T0 + dt.timedelta(seconds=60))
    stepped = T0 + dt.timedelta(seconds=70 + 990)
    bl.verify(bl.issue(now=T0 + dt.timedelta(seconds=70)), replay_store=store, now=stepped)
    assert store.seen_count() == 1  # the first id was purged
    assert store.purge_watermark() == int(stepped.timestamp())
    store.close()
    store = ReplayStore(path)
    with pytest.raises(BeforePurgeWatermark):
        bl.verify(first, replay_store=store, now=T0 + dt.timedelta(seconds=120))
    # an attestation kept past the watermark is still accepted on the corrected clock, and the watermark
    # is never lowered by it
    bl.verify(bl.issue(now=T0 + dt.timedelta(seconds=200)), replay_store=store, now=T0 + dt.timedelta(seconds=210))
    assert store.purge_watermark() == int(stepped.timestamp())
    store.close()


def test_an_id_is_kept_until_expiry_plus_the_skew(bl):
    """Within the skew after exp the attestation is still valid at entry, so its id must still be held: a
    purge run then (by the next traveller) may not forget it, and its replay is Replayed."""
    first = bl.issue()
    bl.verify(first, now=T0 + dt.timedelta(seconds=60))
    after_exp = T0 + dt.timedelta(seconds=900 + 50)  # past exp, within the 120 s skew
    bl.verify(bl.issue(now=T0 + dt.timedelta(seconds=900)), now=after_exp)  # purges what has passed
    assert bl.store.seen_count() == 2
    with pytest.raises(Replayed):
        bl.verify(first, now=after_exp + dt.timedelta(seconds=10))


def test_the_document_key_is_that_of_the_day_of_issue_not_of_verification(bl):
    """Issued at 23:59:50 UTC, verified 40 s later at 00:00:30 the next day: the hash is under the key of
    the day of iat."""
    issued = dt.datetime(2026, 12, 7, 23, 59, 50, tzinfo=dt.UTC)
    verified_at = dt.datetime(2026, 12, 8, 0, 0, 30, tzinfo=dt.UTC)
    blob = bl.issue(now=issued)
    assert parse_claims(decode_sign1(blob).payload).day == issued.date()
    assert bl.verify(blob, now=verified_at).attestation.issued_at == int(issued.timestamp())
    # the same instant on a +07:00 clock (Móng Cái local time): the UTC day of iat still decides
    local = dt.datetime(2026, 12, 8, 7, 0, 40, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    assert bl.verify(bl.issue(now=issued), now=local).attestation.day == issued.date()


def test_states_sharing_a_first_letter_are_different_documents(bl):
    day = T0.date()
    assert document_hash(bl.secret, day, "VNM", NUMBER, SOD) != document_hash(bl.secret, day, "VUT", NUMBER, SOD)
    assert document_hash(bl.secret, day, "D<<", NUMBER, SOD) != document_hash(bl.secret, day, "DEU", NUMBER, SOD)
    blob = bl.issue(issuing_state="VNM")
    with pytest.raises(DocumentMismatch):
        bl.verify(blob, issuing_state="VUT")
    with pytest.raises(DocumentMismatch):
        bl.verify(bl.issue(issuing_state="VUT"), issuing_state="VNM")
    bl.verify(blob, issuing_state="VNM")


def test_keys_and_revocations_of_another_administration_are_refused_by_name(bl):
    """The keys and the revocations used must be the agreement's partner's, whatever the store holds."""
    from bilateral import ReplayStore, load_revocations, load_trust_list

    list_keys = [bl.list_key.public_key()]
    lao_trust = sign_trust_list([bl.signing_key.public_key()], administration="LAO", list_key=bl.list_key,
                                version=1, issued_at=LISTS_AT)
    lao_revocations = sign_revocations([], administration="LAO", list_key=bl.list_key, version=1, issued_at=LISTS_AT)
    store = bl.install_lists(ReplayStore())
    lao_keys = load_trust_list(lao_trust, list_keys, administration="LAO", min_version=0)
    lao_revoked = load_revocations(lao_revocations, list_keys, administration="LAO", min_version=0)
    with pytest.raises(WrongIssuer, match="not those of the partner"):
        bl.verify(bl.issue(), partner_keys=lao_keys, replay_store=store)
    with pytest.raises(WrongIssuer, match="not those of the partner"):
        bl.verify(bl.issue(), revocations=lao_revoked, replay_store=store)
    assert store.seen_count() == 0
    store.close()


def test_a_protected_header_not_deterministically_encoded_is_refused(bl):
    """The same header map with its labels out of order ({4: kid, 3: ..., 1: -7}), validly signed over
    those bytes: the protected header too has one encoding."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    from bilateral import CoseMalformed

    genuine = decode_sign1(bl.issue())
    kid_cbor = cbor2.dumps(bl.kid)
    reordered = b"\xa3" + b"\x04" + kid_cbor + b"\x03" + cbor2.dumps(CONTENT_TYPE) + b"\x01\x26"
    assert cbor2.loads(reordered) == genuine.protected and reordered != genuine.protected_bytes
    r, s = decode_dss_signature(bl.signing_key.sign(sig_structure(reordered, genuine.payload),
                                                    ec.ECDSA(hashes.SHA256())))
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    s = min(s, n - s)
    forged = dumps_deterministic(cbor2.CBORTag(18, [reordered, {}, genuine.payload,
                                                   r.to_bytes(32, "big") + s.to_bytes(32, "big")]))
    with pytest.raises(CoseMalformed, match="protected header is not deterministically encoded"):
        bl.verify(forged)
    assert bl.store.seen_count() == 0


def test_a_revoked_attestation_is_refused(bl):
    blob = bl.issue()
    att = parse_claims(decode_sign1(blob).payload)
    bl.revoke(att.attestation_id, version=2)
    with pytest.raises(Revoked):
        bl.verify(blob)
    assert bl.store.seen_count() == 0


def test_malformed_claims_are_refused(bl):
    def signed(claims) -> bytes:
        from bilateral import sign1

        return sign1(dumps_deterministic(claims), bl.signing_key, kid=bl.kid, content_type=CONTENT_TYPE)

    good = cbor2.loads(decode_sign1(bl.issue()).payload)
    for change in ({"extra": 1}, {"v": 2}, {"chk": []}, {"chk": ["b", "a"]}, {"chk": ["Passive"]},
                   {7: b"short"}, {"doc": b"x"}, {6: "now"}, {4: int(T0.timestamp()) - 1},
                   {6: int(T0.timestamp()) - 1}, {5: -1}):
        with pytest.raises(AttestationMalformed):
            bl.verify(signed({**good, **change}))
    without = dict(good)
    del without["lane"]
    with pytest.raises(AttestationMalformed):
        bl.verify(signed(without))
    # a non-deterministic (length-first is fine here) encoding of valid claims: keys out of order
    payload = decode_sign1(bl.issue()).payload
    shuffled = b"\xaa" + b"".join(cbor2.dumps(k) + cbor2.dumps(v) for k, v in reversed(list(good.items())))
    assert cbor2.loads(shuffled) == good and shuffled != payload
    from bilateral import sign1

    with pytest.raises(AttestationMalformed):
        bl.verify(sign1(shuffled, bl.signing_key, kid=bl.kid, content_type=CONTENT_TYPE))


def test_an_attestation_without_its_content_type_is_refused(bl):
    """The same claims signed by the partner's key under another protocol's content type, or none, are not
    taken as an attestation on their shape alone."""
    from bilateral import CoseWrongContentType, sign1

    payload = decode_sign1(bl.issue()).payload
    for content_type in (None, "application/something-else", "application/cwt"):
        with pytest.raises(CoseWrongContentType):
            bl.verify(sign1(payload, bl.signing_key, kid=bl.kid, content_type=content_type))
    assert bl.store.seen_count() == 0
    bl.verify(sign1(payload, bl.signing_key, kid=bl.kid, content_type=CONTENT_TYPE))


def test_the_signature_covers_the_sig_structure_of_the_protected_header(bl):
    msg = decode_sign1(bl.issue())
    assert msg.protected == {1: -7, 3: CONTENT_TYPE, 4: bl.kid} and msg.unprotected == {}
    assert msg.to_be_signed() == sig_structure(msg.protected_bytes, msg.payload)
