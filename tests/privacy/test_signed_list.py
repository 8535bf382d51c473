"""Signed lists: sign / verify round trips (Ed25519, ECDSA P-256) and a named refusal for every bad blob."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from privacy import (
    SignedListBadSignature,
    SignedListError,
    SignedListMalformed,
    SignedListRollback,
    SignedListUnknownKey,
    SignedListWrongList,
    list_key_id,
    load_public_key,
    public_key_b64,
    sign_list,
    verify_list,
)

KEY = Ed25519PrivateKey.generate()
PAYLOAD = {"objects": [{"kind": "csca", "der": "MAA="}], "digest": "sha256:00", "name": "Nguyễn 阮"}
AT = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("key", [KEY, ec.generate_private_key(ec.SECP256R1())], ids=["Ed25519", "ES256"])
def test_round_trip(key):
    blob = sign_list(PAYLOAD, key, list_name="trust-store", version=7, issued_at=AT)
    got = verify_list(blob, [key.public_key()], list_name="trust-store", min_version=7)
    assert (got.list, got.version, got.issued_at, got.payload) == ("trust-store", 7, "2026-12-07T03:00:00Z", PAYLOAD)
    assert got.key_id == list_key_id(key.public_key()) and len(got.key_id) == 16
    pinned = load_public_key(public_key_b64(key.public_key()))
    assert verify_list(blob, {got.key_id: pinned}, list_name="trust-store", min_version=0).version == 7
    if key is KEY:  # Ed25519 is deterministic: the same list signs to the same bytes
        assert sign_list(PAYLOAD, key, list_name="trust-store", version=7, issued_at=AT) == blob


def test_ed25519_raw_key_pins_too():
    raw = KEY.public_key().public_bytes_raw()
    blob = sign_list(PAYLOAD, KEY, list_name="x", version=1)
    assert verify_list(blob, [load_public_key(base64.b64encode(raw).decode())], list_name="x",
                       min_version=1).version == 1
    for bad in ("", "!!", base64.b64encode(b"short").decode()):
        with pytest.raises(ValueError):
            load_public_key(bad)
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    p384_b64 = base64.b64encode(p384.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).decode()
    with pytest.raises(ValueError, match="P-256"):
        load_public_key(p384_b64)


def _edit(blob: bytes, **changes) -> bytes:
    obj = json.loads(blob)
    obj.update(changes)
    return json.dumps(obj).encode()


def test_every_bad_blob_has_its_named_error():
    blob = sign_list(PAYLOAD, KEY, list_name="trust-store", version=5, issued_at=AT)
    other = Ed25519PrivateKey.generate()
    cases = [
        (_edit(blob, payload={**PAYLOAD, "digest": "sha256:01"}), SignedListBadSignature),  # altered content
        (_edit(blob, version=6), SignedListBadSignature),  # a version bump without the key
        (_edit(blob, issued_at="2027-01-01T00:00:00Z"), SignedListBadSignature),
        (_edit(blob, list="watchlist"), SignedListWrongList),
        (sign_list(PAYLOAD, other, list_name="trust-store", version=9), SignedListUnknownKey),  # forged, own key
        (_edit(sign_list(PAYLOAD, other, list_name="trust-store", version=9), key_id=list_key_id(KEY.public_key())),
         SignedListBadSignature),  # forged, claiming the trusted key's id
        (_edit(blob, alg="ES256"), SignedListBadSignature),
        (blob[: len(blob) // 2], SignedListMalformed),  # truncated
        (b"\xff\xfe", SignedListMalformed),
        (b"[]", SignedListMalformed),
        (_edit(blob, extra=1), SignedListMalformed),
        (_edit(blob, version=True), SignedListMalformed),
        (_edit(blob, version=-1), SignedListMalformed),
        (_edit(blob, signature="***"), SignedListMalformed),
        (_edit(blob, format="other/1"), SignedListMalformed),
        (blob.replace(b'"version":5', b'"version":5,"version":5'), SignedListMalformed),  # duplicate key
        (blob.replace(b'"version":5', b'"version":NaN'), SignedListMalformed),
    ]
    for bad, error in cases:
        with pytest.raises(error) as e:
            verify_list(bad, [KEY.public_key()], list_name="trust-store", min_version=0)
        assert isinstance(e.value, SignedListError) and e.value.reason == error.reason
    with pytest.raises(SignedListRollback, match="rollback"):
        verify_list(blob, [KEY.public_key()], list_name="trust-store", min_version=6)
    with pytest.raises(SignedListUnknownKey, match="none pinned"):
        verify_list(blob, [], list_name="trust-store", min_version=0)
    with pytest.raises(ValueError):
        sign_list(PAYLOAD, KEY, list_name="x", version=-1)


def test_list_name_and_min_version_are_mandatory():
    """Defaults that accepted any list at any version are gone: a caller must say which list and which version
    it holds."""
    blob = sign_list(PAYLOAD, KEY, list_name="trust-store", version=3, issued_at=AT)
    keys = [KEY.public_key()]
    for kwargs in ({}, {"list_name": "trust-store"}, {"min_version": 0}, {"list_name": None, "min_version": 0},
                   {"list_name": "trust-store", "min_version": None}, {"list_name": "", "min_version": 0}):
        with pytest.raises(TypeError):
            verify_list(blob, keys, **kwargs)
    with pytest.raises(SignedListWrongList):
        verify_list(blob, keys, list_name="watchlist", min_version=0)
