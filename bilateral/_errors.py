"""The named errors of the bilateral package: one class per refusal, each with a ``reason`` code.

Entry points turn them into messages or records; the library only raises them (fail closed: every
refusal is an exception, never a flag the caller could forget to read).
"""

from __future__ import annotations

__all__ = [
    "BilateralError", "CoseMalformed", "CoseUnknownKid", "CoseBadSignature", "CoseWrongAlg", "CoseUnknownCritical", "CoseHighS", "CoseWrongContentType",
    "AttestationMalformed", "WrongIssuer", "WrongDirection", "Expired", "NotYetValid", "ValidityTooLong",
    "DocumentMismatch", "DocumentIdentityInvalid", "SecurityObjectMissing", "Revoked", "Replayed", "BeforePurgeWatermark", "CheckNotPassed", "AgreementError", "NeverSkippable", "CheckNotReliable",
    "TrustListError", "TrustListRollback", "TrustListEquivocation", "TrustListNotCurrent", "RevocationListError", "RevocationRollback", "RevocationEquivocation",
    "RevocationsNotCurrent", "ListTooOld", "FieldNotExchangeable",
    "ExchangeError", "MessageMalformed", "UnknownField", "UnknownKind", "MessageTooLarge", "WrongAdministration",
    "MessageIdReused", "FieldNotAgreed", "ContentRefused", "LinkCertificateError",
]


class BilateralError(ValueError):
    """An attestation, list or agreement that may not be used; ``reason`` names why."""

    reason = "malformed"


# COSE_Sign1 (RFC 9052)
class CoseMalformed(BilateralError):
    """Not a well-formed, deterministically encoded, tagged COSE_Sign1 of the profile used here."""

    reason = "malformed"


class CoseHighS(CoseMalformed):
    """An ES256 signature with s > n/2: the malleated twin of a valid signature (s -> n - s). This profile
    signs and accepts only low-S, so every message has one signature encoding."""

    reason = "high_s"


class CoseWrongContentType(CoseMalformed):
    """The protected header does not carry the content type this profile requires (another protocol's payload
    signed by the same key, or none stated)."""

    reason = "wrong_content_type"


class CoseUnknownKid(BilateralError):
    """No trusted key has the message's key id."""

    reason = "unknown_kid"


class CoseBadSignature(BilateralError):
    """The signature does not verify with the key named: forged or altered."""

    reason = "bad_signature"


class CoseWrongAlg(BilateralError):
    """The protected header names no algorithm, one not accepted, or one that does not fit the key."""

    reason = "wrong_alg"


class CoseUnknownCritical(BilateralError):
    """The protected ``crit`` header lists a header this implementation does not understand (RFC 9052 3.1)."""

    reason = "unknown_critical"


# the attestation's claims
class AttestationMalformed(BilateralError):
    reason = "malformed"


class WrongIssuer(BilateralError):
    reason = "wrong_issuer"


class WrongDirection(BilateralError):
    reason = "wrong_direction"


class Expired(BilateralError):
    reason = "expired"


class NotYetValid(BilateralError):
    reason = "not_yet_valid"


class ValidityTooLong(BilateralError):
    reason = "validity_too_long"


class DocumentMismatch(BilateralError):
    reason = "document_mismatch"


class DocumentIdentityInvalid(BilateralError):
    """An issuing state or document number that is not MRZ characters (``[A-Z]{3}`` or a shorter code padded
    with ``<``; ``[A-Z0-9<]``): refused rather than normalised, so no two readings collide in the hash."""

    reason = "document_identity_invalid"


class SecurityObjectMissing(BilateralError):
    """No EF.SOD bytes (the chip's security object as read): the document cannot be bound, so no attestation is
    issued or accepted for it."""

    reason = "sod_missing"


class Revoked(BilateralError):
    reason = "revoked"


class Replayed(BilateralError):
    reason = "replayed"


class BeforePurgeWatermark(BilateralError):
    """The attestation's expiry plus skew is at or below the latest time the replay store has purged up to: its
    id may have been forgotten (the gate's clock stepped forward, then back), so it cannot be told from a
    replay and is refused."""

    reason = "before_purge_watermark"


class CheckNotPassed(BilateralError):
    """At issue: only checks that passed may be attested."""

    reason = "check_not_passed"


# configuration and lists
class AgreementError(BilateralError):
    reason = "agreement_invalid"


class NeverSkippable(AgreementError):
    """The agreement lists a check the entry side must always run itself (watchlist, face)."""

    reason = "never_skippable"


class CheckNotReliable(AgreementError):
    """The agreement lists a check that is not on the allow-list of checks a partner may be relied on for."""

    reason = "check_not_reliable"


class TrustListError(BilateralError):
    """The partner's trust list is not a valid signed list for this partner (see ``__cause__``)."""

    reason = "trust_list_invalid"


class TrustListRollback(TrustListError):
    """A trust list older than the one already installed (a removed key brought back)."""

    reason = "trust_list_rollback"


class TrustListEquivocation(TrustListError):
    """Another trust list with the version already held: one of them is not the partner's."""

    reason = "trust_list_equivocation"


class TrustListNotCurrent(TrustListError):
    """The partner keys used to verify are not the trust list installed in the replay store (none installed, or
    an older or other list)."""

    reason = "trust_list_not_current"


class RevocationListError(BilateralError):
    reason = "revocations_invalid"


class RevocationRollback(RevocationListError):
    reason = "revocations_rollback"


class RevocationEquivocation(RevocationListError):
    """Another revocation list with the version already held: one of them is not the partner's."""

    reason = "revocations_equivocation"


class RevocationsNotCurrent(RevocationListError):
    """The revocations used to verify are not the list installed in the replay store (none installed, an older
    list below the floor, or another one)."""

    reason = "revocations_not_current"


class ListTooOld(BilateralError):
    """The partner's trust list or revocation list was issued longer ago than the agreement's
    ``max_list_age_s``: the feed has stopped, and a revocation since may be missing."""

    reason = "list_too_old"


class FieldNotExchangeable(AgreementError):
    """The agreement's ``exchange_fields`` names something that is not a claim of an attestation."""

    reason = "field_not_exchangeable"


# the back offices' exchange (issue #26 item 3): each refusal has the HTTP status the receiver answers with
class ExchangeError(BilateralError):
    """A message of the exchange refused; ``reason`` names why and ``status`` is the receiver's 4xx answer."""

    reason = "message_malformed"
    status = 400


class MessageMalformed(ExchangeError):
    """Not an envelope of the exchange: not JSON, a field missing or of the wrong type, a bad id or body."""


class UnknownField(ExchangeError):
    """The envelope carries a field this version of the exchange does not define."""

    reason = "unknown_field"


class UnknownKind(ExchangeError):
    """A kind other than ``attestation``, ``revocations`` or ``trust_list``."""

    reason = "unknown_kind"


class MessageTooLarge(ExchangeError):
    """The envelope (or its body) is larger than the exchange takes."""

    reason = "too_large"
    status = 413


class WrongAdministration(ExchangeError):
    """The sender named in the message, the client certificate or the list is not the agreement's partner."""

    reason = "wrong_administration"
    status = 403


class MessageIdReused(ExchangeError):
    """The sender's message id was already received with other bytes: the second body is refused."""

    reason = "message_id_reused"
    status = 409


class FieldNotAgreed(ExchangeError):
    """The attestation carries a claim the agreement's ``exchange_fields`` does not list."""

    reason = "field_not_agreed"
    status = 422


class ContentRefused(ExchangeError):
    """The body does not pass the receiver's checks for its kind; ``reason`` is the check's own (``malformed``,
    ``wrong_content_type``, ``revocations_rollback``, ``trust_list_invalid`` ...), the error is ``__cause__``."""

    status = 422

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class LinkCertificateError(BilateralError):
    """A link certificate (the partner link's TLS client or server certificate) that does not name exactly one
    administration in its subject's organisation (O)."""

    reason = "link_certificate_invalid"
