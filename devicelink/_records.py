"""Record objects of the back office's device API built from the domain's types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import emrtd

__all__ = ["document_record"]


def document_record(mrz: emrtd.Mrz, *, document_type: str | None = None) -> dict[str, Any]:
    """The ``document`` object of an enrolment or an exception record (backoffice/API.md) from a parsed
    MRZ: every field present, unknown dates as null, a sex other than F/M/X as ``<``. ``document_type``
    defaults to the printed document code without fillers (``P``, ``ID``, ``I``)."""
    return {
        "document_number": mrz.document_number, "issuing_state": mrz.issuing_state,
        "document_type": document_type if document_type is not None else mrz.document_code.rstrip("<"),
        "surname": mrz.primary_identifier, "given_names": mrz.secondary_identifier,
        "nationality": mrz.nationality,
        "date_of_birth": mrz.date_of_birth.isoformat() if mrz.date_of_birth else None,
        "date_of_expiry": mrz.date_of_expiry.isoformat() if mrz.date_of_expiry else None,
        "sex": mrz.sex if mrz.sex in ("F", "M", "X") else "<",
    }  # fmt: skip
