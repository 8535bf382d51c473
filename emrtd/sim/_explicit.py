"""Test certificates whose EC key is written with explicit domain parameters, as German CSCAs and Document
Signers are (RFC 3279 §2.3.5): ``cryptography`` cannot build them, so the TBSCertificate is re-encoded with
:mod:`asn1crypto` around an explicit-parameter SubjectPublicKeyInfo (:func:`emrtd._ecparams.encode_explicit_spki`)
and signed again with the issuer's real key.

Forms (:data:`EC_PARAMETER_FORMS`): ``named`` (the curve's OID, what ``cryptography`` writes), ``explicit``
(generator uncompressed), ``explicit_compressed`` (generator compressed) and ``explicit_unnamed`` (explicit
parameters with b changed: they equal no named curve, so a verifier must refuse the key).
"""

from __future__ import annotations

from dataclasses import replace

from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from emrtd._crypto import curve_by_name
from emrtd._ecparams import encode_explicit_spki

__all__ = ["EC_PARAMETER_FORMS", "with_ec_parameters", "explicit_spki_of", "generate_ec_key"]

EC_PARAMETER_FORMS = ("named", "explicit", "explicit_compressed", "explicit_unnamed")


def explicit_spki_of(public_key: ec.EllipticCurvePublicKey, form: str) -> bytes:
    """The SubjectPublicKeyInfo DER of ``public_key`` in ``form`` (see :data:`EC_PARAMETER_FORMS`)."""
    if form not in EC_PARAMETER_FORMS:
        raise ValueError(f"EC parameter form {form!r} not in {', '.join(EC_PARAMETER_FORMS)}")
    if form == "named":
        return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    curve = curve_by_name(public_key.curve.name)
    if form == "explicit_unnamed":
        curve = replace(curve, b=(curve.b + 1) % curve.p)
    nums = public_key.public_numbers()
    return encode_explicit_spki(curve, (nums.x, nums.y), compressed_generator=form == "explicit_compressed")


def with_ec_parameters(cert: x509.Certificate, issuer_key: ec.EllipticCurvePrivateKey, form: str) -> x509.Certificate:
    """``cert`` with its subject's EC key written in ``form``, signed again (ECDSA SHA-256) by ``issuer_key``."""
    if form == "named":
        return cert
    tbs = ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))["tbs_certificate"]
    spki = explicit_spki_of(cert.public_key(), form)
    tbs = tbs.copy()
    tbs["subject_public_key_info"] = ax509.PublicKeyInfo.load(spki)
    tbs["signature"] = {"algorithm": "sha256_ecdsa"}
    tbs_der = tbs.dump(force=True)
    signature = issuer_key.sign(tbs_der, ec.ECDSA(hashes.SHA256()))
    out = ax509.Certificate({
        "tbs_certificate": ax509.TbsCertificate.load(tbs_der),
        "signature_algorithm": {"algorithm": "sha256_ecdsa"},
        "signature_value": signature,
    })  # fmt: skip
    return x509.load_der_x509_certificate(out.dump())


def generate_ec_key(curve_name: str) -> ec.EllipticCurvePrivateKey:
    """A fresh key on a named curve ``cryptography`` has (``secp256r1``, ``brainpoolP256r1``, ...)."""
    curve = curve_by_name(curve_name)
    if curve.cryptography_name is None:
        raise ValueError(f"{curve_name}: cryptography cannot sign on this curve")
    return ec.generate_private_key(getattr(ec, curve.cryptography_name)())
