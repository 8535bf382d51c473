"""emrtd: ICAO Doc 9303 travel documents and their chips, as a standalone library.

No screen, no network, no hardware: protocols take a narrow transport (``transmit(apdu) -> bytes``)
and return result objects.
"""

# --- document data, passive authentication, PKI (owner: data/PA work) ---
from emrtd._tlv import Tlv, TlvError, encode_tlv, iter_tlv, parse_tlv

__all__ = [
    "Tlv",
    "TlvError",
    "encode_tlv",
    "iter_tlv",
    "parse_tlv",
]

# --- chip protocols, virtual chip, reader, issuer (owner: protocol work) ---
from emrtd._aa import AaResult, ActiveAuthError, perform_active_authentication, verify_aa_signature  # noqa: E402
from emrtd._apdu import (  # noqa: E402
    ApduError,
    CommandApdu,
    FileNotFound,
    ResponseApdu,
    SecurityStatusNotSatisfied,
    SmDataObjectsIncorrect,
    StatusWordError,
    status_error,
)
from emrtd._bac import AccessKeyError, BacError, BacKey, BacResult, derive_bac_keys, perform_bac  # noqa: E402
from emrtd._ca import CaResult, ChipAuthError, perform_chip_authentication  # noqa: E402
from emrtd._chip import VirtualChip  # noqa: E402
from emrtd._crypto import CryptoError, EcError, PaddingError, SmCipher, kdf  # noqa: E402
from emrtd._issuer import FAULTS, IssuedDocument, IssuerError, IssuerPki, issue_document  # noqa: E402
from emrtd._pace import CanKey, PaceError, PaceResult, perform_pace  # noqa: E402
from emrtd._reader import AccessControlError, Check, ReadError, ReadResult, read_document  # noqa: E402
from emrtd._secinfo import (  # noqa: E402
    ActiveAuthenticationInfo,
    ChipAuthenticationInfo,
    ChipAuthenticationPublicKeyInfo,
    PaceDomainParameterInfo,
    PaceInfo,
    SecurityInfoError,
    SecurityInfos,
    encode_dg15,
    parse_dg15,
)
from emrtd._sm import SecureMessaging, SecureMessagingError, SmFormatError, SmMacError, SmSessionAborted  # noqa: E402
from emrtd._transport import InProcessTransport, PcscTransport, TransportError  # noqa: E402
from emrtd._vpcd import VpcdCard, VpcdError  # noqa: E402

__all__ += [
    "AaResult", "ActiveAuthError", "perform_active_authentication", "verify_aa_signature",
    "ApduError", "CommandApdu", "FileNotFound", "ResponseApdu", "SecurityStatusNotSatisfied",
    "SmDataObjectsIncorrect", "StatusWordError", "status_error",
    "AccessKeyError", "BacError", "BacKey", "BacResult", "derive_bac_keys", "perform_bac",
    "CaResult", "ChipAuthError", "perform_chip_authentication",
    "VirtualChip",
    "CryptoError", "EcError", "PaddingError", "SmCipher", "kdf",
    "CanKey", "PaceError", "PaceResult", "perform_pace",
    "AccessControlError", "Check", "ReadError", "ReadResult", "read_document",
    "ActiveAuthenticationInfo", "ChipAuthenticationInfo", "ChipAuthenticationPublicKeyInfo",
    "PaceDomainParameterInfo", "PaceInfo", "SecurityInfoError", "SecurityInfos", "encode_dg15", "parse_dg15",
    "SecureMessaging", "SecureMessagingError", "SmFormatError", "SmMacError", "SmSessionAborted",
    "InProcessTransport", "PcscTransport", "TransportError",
    "FAULTS", "IssuedDocument", "IssuerError", "IssuerPki", "issue_document",
    "VpcdCard", "VpcdError",
]  # fmt: skip

# --- document capture: MRZ OCR and the Vietnamese ID card QR (owner: lead) ---
from emrtd._mrz_ocr import MrzNotFoundError, MrzOcrError, OcrResult, read_mrz_image, render_mrz_image  # noqa: E402
from emrtd._vn_qr import (  # noqa: E402
    VnIdQr,
    VnQrError,
    encode_vn_id_qr,
    parse_vn_id_qr,
    read_vn_id_qr_image,
    vn_id_expiry,
)

__all__ += [
    "MrzNotFoundError", "MrzOcrError", "OcrResult", "read_mrz_image", "render_mrz_image",
    "VnIdQr", "VnQrError", "encode_vn_id_qr", "parse_vn_id_qr", "read_vn_id_qr_image", "vn_id_expiry",
]  # fmt: skip
