"""What :func:`emrtd.read_document` returns: the files read, each check with its reason, and what the SOD says.

The SOD-derived views (:attr:`ReadResult.sod_data_groups`, :meth:`ReadResult.data_group_verified`,
:attr:`ReadResult.chip_authentication_offered`, :attr:`ReadResult.active_authentication_offered`) let a
verifier decide from the signed data, not from EF.COM (which is unsigned: a clone edits it to hide the data
groups whose private keys it lacks). Doc 9303 Part 11 §5.1: the SOD lists the hash of every data group
present on the genuine chip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from emrtd._aa import AaResult
from emrtd._bac import BacResult
from emrtd._ca import CaResult
from emrtd._lds import Dg1, LdsError
from emrtd._mrz import Mrz, MrzWarning
from emrtd._pace import PaceResult
from emrtd._secinfo import SecurityInfoError, SecurityInfos
from emrtd._sod import Sod, SodError

__all__ = ["Check", "ReadResult", "file_name_on_disk", "parse_sod_or_none", "dg_name"]


def file_name_on_disk(name: str) -> str:
    """``EF.COM`` -> ``EF_COM.bin``, ``DG1`` -> ``DG1.bin`` (the dump layout of ``chip verify``)."""
    return name.replace(".", "_") + ".bin"


def dg_name(number: int) -> str:
    return f"DG{number}"


@lru_cache(maxsize=16)
def parse_sod_or_none(raw: bytes | None) -> Sod | None:
    """The parsed EF.SOD, or None when it is absent or malformed (the caller reports why elsewhere)."""
    if raw is None:
        return None
    try:
        return Sod.parse(raw)
    except (SodError, ValueError, TypeError, KeyError):
        return None


@dataclass
class Check:
    name: str
    passed: bool | None  # None = not performed (or could not be verified: ``code`` says why)
    reason: str = ""
    code: str = ""  # a named cause where one applies, e.g. AA/CA ``ec_parameters_unknown_curve``

    def to_dict(self) -> dict:
        return {"name": self.name, "passed": self.passed, "reason": self.reason} | ({"code": self.code} if self.code
                                                                                  else {})


@dataclass
class ReadResult:
    """Everything a read produced. ``valid`` is True when no performed check failed.

    ``files`` holds the EFs read (name -> bytes), ``unreadable`` those the chip refused or served malformed
    (name -> reason). The SOD views below say nothing about the SOD's authenticity (signature, DSC, CSCA):
    that is the ``passive_authentication`` check. A "usable SOD" is an EF.SOD that was read and parses.
    """

    access: BacResult | PaceResult
    files: dict[str, bytes] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)
    chip_authentication: CaResult | None = None
    active_authentication: AaResult | None = None
    terminal_authentication: object | None = None  # emrtd.TaResult (EAC)
    passive_authentication: object | None = None
    pace_fallback_reason: str = ""
    apdu_count: int = 0
    checks: list[Check] = field(default_factory=list)
    data_groups: dict[str, object] = field(default_factory=dict)  # parsed files (EfCom, Dg1, BiometricGroup, ...)
    parse_errors: dict[str, str] = field(default_factory=dict)

    @property
    def mrz(self) -> Mrz | None:
        """The MRZ held in DG1 (parsed), or None."""
        dg1 = self.data_groups.get("DG1")
        return dg1.mrz if isinstance(dg1, Dg1) else None

    @property
    def warnings(self) -> tuple[MrzWarning, ...]:
        """Named warnings about what was read that no check fails on: DG1's issuing State or nationality code
        outside ICAO Doc 9303 Part 3's list (``unknown_state_code``). They never make ``valid`` False."""
        return self.mrz.warnings if self.mrz is not None else ()

    @property
    def face_image(self) -> bytes | None:
        """The first DG2 face image (JPEG or JPEG 2000 bytes), or None."""
        dg2 = self.data_groups.get("DG2")
        try:
            return dg2.face_image if dg2 is not None else None
        except LdsError:
            return None

    @property
    def finger_records(self) -> tuple[bytes, ...]:
        """The biometric data blocks of DG3 (ISO/IEC 19794-4 finger image records, opaque here), or ()."""
        dg3 = self.data_groups.get("DG3")
        return tuple(t.data for t in getattr(dg3, "templates", ()))

    @property
    def access_protocol(self) -> str:
        return self.access.protocol

    @property
    def valid(self) -> bool:
        return all(c.passed is not False for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.passed is False]

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    # --- what the SOD says (Part 10 §4.6.2, Part 11 §5.1) ---------------------------------------------
    def _sod(self) -> Sod | None:
        """The parsed EF.SOD when it was read and is well formed (not necessarily authentic), else None."""
        return parse_sod_or_none(self.files.get("EF.SOD"))

    @property
    def sod_data_groups(self) -> tuple[str, ...]:
        """The data groups the SOD holds a hash for, as ``("DG1", "DG2", ...)`` in ascending order; an empty
        tuple when there is no usable SOD (not read, or malformed)."""
        sod = self._sod()
        return tuple(dg_name(n) for n in sorted(sod.lds.dg_hashes)) if sod is not None else ()

    def data_group_verified(self, name: str) -> bool | None:
        """Whether the data group ``name`` (``"DG2"``) read from the chip is the one the SOD hashes.

        True only when the file was read and its hash equals the SOD's; False when its hash differs, or when
        it was read but the SOD has no hash for it; None when it was not read (refused, absent, or not asked
        for) or there is no usable SOD. Does not judge the SOD's signature: combine it with the
        ``passive_authentication`` check."""
        sod = self._sod()
        data = self.files.get(name)
        if sod is None or data is None or not name.startswith("DG") or not name[2:].isdigit():
            return None
        expected = sod.lds.dg_hashes.get(int(name[2:]))
        return expected is not None and sod.lds.digest(data) == expected

    def _listed_but_unread(self, name: str) -> bool:
        return name in self.sod_data_groups and name not in self.files

    @property
    def chip_authentication_offered(self) -> bool | None:
        """Does the document offer Chip Authentication (Part 11 §6.2)?

        True when DG14 was read and holds a Chip Authentication public key; False when DG14 was read and
        holds none, or when DG14 is neither listed in the SOD nor read; None (unknown) when the SOD lists
        DG14 but it could not be read (a clone hiding it), or DG14 was read but does not parse."""
        dg14 = self.files.get("DG14")
        if dg14 is None:
            return None if self._listed_but_unread("DG14") else False
        try:
            return bool(SecurityInfos.parse_dg14(dg14).chip_authentication_public_keys)
        except SecurityInfoError:
            return None

    @property
    def active_authentication_offered(self) -> bool | None:
        """Does the document offer Active Authentication (Part 11 §6.1)?

        True when DG15 was read; False when DG15 is neither listed in the SOD nor read; None (unknown) when
        the SOD lists DG15 but it could not be read (a clone hiding it)."""
        if "DG15" in self.files:
            return True
        return None if self._listed_but_unread("DG15") else False

    def to_dict(self) -> dict:
        pa = self.passive_authentication
        return {
            "valid": self.valid,
            "access": self.access.to_dict(),
            "pace_fallback_reason": self.pace_fallback_reason,
            "files": {k: len(v) for k, v in self.files.items()},
            "unreadable": dict(self.unreadable),
            "sod_data_groups": list(self.sod_data_groups),
            "chip_authentication": self.chip_authentication.to_dict() if self.chip_authentication else None,
            "active_authentication": self.active_authentication.to_dict() if self.active_authentication else None,
            "terminal_authentication": (self.terminal_authentication.to_dict()
                                        if self.terminal_authentication is not None else None),
            "passive_authentication": pa.to_dict() if hasattr(pa, "to_dict") else None,
            "mrz": self.mrz.to_dict() if self.mrz else None,
            "warnings": [w.to_dict() for w in self.warnings],
            "face_image": _image_summary(self.face_image),
            "parse_errors": dict(self.parse_errors),
            "checks": [c.to_dict() for c in self.checks],
            "failures": [c.to_dict() for c in self.failures],
            "apdu_count": self.apdu_count,
        }

    def save(self, directory: str | Path) -> list[Path]:
        """Write every file read as ``EF_COM.bin``, ``DG1.bin``, ... (the input of ``chip verify``). They hold
        the holder's data and photo in clear: the files are 0600 and a directory created here 0700."""
        import os

        out = Path(directory)
        if not out.exists():
            out.mkdir(parents=True, mode=0o700)
            os.chmod(out, 0o700)
        written = []
        for name, content in self.files.items():
            path = out / file_name_on_disk(name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(content)
            written.append(path)
        return written


def _image_summary(image: bytes | None) -> dict | None:
    if image is None:
        return None
    from emrtd._dg2 import image_format

    return {"format": image_format(image), "bytes": len(image)}
