"""The document and chip steps: the printed MRZ (before consent: :func:`check_printed_mrz`, no chip access),
then, once the traveller consented, the chip read with its access key (:func:`read_chip`, emrtd) -> the
document data the record needs.

The MRZ is :mod:`emrtd`'s (:func:`emrtd.parse_mrz`: every check digit of ICAO Doc 9303 Part 3 §4.9, TD3
and TD1 layouts); names keep the MRZ transliteration ("NGUYEN<<VAN<DUC" -> primary identifier "NGUYEN",
secondary identifier "VAN DUC"); :func:`devicelink.document_record` makes the record's ``document``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import emrtd
from devices.ports import CardRemovedError, DeviceError, NoCardError  # the reader port's errors
from enrollment._errors import DocumentError, DocumentRejected, MrzError

__all__ = ["DocumentRead", "check_printed_mrz", "read_chip", "read_document", "chip_face_image"]


def _parse_mrz(text: str, *, today: dt.date | None = None) -> emrtd.Mrz:
    """The MRZ the document reader gave (lines or one string, any spacing), parsed by :func:`emrtd.parse_mrz`
    with every check digit verified. Raises :class:`MrzError`."""
    try:
        return emrtd.parse_mrz("".join(text.split()).upper(), today=today)
    except emrtd.MrzError as e:
        raise MrzError(f"MRZ not accepted: {e}") from e


def chip_face_image(dg2: bytes | None) -> bytes | None:
    """The JPEG or JPEG 2000 face image of DG2 (ISO/IEC 19794-5, or 39794-5 per the ICAO profile, where
    more data blocks follow the image), or None when there is no DG2 or it does not parse (:func:`chip_face`
    says why)."""
    return chip_face(dg2)[0]


def chip_face(dg2: bytes | None) -> tuple[bytes | None, str | None]:
    """(the face image of DG2, None), or (None, why there is none: no DG2, or the parser's error and reason)."""
    if not dg2:
        return None, "DG2 not read"
    try:
        return emrtd.BiometricGroup.parse_dg2(dg2).face_image, None
    except emrtd.LdsError as e:
        reason = getattr(e, "reason", None)
        return None, (f"{e}" + (f" [{reason}]" if reason else ""))[:200]


@dataclass
class DocumentRead:
    """What the kiosk learnt from the document: the parsed MRZ (:class:`emrtd.Mrz`), the chip's checks.
    ``chip_face`` is memory only (shown on review)."""

    mrz: emrtd.Mrz
    checks: dict[str, bool | None] = field(default_factory=dict)
    access_protocol: str = ""
    chip_face: bytes | None = field(default=None, repr=False)
    chip_photo_error: str | None = None  # why there is no chip_face (no DG2, DG2 unparsable, no face in it)

    def wipe(self) -> None:
        self.chip_face = None


_REFUSALS = {
    "passive_authentication": "chip_pa_failed",
    "active_authentication": "chip_aa_failed",
    "chip_authentication": "chip_ca_failed",
    "mrz_consistency": "mrz_mismatch",
}


_MRZ_FIELDS = ("document_code", "issuing_state", "document_number", "optional_data", "date_of_birth_mrz", "sex",
               "date_of_expiry_mrz", "nationality", "primary_identifier", "secondary_identifier")


def _require_verified_chip(result, trust, require_revocation_status: bool) -> None:
    """Positive evidence only: PA passed up to a trusted CSCA, DG1/DG2 verified, revocation status known."""
    if trust is None:
        raise DocumentRejected("chip_pa_failed", "no trust store: passive authentication cannot be performed")
    pa = result.passive_authentication
    steps = {c.name: c.passed for c in getattr(pa, "checks", ())}
    check = result.check("passive_authentication")
    if check is None or check.passed is not True or steps.get("dsc_chain") is not True:
        raise DocumentRejected("chip_pa_failed", "passive authentication did not verify up to a trusted CSCA")
    if require_revocation_status and steps.get("dsc_revocation") is not True:
        raise DocumentRejected("chip_pa_failed", "the Document Signer's revocation status is unknown (no current CRL)")
    unverified = [dg for dg in ("DG1", "DG2") if result.data_group_verified(dg) is not True]
    if unverified:
        raise DocumentRejected("chip_pa_failed", f"{', '.join(unverified)} not read and verified against the SOD")


def check_printed_mrz(text: str, *, today: dt.date | None = None) -> emrtd.Mrz:
    """The document step, before consent: the printed MRZ (the page scanner's text, any spacing) parsed
    with every check digit verified, and the document not expired. Touches no chip.

    Raises :class:`MrzError` (unreadable MRZ) or :class:`DocumentRejected` (``document_expired``)."""
    today = today or dt.date.today()
    mrz = _parse_mrz(text, today=today)
    if mrz.date_of_expiry is None or mrz.date_of_expiry < today:
        raise DocumentRejected("document_expired", "the document has expired")
    return mrz


def read_chip(reader, mrz: emrtd.Mrz, *, trust=None, card_timeout_s: float = 30.0,
              require_passive_authentication: bool = True, require_revocation_status: bool = True) -> DocumentRead:
    """The chip step, after consent: wait for the card, read and verify the chip (BAC/PACE with the printed
    MRZ's key, CA, AA, PA) and compare the whole printed MRZ with DG1.

    Raises :class:`DocumentError` (chip not read: ``reason`` in no_card / card_removed / reader_fault /
    access_denied / chip_read_failed) or :class:`DocumentRejected` (read, but a check failed: ``reason_code``
    from the back office's ReasonCode enum).

    Fail closed: unless ``require_passive_authentication`` is relaxed (explicitly), a chip is accepted
    only when Passive Authentication passed with the DSC -> CSCA chain verified against ``trust``, DG1
    and DG2 were read and hashed as the SOD says, and (``require_revocation_status``) the DSC is known
    not to be revoked; anything not performed or unknown is refused as ``chip_pa_failed``.
    """
    try:
        reader.wait_for_card(timeout=card_timeout_s)
    except NoCardError as e:
        raise DocumentError("no_card", "no document was placed on the reader") from e
    except DeviceError as e:
        raise DocumentError("reader_fault", f"reader fault: {e}") from e
    try:
        result = emrtd.read_document(reader, mrz.access_key, trust=trust)
    except NoCardError as e:
        raise DocumentError("no_card", "no document was placed on the reader") from e
    except CardRemovedError as e:
        raise DocumentError("card_removed", "the document was removed during the read") from e
    except DeviceError as e:
        raise DocumentError("reader_fault", f"reader fault: {e}") from e
    except emrtd.AccessControlError as e:
        raise DocumentError("access_denied", "the chip refused the MRZ key") from e
    except (emrtd.ReadError, emrtd.ApduError, emrtd.TransportError) as e:
        cause = e.__cause__ or e.__context__
        if isinstance(cause, CardRemovedError):
            raise DocumentError("card_removed", "the document was removed during the read") from e
        raise DocumentError("chip_read_failed", f"chip read failed: {e}") from e
    checks = {c.name: c.passed for c in result.checks}
    for check in result.failures:
        if check.name in _REFUSALS:
            raise DocumentRejected(_REFUSALS[check.name], f"{check.name} failed: {check.reason}")
    aa, ca = checks.get("active_authentication"), checks.get("chip_authentication")
    if aa is False or ca is False:
        raise DocumentRejected("chip_cloned", "the chip could not prove it is genuine")
    unusable = [f"{c.name} ({c.code})" for c in result.checks
                if c.name in ("active_authentication", "chip_authentication") and c.passed is None and c.code]
    if unusable:  # not verified, never accepted unverified; but no sign of a clone either
        raise DocumentRejected("chip_key_unusable", f"the chip's key cannot be used: {', '.join(unusable)} not verified")
    if require_passive_authentication:
        _require_verified_chip(result, trust, require_revocation_status)
    chip = result.mrz
    if chip is None:
        raise DocumentRejected("mrz_mismatch", "the chip's DG1 could not be read: nothing to compare the page with")
    differ = [f for f in _MRZ_FIELDS if getattr(mrz, f) != getattr(chip, f)]
    if differ:  # state, names and nationality carry no check digit: the page alone is never the record
        raise DocumentRejected("mrz_mismatch", f"the printed MRZ differs from the chip's DG1 in {', '.join(differ)}")
    # the record is the chip's (signed) data; the page only gave the access key
    face, why = chip_face(result.files.get("DG2"))
    return DocumentRead(chip, checks, result.access_protocol, face, why)


def read_document(reader, mrz_text: str | Callable[[], str], *, trust=None, card_timeout_s: float = 30.0,
                  today: dt.date | None = None, require_passive_authentication: bool = True,
                  require_revocation_status: bool = True) -> DocumentRead:
    """Both steps at once, for a caller that already holds the traveller's consent: the printed MRZ
    (text, or a callable such as an MRZ source's ``read_mrz``) by :func:`check_printed_mrz`, then the chip
    by :func:`read_chip`. The kiosk's workflow calls the two on either side of the consent instead.

    Raises :class:`MrzError`, :class:`DocumentError` or :class:`DocumentRejected` as those two do.
    """
    mrz = check_printed_mrz(mrz_text() if callable(mrz_text) else mrz_text, today=today)
    return read_chip(reader, mrz, trust=trust, card_timeout_s=card_timeout_s,
                     require_passive_authentication=require_passive_authentication,
                     require_revocation_status=require_revocation_status)
