"""COSE_Sign1 (RFC 9052) against published vectors, byte for byte, and the profile's refusals.

Vectors: RFC 9052 Appendix C.2.1 "Single ECDSA Signature" (the same message as RFC 8152 C.2.1) and the
cose-wg/Examples repository's sign1-tests/sign-pass-01.json, sign-pass-02.json and
ecdsa-examples/ecdsa-sig-01.json (commit 3d0ee8fb6ce6aeefb30609736c7d6f214cb591d9). All are signed by the
published P-256 key "11" of cose-wg/Examples. ECDSA signatures are randomised, so ours cannot reproduce the
published signature bytes: the published ones are verified with the published public key, and our encoder
must reproduce the published ToBeSigned bytes and message structure exactly.
"""

from __future__ import annotations

import base64

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from bilateral import (
    CoseBadSignature,
    CoseHighS,
    CoseMalformed,
    CoseUnknownCritical,
    CoseUnknownKid,
    CoseWrongAlg,
    CoseWrongContentType,
    decode_sign1,
    dumps_deterministic,
    sig_structure,
    sign1,
    verify_sign1,
)

CONTENT = b"This is the content."
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256's order (FIPS 186-4 D.1.2.3)


def _b64u(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


# cose-wg/Examples key "11" (P-256), as published (JWK, base64url)
KEY_X = "usWxHK2PmfnHKwXPS54m0kTcGJ90UiglWiGahtagnv8"
KEY_Y = "IBOL-C3BttVivg-lSreASjpkttcsz-1rb7btKLv8EX4"
KEY_D = "V8kgd2ZBRuh2dgyVINBUqpPDr7BOMGcF22CQMIUHtNM"
PUBLIC = ec.EllipticCurvePublicNumbers(_b64u(KEY_X), _b64u(KEY_Y), ec.SECP256R1()).public_key()
PRIVATE = ec.EllipticCurvePrivateNumbers(_b64u(KEY_D), PUBLIC.public_numbers()).private_key()
KEYS = {b"11": PUBLIC}

# RFC 9052 C.2.1: protected {1: -7}, unprotected {4: '11'}, payload 'This is the content.'
RFC9052_C21 = bytes.fromhex(
    "D28443A10126A10442313154546869732069732074686520636F6E74656E742E5840"
    "8EB33E4CA31D1C465AB05AAC34CC6B23D58FEF5C083106C4D25A91AEF0B0117E"
    "2AF9A291AA32E14AB834DC56ED2A223444547E01F11D3B0916E5A4C345CACB36")
# Sig_structure of a {1: -7} protected header, no external data, that payload
RFC9052_C21_TBS = bytes.fromhex("846A5369676E61747572653143A101264054546869732069732074686520636F6E74656E742E")

# cose-wg/Examples sign1-tests/sign-pass-02.json: the same headers, external AAD 11aa22bb33cc44dd55006699
PASS02_AAD = bytes.fromhex("11aa22bb33cc44dd55006699")
PASS02 = bytes.fromhex(
    "D28443A10126A10442313154546869732069732074686520636F6E74656E742E5840"
    "EAE868ECC176883766C5DC5BA5B8DCA25DAB3C2E56A551CE5705B793914348E1"
    "55388B10C4F1B59A6733EAB416870A945111A4B2FBDBEF33A77234B1DEFF2F9B")
PASS02_TBS = bytes.fromhex(
    "846A5369676E61747572653143A101264C11AA22BB33CC44DD5500669954546869732069732074686520636F6E74656E742E")

# cose-wg/Examples ecdsa-examples/ecdsa-sig-01.json: protected {1: -7, 3: 0}
ECDSA_SIG_01 = bytes.fromhex(
    "D28445A201260300A10442313154546869732069732074686520636F6E74656E742E5840"
    "EAE868ECC176883766C5DC5BA5B8DCA25DAB3C2E56A551CE5705B793914348E1"
    "72727F48461FABBBA2E343492DDECAC3983686250BC68E9F1A7A07D41225B59F")
ECDSA_SIG_01_TBS = bytes.fromhex(
    "846A5369676E61747572653145A2012603004054546869732069732074686520636F6E74656E742E")

# cose-wg/Examples sign1-tests/sign-pass-01.json: protected h'A0' (empty map), alg and kid UNPROTECTED
PASS01 = bytes.fromhex(
    "D28441A0A201260442313154546869732069732074686520636F6E74656E742E5840"
    "EAE868ECC176883766C5DC5BA5B8DCA25DAB3C2E56A551CE5705B793914348E1"
    "1A02E5F0344BF2D4EE5C7FD75A68A9F5E0B3CC1F1FC1409C189566586FF9D610")
PASS01_TBS = bytes.fromhex("846A5369676E617475726531404054546869732069732074686520636F6E74656E742E")


def test_the_published_private_key_is_the_published_public_key():
    assert PRIVATE.public_key().public_numbers() == PUBLIC.public_numbers()


@pytest.mark.parametrize(("blob", "aad", "tbs"), [(RFC9052_C21, b"", RFC9052_C21_TBS),
                                                  (PASS02, PASS02_AAD, PASS02_TBS),
                                                  (ECDSA_SIG_01, b"", ECDSA_SIG_01_TBS)],
                         ids=["rfc9052-c.2.1", "cose-wg-sign-pass-02", "cose-wg-ecdsa-sig-01"])
def test_published_vectors_verify_and_their_to_be_signed_bytes_are_ours(blob, aad, tbs):
    """The published messages decode, their ToBeSigned bytes are ours and their signatures verify with the
    published key over them; this profile still refuses them, as their kid is in the unprotected bucket
    (not covered by the signature, so not heeded here)."""
    msg = decode_sign1(blob)
    assert msg.payload == CONTENT and msg.unprotected == {4: b"11"} and msg.alg == -7
    assert msg.kid is None  # the kid is read from the protected header only
    assert sig_structure(msg.protected_bytes, msg.payload, aad) == tbs == msg.to_be_signed(aad)
    # the raw r || s signature is the one over those ToBeSigned bytes (checked with the DER form too)
    r, s = int.from_bytes(msg.signature[:32], "big"), int.from_bytes(msg.signature[32:], "big")
    assert s <= N // 2  # the published signatures are low-S
    PUBLIC.verify(encode_dss_signature(r, s), tbs, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(CoseMalformed, match="unprotected"):
        verify_sign1(blob, KEYS, external_aad=aad)
    # the same headers with the kid protected, signed by the published private key: verified by this profile
    ours = sign1(CONTENT, PRIVATE, kid=b"11", external_aad=aad)
    assert verify_sign1(ours, KEYS, external_aad=aad).kid == b"11"


def test_our_encoder_reproduces_the_rfc_message_but_for_the_random_signature():
    """The RFC's message re-encoded from its parts by our encoder is the published bytes; the same headers
    and payload signed by us verify, and differ from the RFC's only in the 64 signature bytes."""
    msg = decode_sign1(RFC9052_C21)
    again = dumps_deterministic(cbor2.CBORTag(18, [msg.protected_bytes, {4: b"11"}, msg.payload, msg.signature]))
    assert again == RFC9052_C21
    assert dumps_deterministic({1: -7}) == bytes.fromhex("A10126")
    ours = sign1(CONTENT, PRIVATE, kid=b"11")
    ours_msg = verify_sign1(ours, KEYS)
    assert ours_msg.protected == {1: -7, 4: b"11"} and ours_msg.payload == CONTENT
    assert ours_msg.unprotected == {}
    # r || s, not DER: 64 bytes, and the DER of them verifies over our Sig_structure
    assert len(ours_msg.signature) == 64
    assert ours[-66:-64] == bytes.fromhex("5840")


def test_a_signature_with_one_bit_flipped_is_refused():
    tampered = bytearray(sign1(CONTENT, PRIVATE, kid=b"11"))
    tampered[-1] ^= 0x01
    with pytest.raises(CoseBadSignature):
        verify_sign1(bytes(tampered), KEYS)


def test_external_aad_is_covered():
    with_aad = sign1(CONTENT, PRIVATE, kid=b"11", external_aad=PASS02_AAD)  # as sign-pass-02, kid protected
    assert verify_sign1(with_aad, KEYS, external_aad=PASS02_AAD).payload == CONTENT
    with pytest.raises(CoseBadSignature):
        verify_sign1(with_aad, KEYS)  # without the external data it was signed over
    with pytest.raises(CoseBadSignature):
        verify_sign1(sign1(CONTENT, PRIVATE, kid=b"11"), KEYS, external_aad=PASS02_AAD)


def test_alg_only_in_the_unprotected_header_is_not_heeded():
    """sign-pass-01 is valid COSE (alg unprotected), but alg must be protected in this profile."""
    msg = decode_sign1(PASS01)
    assert msg.protected == {} and msg.to_be_signed() == PASS01_TBS
    r, s = int.from_bytes(msg.signature[:32], "big"), int.from_bytes(msg.signature[32:], "big")
    PUBLIC.verify(encode_dss_signature(r, s), PASS01_TBS, ec.ECDSA(hashes.SHA256()))  # the published signature
    with pytest.raises(CoseWrongAlg, match="only in the unprotected"):
        verify_sign1(PASS01, KEYS)


def _forge(protected: dict, *, unprotected=None, payload=CONTENT, key=PRIVATE, der=False) -> bytes:
    pbytes = dumps_deterministic(protected) if protected else b""
    tbs = sig_structure(pbytes, payload)
    if isinstance(key, Ed25519PrivateKey):
        sig = key.sign(tbs)
    else:
        sig = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
        if not der:
            r, s = decode_dss_signature(sig)
            s = min(s, N - s)  # low-S, as the profile requires
            sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return dumps_deterministic(cbor2.CBORTag(18, [pbytes, unprotected or {}, payload, sig]))


def test_a_swapped_protected_alg_is_refused():
    with pytest.raises(CoseWrongAlg):  # ES384 signed by the right key: not accepted
        verify_sign1(_forge({1: -35, 4: b"11"}), KEYS)
    with pytest.raises(CoseWrongAlg):  # EdDSA claimed, an EC key behind the kid
        verify_sign1(_forge({1: -8, 4: b"11"}), KEYS)
    # a message with its protected header's alg byte changed (-7 -> -8): refused before any signature
    ours = sign1(CONTENT, PRIVATE, kid=b"11")
    swapped = ours.replace(bytes.fromhex("47A2012604"), bytes.fromhex("47A2012704"), 1)
    assert swapped != ours
    with pytest.raises(CoseWrongAlg):
        verify_sign1(swapped, KEYS)


def test_unknown_critical_headers_are_refused():
    with pytest.raises(CoseUnknownCritical):
        verify_sign1(_forge({1: -7, 2: [99], 4: b"11", 99: 1}), KEYS)
    assert verify_sign1(_forge({1: -7, 2: [1], 4: b"11"}), KEYS).payload == CONTENT
    with pytest.raises(CoseMalformed):  # crit in the unprotected bucket
        verify_sign1(_forge({1: -7, 4: b"11"}, unprotected={2: [1]}), KEYS)
    with pytest.raises(CoseMalformed):  # a crit that is not a non-empty array
        verify_sign1(_forge({1: -7, 2: [], 4: b"11"}), KEYS)


def test_unknown_kid_is_refused():
    with pytest.raises(CoseUnknownKid):
        verify_sign1(sign1(CONTENT, PRIVATE, kid=b"11"), {b"12": PUBLIC})
    with pytest.raises(CoseMalformed):
        verify_sign1(_forge({1: -7}), KEYS)  # no kid at all


def _with_signature(blob: bytes, signature: bytes) -> bytes:
    msg = decode_sign1(blob)
    return dumps_deterministic(cbor2.CBORTag(18, [msg.protected_bytes, dict(msg.unprotected), msg.payload,
                                                  signature]))


def test_es256_signatures_are_low_s_and_the_malleated_twin_is_refused():
    """(r, n - s) verifies with ECDSA as (r, s) does: a second encoding of the same message, with the same
    cti, a replay cache keyed on the bytes would take as new. Only low-S is produced and accepted."""
    for _ in range(64):  # about half of raw ECDSA signatures are high-S: 64 draws all low is our doing
        blob = sign1(CONTENT, PRIVATE, kid=b"11")
        sig = decode_sign1(blob).signature
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        assert 0 < s <= N // 2
        assert verify_sign1(blob, KEYS).payload == CONTENT
        twin = _with_signature(blob, r.to_bytes(32, "big") + (N - s).to_bytes(32, "big"))
        PUBLIC.verify(encode_dss_signature(r, N - s), sig_structure(decode_sign1(blob).protected_bytes, CONTENT),
                      ec.ECDSA(hashes.SHA256()))  # the twin is a valid ECDSA signature
        with pytest.raises(CoseHighS):
            verify_sign1(twin, KEYS)
    for bad in ((r, 0), (0, s), (r + N, s) if r + N < 2**256 else (N, s), (r, N)):
        with pytest.raises(CoseBadSignature):
            verify_sign1(_with_signature(blob, bad[0].to_bytes(32, "big") + bad[1].to_bytes(32, "big")), KEYS)


def test_the_kid_is_read_from_the_protected_header_only():
    """A kid only in the unprotected bucket is not covered by the signature: it is not heeded."""
    blob = _forge({1: -7}, unprotected={4: b"11"})
    assert decode_sign1(blob).kid is None
    with pytest.raises(CoseMalformed, match="unprotected"):
        verify_sign1(blob, KEYS)
    assert verify_sign1(_forge({1: -7, 4: b"11"}), KEYS).kid == b"11"


def test_crit_may_not_list_itself():
    with pytest.raises(CoseMalformed, match="crit itself"):
        verify_sign1(_forge({1: -7, 2: [2], 4: b"11"}), KEYS)
    with pytest.raises(CoseMalformed, match="crit itself"):
        verify_sign1(_forge({1: -7, 2: [1, 2], 4: b"11"}), KEYS)


def test_a_required_content_type_must_be_in_the_protected_header():
    ct = "application/vnd.smartborder.crossing-attestation+cbor"
    assert verify_sign1(sign1(CONTENT, PRIVATE, kid=b"11", content_type=ct), KEYS, content_type=ct).payload == CONTENT
    for blob in (sign1(CONTENT, PRIVATE, kid=b"11"),  # none
                 sign1(CONTENT, PRIVATE, kid=b"11", content_type="application/something-else"),
                 _forge({1: -7, 3: 60, 4: b"11"}),  # a CoAP content format number
                 _forge({1: -7, 4: b"11"}, unprotected={3: ct})):  # unprotected: not heeded
        with pytest.raises(CoseWrongContentType):
            verify_sign1(blob, KEYS, content_type=ct)


def test_eddsa_round_trip():
    key = Ed25519PrivateKey.generate()
    blob = sign1(b"x", key, kid=b"k")
    assert verify_sign1(blob, {b"k": key.public_key()}).payload == b"x"
    with pytest.raises(CoseWrongAlg):
        verify_sign1(blob, {b"k": PUBLIC})


@pytest.mark.parametrize(("name", "blob"), [
    ("not cbor", b"\xff\xff"),
    ("empty", b""),
    ("trailing bytes", RFC9052_C21 + b"\x00"),
    ("untagged", RFC9052_C21[1:]),
    ("other tag (COSE_Sign, 98)", bytes.fromhex("D862") + RFC9052_C21[1:]),
    ("three items", dumps_deterministic(cbor2.CBORTag(18, [b"\xa1\x01\x26", {4: b"11"}, CONTENT]))),
    ("detached payload", dumps_deterministic(cbor2.CBORTag(18, [b"\xa1\x01\x26", {4: b"11"}, None, b"x" * 64]))),
    ("protected not a bstr", dumps_deterministic(cbor2.CBORTag(18, [{1: -7}, {4: b"11"}, CONTENT, b"x" * 64]))),
    ("label in both buckets", _forge({1: -7, 4: b"11"}, unprotected={4: b"11"})),
    ("DER signature", _forge({1: -7, 4: b"11"}, der=True)),
    ("indefinite-length array", bytes.fromhex("D29F") + RFC9052_C21[2:] + b"\xff"),
    ("non-shortest length of the payload", RFC9052_C21.replace(bytes.fromhex("5454686973"),
                                                                bytes.fromhex("581454686973"), 1)),
    ("duplicate key in the protected header", RFC9052_C21.replace(bytes.fromhex("43A10126"),
                                                                   bytes.fromhex("45A201260126"), 1)),
])
def test_malformed_messages_are_refused_by_name(name, blob):
    with pytest.raises(CoseMalformed):
        verify_sign1(blob, KEYS)
