"""Bilateral crossing attestations for lanes that are not co-located (issue #26 item 2).

An exit decision on one side yields a minimal signed attestation (COSE_Sign1, RFC 9052, over a CWT-like
claims map in deterministic CBOR): a keyed hash of the document under a key agreed bilaterally and rotated
daily, the direction, time, lane and validity, and the checks that passed; no biometrics, no name, no
document number. The other side's entry gate verifies it offline against the partner's trust list (privacy's
signed-list format), refuses revoked and replayed attestations, and learns which checks the agreement lets it
skip (never the watchlist or the face).

- :func:`issue_attestation` (exit side), :func:`verify_attestation` (entry side) -> :class:`Verified`
- :func:`load_agreement` / :func:`parse_agreement` -> :class:`Agreement`
- :func:`sign_trust_list` / :func:`load_trust_list` -> :class:`PartnerKeys`;
  :func:`sign_revocations` / :func:`load_revocations` -> :class:`Revocations`
- :class:`ReplayStore` (SQLite: ids accepted, the revocation floor)
- COSE_Sign1 itself: :func:`sign1`, :func:`verify_sign1`, :func:`decode_sign1`, :func:`sig_structure`
- the back offices' exchange (issue #26 item 3): :class:`Outbox` (store-and-forward, over a :class:`PartnerLink`,
  mutual TLS via :func:`client_tls_context`) and :class:`Inbox` (checks, keeps each message once, retention
  purge), both ledgering every exchange; the envelope :func:`encode_message` / :func:`decode_message`, the link
  certificate's administration :func:`link_administration`
- errors: :class:`BilateralError` and one subclass per refusal, each with a ``reason`` code
"""

from bilateral._agreement import (
    CLAIM_NAMES,
    RELIABLE_CHECKS,
    Agreement,
    load_agreement,
    never_skippable,
    parse_agreement,
)
from bilateral._attestation import (
    ATTESTATION_VERSION,
    CONTENT_TYPE,
    Attestation,
    document_hash,
    document_key,
    issue_attestation,
    parse_claims,
    sod_digest,
)
from bilateral._cose import (
    ALG_EDDSA,
    ALG_ES256,
    COSE_SIGN1_TAG,
    Sign1,
    decode_sign1,
    dumps_deterministic,
    sig_structure,
    sign1,
    verify_sign1,
)
from bilateral._errors import (
    AgreementError,
    AttestationMalformed,
    BeforePurgeWatermark,
    BilateralError,
    CheckNotPassed,
    CheckNotReliable,
    ContentRefused,
    CoseBadSignature,
    CoseHighS,
    CoseMalformed,
    CoseUnknownCritical,
    CoseUnknownKid,
    CoseWrongAlg,
    CoseWrongContentType,
    DocumentIdentityInvalid,
    DocumentMismatch,
    ExchangeError,
    Expired,
    FieldNotAgreed,
    FieldNotExchangeable,
    LinkCertificateError,
    ListTooOld,
    MessageIdReused,
    MessageMalformed,
    MessageTooLarge,
    NeverSkippable,
    NotYetValid,
    Replayed,
    RevocationEquivocation,
    RevocationListError,
    RevocationRollback,
    RevocationsNotCurrent,
    Revoked,
    SecurityObjectMissing,
    TrustListEquivocation,
    TrustListError,
    TrustListNotCurrent,
    TrustListRollback,
    UnknownField,
    UnknownKind,
    ValidityTooLong,
    WrongAdministration,
    WrongDirection,
    WrongIssuer,
)
from bilateral._exchange import (
    KINDS,
    MAX_BODY_BYTES,
    MAX_ENVELOPE_BYTES,
    MESSAGES_PATH,
    Message,
    PurgeResult,
    check_attestation,
    decode_message,
    encode_message,
    link_administration,
)
from bilateral._inbox import Inbox, Receipt
from bilateral._lists import (
    REVOCATION_LIST,
    TRUST_LIST,
    PartnerKeys,
    Revocations,
    key_kid,
    load_revocations,
    load_trust_list,
    sign_revocations,
    sign_trust_list,
)
from bilateral._outbox import (
    Answer,
    FlushReport,
    LinkUnavailable,
    Outbox,
    PartnerLink,
    WrongServer,
    client_tls_context,
)
from bilateral._store import ReplayStore
from bilateral._verify import Verified, verify_attestation

__all__ = [
    "CLAIM_NAMES", "KINDS", "MAX_BODY_BYTES", "MAX_ENVELOPE_BYTES", "MESSAGES_PATH", "Answer", "ContentRefused",
    "ExchangeError", "FieldNotAgreed", "FieldNotExchangeable", "FlushReport", "Inbox", "LinkCertificateError",
    "LinkUnavailable", "Message", "MessageIdReused", "MessageMalformed", "MessageTooLarge", "Outbox", "PartnerLink",
    "PurgeResult", "Receipt", "UnknownField", "UnknownKind", "WrongAdministration", "WrongServer", "check_attestation", "client_tls_context",
    "decode_message", "encode_message", "link_administration",
    "ALG_EDDSA", "ALG_ES256", "ATTESTATION_VERSION", "CONTENT_TYPE", "COSE_SIGN1_TAG", "RELIABLE_CHECKS",
    "REVOCATION_LIST", "TRUST_LIST", "Agreement", "AgreementError", "Attestation", "AttestationMalformed",
    "BeforePurgeWatermark", "BilateralError", "CheckNotPassed", "CheckNotReliable", "CoseBadSignature", "CoseHighS",
    "CoseMalformed", "CoseUnknownCritical", "CoseUnknownKid", "CoseWrongAlg", "CoseWrongContentType",
    "DocumentIdentityInvalid", "DocumentMismatch", "Expired", "ListTooOld", "NeverSkippable", "NotYetValid",
    "PartnerKeys", "ReplayStore", "Replayed", "RevocationEquivocation", "RevocationListError", "RevocationRollback",
    "Revocations", "RevocationsNotCurrent", "Revoked", "SecurityObjectMissing", "Sign1", "TrustListEquivocation",
    "TrustListError", "TrustListNotCurrent", "TrustListRollback", "ValidityTooLong", "Verified", "WrongDirection",
    "WrongIssuer", "decode_sign1", "document_hash", "document_key", "dumps_deterministic", "issue_attestation",
    "key_kid", "load_agreement", "load_revocations", "load_trust_list", "never_skippable", "parse_agreement",
    "parse_claims", "sig_structure", "sign1", "sign_revocations", "sign_trust_list", "sod_digest",
    "verify_attestation", "verify_sign1",
]
