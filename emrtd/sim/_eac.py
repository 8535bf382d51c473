"""A test EAC PKI (BSI TR-03110 Part 3): per issuing state a CVCA, a DV under it and inspection systems under the
DV, as CV certificates with ECDSA brainpoolP256r1 / SHA-256 keys; and the data groups EAC protects.

    >>> eac = EacPki.make("UT")                                     # doctest: +SKIP
    >>> terminal = eac.terminal()                                   # DG3 + DG4, valid today
    >>> doc = issue_document(mrz, photo, eac=eac, dg3=[record])     # the chip trusts eac.cvca

:meth:`EacPki.terminal` makes the faulty terminals the tests need: a chain whose CHATs grant less
(``rights``), an IS certificate that has expired (``expired=True``), or an IS certificate whose signature
the DV never made (``forged=True``: signed by another key under the DV's name).

DG3 (fingerprints) and DG4 (iris) are CBEFF biometric groups (Doc 9303 Part 10 §4.7.3-4.7.4): one ``7F60``
per record, BHT ``A1`` with the format owner (JTC 1/SC 37) and type (ISO/IEC 19794-4 finger image 0x0007,
19794-6 iris image 0x0009), the record in ``5F2E``. emrtd treats the records as opaque bytes: the caller makes
the 19794-4 record (``biometrics.finger.finger_image_record``); :func:`minimal_iris_record` is a header-only
ISO/IEC 19794-6:2005 record for DG4.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from emrtd._crypto import curve_by_name
from emrtd._cvc import (
    READ_DG3,
    READ_DG4,
    ROLE_CVCA,
    ROLE_DV_DOMESTIC,
    ROLE_IS,
    TA_ECDSA_SHA256,
    Chat,
    CvCertificate,
    CvPublicKey,
    sign_plain,
)
from emrtd._dg2 import BiometricGroup, BiometricHeader, BiometricTemplate
from emrtd._ta import TerminalCredentials

__all__ = ["EacPki", "issue_cv_certificate", "biometric_group", "minimal_iris_record", "FORMAT_ISO19794_4",
           "FORMAT_ISO19794_6"]

FORMAT_ISO19794_4 = 0x0007  # CBEFF format type: ISO/IEC 19794-4 finger image
FORMAT_ISO19794_6 = 0x0009  # ISO/IEC 19794-6 iris image
_CURVE = curve_by_name("brainpoolp256r1")


def _point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def issue_cv_certificate(signer: ec.EllipticCurvePrivateKey, car: str, holder: ec.EllipticCurvePrivateKey, chr_: str,
                         role: int, rights: int, effective: dt.date, expiration: dt.date, *,
                         domain_parameters: bool = False) -> CvCertificate:
    """A CV certificate for ``holder``'s public key, signed by ``signer`` (ECDSA SHA-256, plain r||s)."""
    key = CvPublicKey(TA_ECDSA_SHA256, _point(holder), _CURVE if domain_parameters else None)
    unsigned = CvCertificate(car, key, chr_, Chat(role, rights), effective, expiration, b"")
    return CvCertificate(car, key, chr_, Chat(role, rights), effective, expiration,
                         sign_plain(signer, unsigned.body(), key.hash))


@dataclass
class EacPki:
    """A state's CVCA and one DV (official domestic) with their keys; :meth:`terminal` issues IS credentials."""

    country: str
    cvca_key: ec.EllipticCurvePrivateKey
    cvca: CvCertificate
    dv_key: ec.EllipticCurvePrivateKey
    dv: CvCertificate
    today: dt.date

    @classmethod
    def make(cls, country: str = "UT", today: dt.date | None = None) -> EacPki:
        today = today or dt.date.today()
        cvca_key = ec.generate_private_key(ec.BrainpoolP256R1())
        car = f"{country}CVCA00001"
        cvca = issue_cv_certificate(cvca_key, car, cvca_key, car, ROLE_CVCA, READ_DG3 | READ_DG4,
                                    today - dt.timedelta(days=365), today + dt.timedelta(days=3 * 365),
                                    domain_parameters=True)
        dv_key = ec.generate_private_key(ec.BrainpoolP256R1())
        dv = issue_cv_certificate(cvca_key, car, dv_key, f"{country}DVTEST00001", ROLE_DV_DOMESTIC,
                                  READ_DG3 | READ_DG4, today - dt.timedelta(days=30), today + dt.timedelta(days=365))
        return cls(country, cvca_key, cvca, dv_key, dv, today)

    @property
    def chip_date(self) -> dt.date:
        """The current date a chip personalised today holds (TR-03110 Part 3 §A.3: the date of personalisation,
        moved forward by the effective dates of the CVCA and domestic DV certificates it verifies)."""
        return self.today

    def terminal(self, *, rights: int = READ_DG3 | READ_DG4, dv_rights: int | None = None, expired: bool = False,
                 forged: bool = False, sequence: int = 1) -> TerminalCredentials:
        """An inspection system's key and chain (DV, IS). ``rights`` is the IS certificate's CHAT; ``dv_rights``
        another DV (its CHAT) in place of the PKI's; ``expired`` an IS certificate that expired yesterday;
        ``forged`` an IS certificate signed by a key that is not the DV's."""
        dv_key, dv = self.dv_key, self.dv
        if dv_rights is not None:
            dv_key = ec.generate_private_key(ec.BrainpoolP256R1())
            dv = issue_cv_certificate(self.cvca_key, self.cvca.chr, dv_key, f"{self.country}DVLIMT00001",
                                      ROLE_DV_DOMESTIC, dv_rights, self.dv.effective, self.dv.expiration)
        is_key = ec.generate_private_key(ec.BrainpoolP256R1())
        if expired:
            effective, expiration = self.today - dt.timedelta(days=30), self.today - dt.timedelta(days=1)
        else:
            effective, expiration = self.today - dt.timedelta(days=1), self.today + dt.timedelta(days=30)
        signer = ec.generate_private_key(ec.BrainpoolP256R1()) if forged else dv_key
        is_cert = issue_cv_certificate(signer, dv.chr, is_key, f"{self.country}ISGATE{sequence:05d}", ROLE_IS, rights,
                                       effective, expiration)
        return TerminalCredentials(is_key, (dv, is_cert))


def biometric_group(name: str, records: list[bytes], format_type: int) -> bytes:
    """DG3 or DG4: one CBEFF template per record (BHT: ICAO header version, format owner and type)."""
    header = BiometricHeader(((0x80, b"\x01\x01"), (0x87, (0x0101).to_bytes(2, "big")),
                              (0x88, format_type.to_bytes(2, "big"))))
    return BiometricGroup(name, tuple(BiometricTemplate(header, r) for r in records)).encode()


def minimal_iris_record() -> bytes:
    """An ISO/IEC 19794-6:2005 iris image record with its 45-byte general header and no iris image (a valid,
    empty record: the chip's DG4 holds it, no test reads an iris)."""
    body = (b"\x00\x00" + b"\x00"  # capture device id, no biometric subtypes
            + (45).to_bytes(2, "big") + b"\x00\x00" + b"\x00\x00" + b"\x00\x00"  # header length, properties...
            + b"\x00\x00" + b"\x00\x00" + b"\x08" + b"\x00" + bytes(16))  # width, height, depth, transform, device
    return b"IIR\x00" + b"010\x00" + (12 + len(body)).to_bytes(4, "big") + body
