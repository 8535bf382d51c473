"""Bilateral crossing attestations for lanes that are not co-located (issue #26 item 2).

COSE_Sign1 (RFC 9052) on cbor2: :func:`sign1`, :func:`verify_sign1`, :func:`decode_sign1`, :func:`sig_structure`;
errors: :class:`BilateralError` and one subclass per refusal, each with a ``reason`` code.
"""

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
    BilateralError,
    CoseBadSignature,
    CoseMalformed,
    CoseUnknownCritical,
    CoseUnknownKid,
    CoseWrongAlg,
)

__all__ = [
    "ALG_EDDSA", "ALG_ES256", "COSE_SIGN1_TAG", "BilateralError", "CoseBadSignature", "CoseMalformed",
    "CoseUnknownCritical", "CoseUnknownKid", "CoseWrongAlg", "Sign1", "decode_sign1", "dumps_deterministic",
    "sig_structure", "sign1", "verify_sign1",
]
