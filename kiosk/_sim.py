"""The simulated kiosk hardware: a virtual passport on a simulated reader, its MRZ on the page
scanner, a camera playing photos of the same person, a fingerprint scanner playing FVC images.

Development data comes from ``../shared/data`` (or ``$SMARTBORDER_SHARED_DATA``); it is never
copied into the repository.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import emrtd
from devices import FixedMrzSource, ImageFingerprintScanner, ImageSequenceCamera, SimulatedReader
from enrollment import check_digit

__all__ = ["SimWorld", "SimDataMissing", "build_sim", "shared_data_dir", "td3_mrz"]

REPO = Path(__file__).resolve().parent.parent
#: an LFW identity several of whose photos pass the enrolment quality gate once framed closer
DEFAULT_IDENTITY = "Juan_Pablo_Montoya"


class SimDataMissing(FileNotFoundError):
    """The development data (../shared/data) needed by the simulator is not there."""


def shared_data_dir() -> Path:
    return Path(os.environ.get("SMARTBORDER_SHARED_DATA", REPO.parent / "shared" / "data"))


def _field(text: str, n: int) -> str:
    return (text.upper().replace(" ", "<").replace("-", "<") + "<" * n)[:n]


def td3_mrz(surname: str, given: str, number: str, nationality: str, dob: dt.date, sex: str, expiry: dt.date,
            issuing_state: str = "VNM", optional: str = "") -> str:
    """A TD3 MRZ with correct check digits (ICAO Doc 9303 Part 4 §4.2.2)."""
    l1 = _field("P<" + issuing_state + _field(surname, 39).split("<<")[0] + "<<" + given.replace(" ", "<"), 44)
    num, d, e, opt = _field(number, 9), dob.strftime("%y%m%d"), expiry.strftime("%y%m%d"), _field(optional, 14)
    body = num + check_digit(num) + nationality + d + check_digit(d) + sex + e + check_digit(e) + opt + check_digit(opt)
    l2 = body + check_digit(body[0:10] + body[13:20] + body[21:43])
    return l1 + l2


@dataclass
class SimWorld:
    reader: SimulatedReader
    mrz_source: FixedMrzSource
    camera: ImageSequenceCamera
    scanner: ImageFingerprintScanner
    document: emrtd.IssuedDocument
    trust: object
    identity: str

    def present_document(self) -> None:
        self.mrz_source.place(self.document.mrz)
        self.reader.present(self.document)

    def close(self) -> None:
        self.camera.close()
        self.reader.close()


def _trust(doc: emrtd.IssuedDocument):
    """The verifier's trust store for the test issuer (CSCA + CRL), when emrtd provides one."""
    fn = getattr(emrtd, "trust_for_issued_document", None)
    if fn is None:
        try:
            from emrtd._pa import trust_for_issued_document as fn  # not yet re-exported by emrtd
        except ImportError:
            return None
    return fn(doc)


def _identity(faces: Path, name: str | None) -> tuple[str, list[Path]]:
    root = faces / "lfw-dev"
    if name:
        imgs = sorted((root / name).glob("*.jpg"))
        if len(imgs) < 2:
            raise SimDataMissing(f"no photos for {name} in {root}")
        return name, imgs
    if (root / DEFAULT_IDENTITY).is_dir():
        return _identity(faces, DEFAULT_IDENTITY)
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        imgs = sorted(d.glob("*.jpg"))
        if len(imgs) >= 4:
            return d.name, imgs
    raise SimDataMissing(f"no identity with 4 photos in {root}")


def build_sim(data_dir: str | Path | None = None, *, identity: str | None = None, fps: float = 15.0,
              expired: bool = False, faults: tuple[str, ...] = (), finger_db: str = "fvc2000_DB2",
              slap: bool = True, frame_size: tuple[int, int] | None = (480, 480), number: str = "C1234567",
              place_document: bool = True, sway: float = 0.05, crop: float = 0.7, hold: int = 8) -> SimWorld:
    data = Path(data_dir) if data_dir else shared_data_dir()
    faces, fingers = data / "faces", data / "fingerprints" / finger_db
    if not faces.is_dir() or not fingers.is_dir():
        raise SimDataMissing(f"development data not found under {data} (set SMARTBORDER_SHARED_DATA)")
    name, photos = _identity(faces, identity)
    given, _, surname = name.replace("_", " ").rpartition(" ")
    today = dt.date.today()
    expiry = today - dt.timedelta(days=30) if expired else today.replace(year=today.year + 8)
    mrz = td3_mrz(surname or name, given or "X", number, "VNM", dt.date(1985, 3, 14), "M", expiry)
    doc = emrtd.issue_document(mrz, photos[0], faults=faults)
    reader = SimulatedReader()
    mrz_source = FixedMrzSource()
    world = SimWorld(reader, mrz_source, ImageSequenceCamera(photos[1:], fps=fps, size=frame_size, sway=sway, crop=crop, hold=hold),
                     ImageFingerprintScanner(sorted(fingers.glob("*.tif")), dpi=500, slap=slap),
                     doc, _trust(doc), name)
    if place_document:
        world.present_document()
    return world
