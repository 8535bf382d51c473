"""A Vietnamese exit lane issuing, a Chinese entry gate verifying: keys, lists, agreement, replay store."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bilateral import (
    ReplayStore,
    issue_attestation,
    key_kid,
    parse_agreement,
    sign_revocations,
    sign_trust_list,
    verify_attestation,
)

T0 = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)
#: when the partner signed the lists the fixture holds: an hour before T0 (the agreement allows a day)
LISTS_AT = T0 - dt.timedelta(hours=1)
STATE, NUMBER = "VNM", "C1234567<"
#: the EF.SOD bytes as read from the traveller's chip (any bytes: only their SHA-256 enters the document hash)
SOD = bytes.fromhex("77820100") + b"genuine security object of VNM C1234567" * 4
CHECKS = {"passive_authentication": "passed", "document_expired": "passed", "chip_authenticity": "passed"}


@dataclass
class Bilateral:
    signing_key: ec.EllipticCurvePrivateKey
    list_key: Ed25519PrivateKey
    secret: bytes
    agreement: object
    partner_keys: object
    revocations: object
    store: ReplayStore

    @property
    def kid(self) -> bytes:
        return key_kid(self.signing_key.public_key())

    def issue(self, **overrides) -> bytes:
        args = dict(signing_key=self.signing_key, kid=self.kid, secret=self.secret, issuer="VNM", direction="exit",
                    lane="BL1-EXIT-03", issuing_state=STATE, document_number=NUMBER, ef_sod=SOD, checks=CHECKS,
                    validity_s=900, now=T0)
        args.update(overrides)
        return issue_attestation(**args)

    def verify(self, blob: bytes, **overrides):
        args = dict(agreement=self.agreement, partner_keys=self.partner_keys, revocations=self.revocations,
                    replay_store=self.store, secret=self.secret, issuing_state=STATE, document_number=NUMBER,
                    ef_sod=SOD, now=T0 + dt.timedelta(minutes=1))
        args.update(overrides)
        return verify_attestation(blob, **args)

    def install_lists(self, store: ReplayStore) -> ReplayStore:
        """Install this side's current trust and revocation lists in another store (a second gate's)."""
        list_keys = [self.list_key.public_key()]
        trust = sign_trust_list([self.signing_key.public_key()], administration="VNM", list_key=self.list_key,
                                version=self.partner_keys.version, issued_at=LISTS_AT)
        store.install_trust_list(trust, list_keys, administration="VNM")
        revocations = sign_revocations(sorted(self.revocations.revoked), administration="VNM", list_key=self.list_key,
                                       version=self.revocations.version, issued_at=LISTS_AT)
        store.install_revocations(revocations, list_keys, administration="VNM")
        return store

    def revoke(self, *ids: bytes, version: int, issued_at: dt.datetime = LISTS_AT) -> None:
        blob = sign_revocations(ids, administration="VNM", list_key=self.list_key, version=version,
                                issued_at=issued_at)
        self.revocations = self.store.install_revocations(blob, [self.list_key.public_key()], administration="VNM")


AGREEMENT = {"agreement": {"partner": "VNM", "direction": "exit", "rely_on": ["passive_authentication",
                                                                            "document_expired"],
                           "validity_s": 900, "clock_skew_s": 120}}


@pytest.fixture()
def bl() -> Bilateral:
    signing_key = ec.generate_private_key(ec.SECP256R1())
    list_key = Ed25519PrivateKey.generate()
    trust = sign_trust_list([signing_key.public_key()], administration="VNM", list_key=list_key, version=1,
                            issued_at=LISTS_AT)
    store = ReplayStore()
    partner_keys = store.install_trust_list(trust, [list_key.public_key()], administration="VNM")
    b = Bilateral(signing_key, list_key, b"s" * 16 + b"e" * 16, parse_agreement(AGREEMENT), partner_keys, None, store)
    b.revoke(version=1)
    yield b
    store.close()
