"""emrtd: ICAO Doc 9303 travel documents and their chips, as a standalone library.

No screen, no network, no hardware: protocols take a narrow transport (``transmit(apdu) -> bytes``)
and return result objects.

Simulation lives apart in :mod:`emrtd.sim` (the test issuer and its faults, the virtual chip, vpcd's
card side); this package never imports it.
"""

# --- document data, passive authentication, PKI (owner: data/PA work) ---
from emrtd._dg2 import (
    BiometricDataError,
    BiometricGroup,
    BiometricHeader,
    BiometricTemplate,
    FaceImage,
    FaceImageDataBlock,
    FingerImage,
    InvalidImageError,
    encode_19794_5,
    image_format,
    parse_19794_5,
    parse_39794_5,
)
from emrtd._ldif import LdifEntry, LdifError, LdifSyntaxError, LdifUnsupported, dump_ldif, parse_ldif
from emrtd._lds import Dg1, Dg7, Dg11, Dg12, EfCom, LdsError, parse_lds_file
from emrtd._mrz import (
    Mrz,
    MrzCharacterError,
    MrzCheckDigitError,
    MrzError,
    MrzFieldError,
    MrzFormatError,
    bac_key_seed,
    check_digit,
    check_mrz,
    mrz_information,
    parse_mrz,
    transliterate,
)
from emrtd._pa import PaCheck, PassiveAuthResult, passive_authentication
from emrtd._sod import LdsSecurityObject, Sod, SodError, SodSignatureError, build_sod
from emrtd._tlv import Tlv, TlvError, encode_tlv, iter_tlv, parse_tlv
from emrtd._trust import (
    CertificateLoadError,
    MasterList,
    MasterListError,
    MasterListSignatureError,
    TrustError,
    TrustStore,
    build_master_list,
    load_trust_store,
    parse_master_list,
)
from emrtd._trust_store import (
    ImportReport,
    NoTrustObjects,
    TrustObject,
    TrustStoreCorrupt,
    VersionedTrustStore,
    objects_from_file,
    objects_from_ldif,
)

__all__ = [
    "Tlv", "TlvError", "encode_tlv", "iter_tlv", "parse_tlv",
    "Mrz", "MrzError", "MrzFormatError", "MrzCharacterError", "MrzCheckDigitError", "MrzFieldError",
    "parse_mrz", "check_mrz", "check_digit", "mrz_information", "bac_key_seed", "transliterate",
    "LdsError", "EfCom", "Dg1", "Dg7", "Dg11", "Dg12", "parse_lds_file",
    "BiometricGroup", "BiometricHeader", "BiometricTemplate", "FaceImage", "FingerImage", "image_format",
    "FaceImageDataBlock", "BiometricDataError", "InvalidImageError", "parse_19794_5", "encode_19794_5",
    "parse_39794_5",
    "Sod", "SodError", "SodSignatureError", "LdsSecurityObject", "build_sod",
    "PaCheck", "PassiveAuthResult", "passive_authentication",
    "TrustStore", "TrustError", "CertificateLoadError", "MasterList", "MasterListError", "MasterListSignatureError",
    "parse_master_list", "build_master_list", "load_trust_store",
    "VersionedTrustStore", "TrustObject", "ImportReport", "TrustStoreCorrupt", "NoTrustObjects", "objects_from_file", "objects_from_ldif",
    "LdifEntry", "LdifError", "LdifSyntaxError", "LdifUnsupported", "parse_ldif", "dump_ldif",
]  # fmt: skip

# --- chip protocols, reader, transports (owner: protocol work) ---
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
from emrtd._crypto import CryptoError, EcError, PaddingError, SmCipher, kdf  # noqa: E402
from emrtd._cvc import CvcError, CvCertificate, CvcFormatError, split_certificates, validate_chain  # noqa: E402
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
    TerminalAuthenticationInfo,
    encode_dg15,
    parse_dg15,
)
from emrtd._sm import SecureMessaging, SecureMessagingError, SmFormatError, SmMacError, SmSessionAborted  # noqa: E402
from emrtd._ta import TaResult, TerminalCredentials, TerminalCredentialsError  # noqa: E402
from emrtd._transport import ExtendedLengthRetryError, PcscTransport, TransportError  # noqa: E402

__all__ += [
    "AaResult", "ActiveAuthError", "perform_active_authentication", "verify_aa_signature",
    "ApduError", "CommandApdu", "FileNotFound", "ResponseApdu", "SecurityStatusNotSatisfied",
    "SmDataObjectsIncorrect", "StatusWordError", "status_error",
    "AccessKeyError", "BacError", "BacKey", "BacResult", "derive_bac_keys", "perform_bac",
    "CaResult", "ChipAuthError", "perform_chip_authentication",
    "CryptoError", "EcError", "PaddingError", "SmCipher", "kdf",
    "CanKey", "PaceError", "PaceResult", "perform_pace",
    "AccessControlError", "Check", "ReadError", "ReadResult", "read_document",
    "ActiveAuthenticationInfo", "ChipAuthenticationInfo", "ChipAuthenticationPublicKeyInfo",
    "PaceDomainParameterInfo", "PaceInfo", "SecurityInfoError", "SecurityInfos", "TerminalAuthenticationInfo",
    "encode_dg15", "parse_dg15",
    "SecureMessaging", "SecureMessagingError", "SmFormatError", "SmMacError", "SmSessionAborted",
    "PcscTransport", "TransportError", "ExtendedLengthRetryError",
    "TaResult", "TerminalCredentials", "TerminalCredentialsError",
    "CvCertificate", "CvcError", "CvcFormatError", "split_certificates", "validate_chain",
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

# --- MRZ state codes (Doc 9303 Part 3 §5) and explicit EC domain parameters (issue #22 items 4-5) ---
from emrtd._ecparams import EcParametersError, UnknownCurveError, UnsupportedCurveError  # noqa: E402
from emrtd._mrz import MrzWarning, mrz_warnings  # noqa: E402
from emrtd._states import (  # noqa: E402
    ISSUER_CODES,
    STATE_CODES,
    is_known_issuer_code,
    is_known_state_code,
    state_name,
)

__all__ += [
    "EcParametersError", "UnknownCurveError", "UnsupportedCurveError", "MrzWarning", "mrz_warnings",
    "STATE_CODES", "ISSUER_CODES", "is_known_state_code", "is_known_issuer_code", "state_name",
]  # fmt: skip

# --- the MRZ reader for photographs (issue #25): localisation, PP-OCRv4 fused with the OCR-B templates ---
from emrtd._mrz_engine import MrzEngineError, MrzModelMissing, MrzModelTampered  # noqa: E402
from emrtd._mrz_ocr import read_mrz_image_templates  # noqa: E402
from emrtd._mrz_read import MrzImageError, MrzReading, read_mrz  # noqa: E402

__all__ += ["MrzEngineError", "MrzModelMissing", "MrzModelTampered", "MrzImageError", "MrzReading", "read_mrz", "read_mrz_image_templates"]
