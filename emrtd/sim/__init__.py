"""Simulated documents and chips: the test issuer with its fault injection, the virtual chip, the
in-process transport to it and vsmartcard's card side (vpcd), so a virtual chip reads through pcscd.

For tests, benches, the demo and ``smartborder chip`` / ``gate run --sim``. Nothing a deployed gate,
kiosk or back office imports may import this package, ``emrtd`` itself included (an import-linter
contract in pyproject.toml); everything here builds on the runtime library, never the other way.

    >>> from emrtd.sim import issue_document, trust_for_issued_document   # doctest: +SKIP
    >>> doc = issue_document(mrz, photo, faults=["clone_aa"])             # doctest: +SKIP
    >>> emrtd.read_document(InProcessTransport(doc.chip()), doc.access_key,
    ...                     trust=trust_for_issued_document(doc))         # doctest: +SKIP
"""

from emrtd.sim._chip import InProcessTransport, VirtualChip, make_atr
from emrtd.sim._dg2_full import full_face_block, full_profile_dg2
from emrtd.sim._eac import EacPki, issue_cv_certificate, minimal_iris_record
from emrtd.sim._issuer import (
    FAULTS,
    PORTRAIT_SIZE,
    IssuedDocument,
    IssuerError,
    IssuerPki,
    background_photo,
    encode_face_jp2,
    issue_document,
    sample_dg2,
    trust_for_issued_document,
)
from emrtd.sim._vpcd import VPCD_PORT, VpcdCard, VpcdError

__all__ = [
    "VirtualChip", "InProcessTransport", "make_atr",
    "FAULTS", "PORTRAIT_SIZE", "IssuedDocument", "IssuerError", "IssuerPki", "issue_document",
    "trust_for_issued_document", "encode_face_jp2", "sample_dg2", "background_photo",
    "VPCD_PORT", "VpcdCard", "VpcdError", "full_face_block", "full_profile_dg2",
    "EacPki", "issue_cv_certificate", "minimal_iris_record",
]  # fmt: skip
