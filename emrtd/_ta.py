"""Terminal Authentication version 1 (EAC1), BSI TR-03110 Part 1 (TA v1) and Part 3 Appendix B (its APDUs),
after Chip Authentication.

The terminal proves to the chip that it holds an inspection system's key certified under the chip's CVCA:

1. for each certificate of its chain (link CVCA certificates, DV, IS): MSE:Set DST ``00 22 81 B6`` with
   ``83`` = the certificate's CAR (the key to verify it with), then PSO:Verify Certificate ``00 2A 00 BE``
   with the certificate's body and signature (Part 3 Appendix B); the chip imports each public key;
2. MSE:Set AT ``00 22 81 A4`` with ``83`` = the CHR of the IS certificate ;
3. GET CHALLENGE ``00 84 00 00 08``: the chip's nonce ``r_PICC``;
4. EXTERNAL AUTHENTICATE ``00 82 00 00`` with the signature over ``ID_PICC || r_PICC || Comp(PK_PCD)``, where
   ``PK_PCD`` is the terminal's ephemeral Chip Authentication key (so TA is bound to the CA session) and
   ``Comp`` its x-coordinate (Part 3 §A.2.2.3); ``ID_PICC`` is the document number with its check digit from
   the MRZ after BAC, or ``Comp`` of the chip's ephemeral PACE key after PACE (TR-03110 Part 1).

The effective rights are the intersection of the CHATs along the chain (Part 3 §C.4): the chip then serves
DG3 (fingerprints) and DG4 (iris) only as far as they grant. :class:`TaResult` says whether TA was performed,
whether it passed, and why not, with each refusal named by the step and certificate the chip refused.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from emrtd._apdu import CommandApdu, StatusWordError
from emrtd._cvc import READ_DG3, READ_DG4, CvcError, CvCertificate, sign_plain, split_certificates
from emrtd._mrz import check_digit
from emrtd._sm import SecureMessagingError
from emrtd._tlv import encode_tlv

__all__ = ["EF_CVCA_FID", "TaResult", "TerminalCredentials", "TerminalCredentialsError", "choose_credentials",
           "encode_ef_cvca", "parse_ef_cvca", "perform_terminal_authentication", "id_picc_bac", "id_picc_pace",
           "ta_signed_data"]

#: EF.CVCA in the eMRTD application (TR-03110 Part 3 §A.6.2.1, Doc 9303 Part 10 §3.6): the CARs of the CVCA
#: public keys the chip trusts (up to two, each a DO'42'), padded with 00 to 36 bytes; SFI 1C
EF_CVCA_FID = 0x011C
EF_CVCA_SIZE = 36


class TerminalCredentialsError(ValueError):
    """The terminal's IS key or certificate chain cannot be loaded or does not fit together."""


@dataclass(frozen=True)
class TerminalCredentials:
    """An inspection system's private key and its CV certificate chain (DV, then IS; link CVCA certificates
    first where the terminal holds them), as issued under a state's CVCA."""

    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    chain: tuple[CvCertificate, ...]

    def __post_init__(self) -> None:
        if not self.chain:
            raise TerminalCredentialsError("the terminal has no certificate chain")
        if not isinstance(self.private_key, ec.EllipticCurvePrivateKey):
            raise TerminalCredentialsError("the IS key is not an EC private key (ECDSA TA only)")
        own = self.private_key.public_key().public_bytes(serialization.Encoding.X962,
                                                         serialization.PublicFormat.UncompressedPoint)
        if own != self.terminal.public_key.point:
            raise TerminalCredentialsError(f"the IS key does not belong to the IS certificate {self.terminal.chr}")

    @property
    def terminal(self) -> CvCertificate:
        return self.chain[-1]

    @property
    def issuing_state(self) -> str:
        """The country code of the CVCA the chain starts from (the first certificate's CAR)."""
        return self.chain[0].car[:2]

    @classmethod
    def load(cls, key_path: str | Path, chain_path: str | Path) -> TerminalCredentials:
        """A PEM/DER (PKCS#8) private key file and a file of concatenated CV certificates (DV, IS)."""
        try:
            raw = Path(key_path).read_bytes()
            chain = split_certificates(Path(chain_path).read_bytes())
        except OSError as e:
            raise TerminalCredentialsError(f"cannot read the terminal credentials: {e}") from e
        except CvcError as e:
            raise TerminalCredentialsError(f"terminal certificate chain {chain_path}: {e}") from e
        try:
            key = (serialization.load_pem_private_key(raw, None) if raw.lstrip().startswith(b"-----")
                   else serialization.load_der_private_key(raw, None))
        except (ValueError, TypeError) as e:
            raise TerminalCredentialsError(f"terminal key {key_path}: {e}") from e
        return cls(key, tuple(chain))

    def save(self, key_path: str | Path, chain_path: str | Path) -> None:
        """Write the key (PEM PKCS#8) to a file created 0600 (never readable by others, not even for a moment:
        a temporary file made with that mode, then renamed) and the chain beside it."""
        key_path = Path(key_path)
        pem = self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())
        tmp = key_path.with_name(f".{key_path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
            os.replace(tmp, key_path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        Path(chain_path).write_bytes(b"".join(c.encode() for c in self.chain))

    def expired(self, today: dt.date) -> list[str]:
        """The certificates of the chain no longer (or not yet) in force on ``today``: a gate warns at start."""
        return [f"{c.chr} ({c.role_name}) valid {c.effective} - {c.expiration}" for c in self.chain
                if not c.in_force(today)]


@dataclass
class TaResult:
    """Outcome of Terminal Authentication. ``performed`` False: not attempted (``reason`` says why);
    ``succeeded`` True: the chip accepted the chain and the signature; ``data_groups`` the rights the chain
    grants (DG3, DG4), which the chip applies."""

    performed: bool
    succeeded: bool = False
    reason: str = ""
    terminal: str = ""  # the IS certificate's CHR
    data_groups: tuple[str, ...] = ()
    #: why not performed, named: ``no_terminal_credentials``, ``no_eac_data_groups``,
    #: ``no_terminal_chain_for_cvca`` (the gate holds no chain for the chip's CVCA: a foreign document),
    #: ``chip_authentication_not_succeeded``, ``no_chip_identifier``; ``chip_refused`` when performed and failed
    code: str = ""
    trust_points: tuple[str, ...] = ()  # EF.CVCA's CARs, where it was read

    def to_dict(self) -> dict:
        return {"performed": self.performed, "succeeded": self.succeeded, "reason": self.reason,
                "terminal": self.terminal, "data_groups": list(self.data_groups), "code": self.code,
                "trust_points": list(self.trust_points)}


def encode_ef_cvca(cars: Sequence[str]) -> bytes:
    """EF.CVCA's content: one or two CARs as DO'42', padded with 00 to 36 bytes."""
    if not 1 <= len(cars) <= 2:
        raise ValueError(f"EF.CVCA holds one or two CARs, not {len(cars)}")
    body = b"".join(encode_tlv(0x42, car.encode("ascii")) for car in cars)
    return body.ljust(EF_CVCA_SIZE, b"\x00")


def parse_ef_cvca(data: bytes) -> tuple[str, ...]:
    """The CARs EF.CVCA lists (TR-03110 Part 3 §A.6.2.1); :class:`ValueError` names a malformed file."""
    data, cars, pos = bytes(data), [], 0
    while pos < len(data) and data[pos] != 0x00:
        if data[pos] != 0x42 or pos + 2 > len(data) or not 8 <= data[pos + 1] <= 16:
            raise ValueError(f"EF.CVCA: no CAR (DO'42', 8-16 bytes) at offset {pos}")
        end = pos + 2 + data[pos + 1]
        if end > len(data):
            raise ValueError("EF.CVCA: truncated CAR")
        try:
            cars.append(data[pos + 2:end].decode("ascii"))
        except UnicodeDecodeError as e:
            raise ValueError("EF.CVCA: a CAR that is not ASCII") from e
        pos = end
    if any(data[pos:]) or not 1 <= len(cars) <= 2:
        raise ValueError(f"EF.CVCA: {len(cars)} CARs (one or two expected) or data after the padding")
    return tuple(cars)


def choose_credentials(credentials: Sequence[TerminalCredentials],
                       trust_points: Sequence[str]) -> TerminalCredentials | None:
    """The credentials whose chain starts from a CVCA the chip trusts (its first certificate's CAR is in
    EF.CVCA), else None: the terminal holds no chain for this chip."""
    return next((c for c in credentials if c.chain[0].car in trust_points), None)


def id_picc_bac(document_number: str) -> bytes:
    """ID_PICC after BAC: the MRZ's document number (9 characters, ``<``-filled) and its check digit."""
    doc = document_number.ljust(9, "<")
    return (doc + check_digit(doc)).encode("ascii")


def id_picc_pace(chip_ephemeral_public_key: bytes) -> bytes:
    """ID_PICC after PACE: Comp of the chip's ephemeral PACE public key (its x-coordinate)."""
    point = bytes(chip_ephemeral_public_key)
    if len(point) < 3 or point[0] != 0x04 or len(point) % 2 != 1:
        raise ValueError("the chip's ephemeral PACE key is not an uncompressed EC point")
    return point[1:1 + (len(point) - 1) // 2]


def ta_signed_data(id_picc: bytes, r_picc: bytes, ca_ephemeral_public_key: bytes) -> bytes:
    """``ID_PICC || r_PICC || Comp(PK_PCD)``: what the terminal signs (TR-03110 Part 1, TA v1)."""
    return bytes(id_picc) + bytes(r_picc) + id_picc_pace(ca_ephemeral_public_key)


def _refused(step: str, e: Exception) -> str:
    return f"chip refused {step}: {e}"


def perform_terminal_authentication(channel, credentials: TerminalCredentials, *, id_picc: bytes,
                                    ca_ephemeral_public_key: bytes) -> TaResult:
    """Run TA over ``channel`` (``send(CommandApdu)``, secure messaging up after CA); see the module docstring."""
    result = TaResult(True, terminal=credentials.terminal.chr, code="chip_refused")
    rights = None
    for cert in credentials.chain:
        what = f"the {cert.role_name} certificate {cert.chr}"
        try:
            channel.send(CommandApdu(0x00, 0x22, 0x81, 0xB6, encode_tlv(0x83, cert.car.encode("ascii")))).check()
        except (StatusWordError, SecureMessagingError) as e:
            result.reason = _refused(f"MSE:Set DST for {what} (does it trust {cert.car}?)", e)
            return result
        try:
            channel.send(CommandApdu(0x00, 0x2A, 0x00, 0xBE, cert.verify_content())).check()
        except (StatusWordError, SecureMessagingError) as e:
            result.reason = _refused(what, e) + _diagnose(cert)
            return result
        rights = cert.chat.rights if rights is None else rights & cert.chat.rights
    is_cert = credentials.terminal
    try:
        channel.send(CommandApdu(0x00, 0x22, 0x81, 0xA4, encode_tlv(0x83, is_cert.chr.encode("ascii")))).check()
        r_picc = channel.send(CommandApdu(0x00, 0x84, 0x00, 0x00, ne=8)).check().data
    except (StatusWordError, SecureMessagingError) as e:
        result.reason = _refused("MSE:Set AT / GET CHALLENGE for Terminal Authentication", e)
        return result
    if len(r_picc) != 8:
        result.reason = f"chip's TA challenge has {len(r_picc)} bytes, 8 expected"
        return result
    try:
        signature = sign_plain(credentials.private_key, ta_signed_data(id_picc, r_picc, ca_ephemeral_public_key),
                               is_cert.public_key.hash)
        channel.send(CommandApdu(0x00, 0x82, 0x00, 0x00, signature)).check()
    except (StatusWordError, SecureMessagingError) as e:
        result.reason = _refused("the terminal's signature (EXTERNAL AUTHENTICATE)", e)
        return result
    except ValueError as e:
        result.reason = f"cannot make the TA signature: {e}"
        return result
    result.succeeded, result.code = True, ""
    result.data_groups = tuple(n for bit, n in ((READ_DG3, "DG3"), (READ_DG4, "DG4")) if (rights or 0) & bit)
    return result


def _diagnose(cert: CvCertificate) -> str:
    """What the terminal can tell about a certificate the chip refused (the chip answers only a status word)."""
    today = dt.date.today()
    if today > cert.expiration:
        return f" (the certificate expired on {cert.expiration.isoformat()})"
    if today < cert.effective:
        return f" (the certificate is effective only from {cert.effective.isoformat()})"
    return ""
