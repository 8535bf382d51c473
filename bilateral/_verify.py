"""Verification of a partner's attestation at this side's entry gate, offline.

In this order, each refusal a named error (the first that applies): the lists held (the trust list and the
revocation list installed in the replay store, neither older than the agreement's ``max_list_age_s``), the
COSE_Sign1 (malformed, unknown kid,
wrong alg, unknown critical header, bad signature), the claims' shape, the issuer (the agreement's partner),
the direction, the validity's length (at most the agreement's ``validity_s``), the time (not yet valid /
expired, with the agreement's ``clock_skew_s``), the document (the keyed hash recomputed from the document
this gate read), revocation, and last the replay store (only an attestation that passed everything else is
recorded as used). The result names the checks this side may skip: attested as passed AND listed in the
agreement, never the watchlist or the face.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

from bilateral._agreement import Agreement
from bilateral._attestation import CONTENT_TYPE, Attestation, document_hash, parse_claims, sod_digest
from bilateral._cose import verify_sign1
from bilateral._errors import (
    DocumentMismatch,
    Expired,
    ListTooOld,
    NotYetValid,
    RevocationsNotCurrent,
    Revoked,
    TrustListNotCurrent,
    ValidityTooLong,
    WrongDirection,
    WrongIssuer,
)
from bilateral._lists import PartnerKeys, Revocations
from bilateral._store import ReplayStore

__all__ = ["Verified", "verify_attestation"]


@dataclass(frozen=True)
class Verified:
    attestation: Attestation
    kid: bytes
    #: the checks this side may skip for this traveller (see the module)
    skippable: frozenset[str]


def verify_attestation(blob: bytes, *, agreement: Agreement, partner_keys: PartnerKeys, revocations: Revocations,
                       replay_store: ReplayStore, secret: bytes, issuing_state: str, document_number: str,
                       ef_sod: bytes, now: dt.datetime | None = None) -> Verified:
    """Verify ``blob`` for the traveller whose document this gate read (``issuing_state``,
    ``document_number``, and ``ef_sod``, the EF.SOD bytes read from its chip: the gate hashes the data groups
    against this SOD whatever it skips); raise the named error of the first check that fails."""
    sod_digest(ef_sod)  # no security object: refused before anything else (SecurityObjectMissing)
    if not isinstance(partner_keys, PartnerKeys) or not isinstance(revocations, Revocations) \
            or not isinstance(replay_store, ReplayStore):
        raise TypeError("verify_attestation needs the partner's keys, its revocations and a replay store")
    if partner_keys.administration != agreement.partner or revocations.administration != agreement.partner:
        raise WrongIssuer(f"the keys or revocations held are not those of the partner {agreement.partner}")
    if replay_store.trust_floor(agreement.partner) != (partner_keys.version, partner_keys.digest):
        raise TrustListNotCurrent(f"the partner keys (trust list version {partner_keys.version}) are not the trust "
                                  f"list installed: install it with ReplayStore.install_trust_list")
    when = now or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        raise ValueError("now is timezone-aware (UTC)")
    t = int(when.timestamp())
    floor = replay_store.revocation_floor(agreement.partner)
    if floor is None:
        raise RevocationsNotCurrent("no revocation list of the partner is installed: nothing is verified without one")
    if floor != (revocations.version, revocations.digest):
        raise RevocationsNotCurrent(f"the revocations (version {revocations.version}) are not the list installed "
                                    f"(version {floor[0]})")
    for name, held in (("trust list", partner_keys), ("revocation list", revocations)):
        if t - held.issued_at > agreement.max_list_age_s:
            raise ListTooOld(f"the partner's {name} (version {held.version}) was issued {t - held.issued_at} s ago, "
                             f"the agreement allows {agreement.max_list_age_s} s")
    msg = verify_sign1(blob, partner_keys.keys, content_type=CONTENT_TYPE)
    att = parse_claims(msg.payload)
    if att.issuer != agreement.partner:
        raise WrongIssuer(f"issued by {att.issuer!r}, the agreement's partner is {agreement.partner!r}")
    if att.direction != agreement.direction:
        raise WrongDirection(f"an attestation of {att.direction!r}, {agreement.direction!r} expected")
    if att.expires_at - att.not_before > agreement.validity_s:
        raise ValidityTooLong(f"valid for {att.expires_at - att.not_before} s, the agreement allows "
                              f"{agreement.validity_s} s")
    skew = agreement.clock_skew_s
    if t + skew < att.not_before:
        raise NotYetValid(f"valid from {att.not_before}, now {t} (clock skew {skew} s)")
    if t - skew >= att.expires_at:
        raise Expired(f"expired at {att.expires_at}, now {t} (clock skew {skew} s)")
    expected = document_hash(secret, att.day, issuing_state, document_number, ef_sod)
    if not hmac.compare_digest(expected, att.document_hash):
        raise DocumentMismatch("the attestation is about another document than the one read")
    if att.attestation_id in revocations:
        raise Revoked(f"attestation {att.attestation_id.hex()} was revoked (revocation list version "
                      f"{revocations.version})")
    replay_store.accept_once(att.attestation_id, issuer=att.issuer, keep_until=att.expires_at + skew, now=t)
    return Verified(att, msg.kid, agreement.skippable(att.checks))
