"""X.509 helpers for the eMRTD PKI (Doc 9303 Part 12): loading certificates, public keys with explicit EC
domain parameters (common in CSCA and DS certificates, unsupported by ``cryptography``), issuer signatures."""

from __future__ import annotations

from asn1crypto import keys
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from emrtd._ecparams import EcParametersError, public_key_from_spki

__all__ = ["TrustError", "CertificateLoadError", "load_certificates", "public_key_of", "verify_issued_by"]


class TrustError(ValueError):
    """A trust anchor, CRL or trust file that cannot be used."""


class CertificateLoadError(TrustError):
    """A certificate or CRL that does not decode, or whose key cannot be used."""


def public_key_of(cert: x509.Certificate):
    """The certificate's public key; an EC key with explicit domain parameters is mapped to the named curve they
    equal (:mod:`emrtd._ecparams`). Raises :class:`CertificateLoadError` chained from the
    :class:`emrtd._ecparams.EcParametersError` (whose ``code`` names why) when they equal none."""
    try:
        return cert.public_key()
    except (UnsupportedAlgorithm, ValueError) as e:
        spki = _spki_der(cert)
        if keys.PublicKeyInfo.load(spki)["algorithm"]["algorithm"].native != "ec":
            raise CertificateLoadError(f"unsupported public key in {cert.subject.rfc4514_string()}: {e}") from e
        try:
            return public_key_from_spki(spki)
        except EcParametersError as ee:
            raise CertificateLoadError(f"the EC key of {cert.subject.rfc4514_string()}: {ee} ({ee.code})") from ee


def _spki_der(cert: x509.Certificate) -> bytes:
    return ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))["tbs_certificate"]["subject_public_key_info"].dump()


def verify_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    """Raise ``InvalidSignature`` unless ``issuer``'s key signed ``cert`` (ECDSA, RSA PKCS#1 v1.5 or PSS)."""
    key = public_key_of(issuer)
    params = cert.signature_algorithm_parameters
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    elif isinstance(key, rsa.RSAPublicKey):
        pad = params if isinstance(params, padding.PSS | padding.PKCS1v15) else padding.PKCS1v15()
        key.verify(cert.signature, cert.tbs_certificate_bytes, pad, cert.signature_hash_algorithm)
    else:
        raise InvalidSignature(f"unsupported issuer key {type(key).__name__}")


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """DER or PEM (one or several) certificates."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as e:
        raise CertificateLoadError(f"not an X.509 certificate: {e}") from e
