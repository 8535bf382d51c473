"""Named warnings of a parsed MRZ (:class:`MrzWarning`): what its check digits cannot catch and does not make it
unreadable, e.g. an issuing State or nationality code outside ICAO Doc 9303 Part 3 §5's list (:mod:`emrtd._states`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from emrtd._states import is_known_issuer_code, is_known_state_code

if TYPE_CHECKING:
    from emrtd._mrz import Mrz

__all__ = ["MrzWarning", "mrz_warnings"]


@dataclass(frozen=True)
class MrzWarning:
    """Something an MRZ holds that its check digits cannot catch and that does not make it unreadable, e.g. an
    issuing State or nationality code outside ICAO Doc 9303 Part 3's list (``code`` ``unknown_state_code``: "BOS"
    read where "BIH" was printed). A warning keeps ``valid`` (check digits, layout) but is always reported."""

    field: str
    code: str
    message: str

    def to_dict(self) -> dict:
        return {"field": self.field, "warning": self.code, "message": self.message}


def mrz_warnings(mrz: Mrz) -> tuple[MrzWarning, ...]:
    """The warnings of a parsed MRZ: issuing State (State or organisation codes) and nationality (those and
    XXA/XXB/XXC/XXX) checked against Doc 9303 Part 3 §5 (:mod:`emrtd._states`)."""
    out = []
    if not is_known_issuer_code(mrz.issuing_state):
        why = ("a nationality status, not an issuer" if is_known_state_code(mrz.issuing_state)
               else "not a State or organisation code of ICAO Doc 9303 Part 3")  # fmt: skip
        out.append(MrzWarning("issuing_state", "unknown_state_code",
                              f"issuing state {mrz.issuing_state!r}: {why}{_germany(mrz.issuing_state)}"))
    if not is_known_state_code(mrz.nationality):
        out.append(MrzWarning("nationality", "unknown_state_code", f"nationality {mrz.nationality!r}: not a code of "
                                                                   f"ICAO Doc 9303 Part 3{_germany(mrz.nationality)}"))
    return tuple(out)


def _germany(code: str) -> str:
    return " (Germany's code is D; DEU is not written on German documents)" if code.rstrip("<") == "DEU" else ""
