"""Data-subject requests: access (export everything held, decrypted) and erasure (crypto-shred),
plus consent records. Each request is written to the ledger.

Subjects are known by a pseudonymous id; ``resolve_subject`` turns what the requester presents
(document number, issuing state) into that id — by default :meth:`Vault.pseudonym`.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

from privacy._errors import IntegrityError, PrivacyError, SubjectShreddedError
from privacy._ledger import Ledger
from privacy._retention import RetentionStore
from privacy._util import Clock, iso, system_clock
from privacy._vault import Vault
from storage import open_private, private_dir

__all__ = ["ACCESS_BASIS", "ERASURE_BASIS", "DataSubjectRequests", "media_type"]

ACCESS_BASIS = "right of access: Decree 13/2023 Art. 9(4), GDPR Art. 15"
ERASURE_BASIS = "right to erasure: Decree 13/2023 Art. 9(5) and 16, GDPR Art. 17"
CONSENT_BASIS = "consent: Decree 13/2023 Art. 11, GDPR Art. 7"


def media_type(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n" or data[:4] == b"\xffO\xffQ":
        return "image/jp2"
    return "application/octet-stream"


def _as_json(data: bytes):
    if data[:1] not in (b"{", b"["):
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


_EXT = {"image/jpeg": "jpg", "image/png": "png", "image/jp2": "jp2", "application/octet-stream": "bin"}


class DataSubjectRequests:
    """Access and erasure requests over a vault, the retention registry (which holds the sealed
    payloads) and the ledger. Pass the same ``lock`` as the others when they share a connection."""

    def __init__(self, vault: Vault, retention: RetentionStore, ledger: Ledger, *,
                 resolve_subject: Callable[[str, str], str] | None = None, clock: Clock | None = None,
                 lock: threading.RLock | None = None) -> None:
        self.vault, self.retention, self.ledger = vault, retention, ledger
        self.resolve_subject = resolve_subject or vault.pseudonym
        self.clock = clock or system_clock
        self.lock = lock or retention.lock

    # -- access ------------------------------------------------------------------------------
    def export_subject(self, document_number: str, *, issuing_state: str = "", actor: str = "system:privacy", role: str = "privacy_officer",
                       purpose: str = "subject_access_request", legal_basis: str = ACCESS_BASIS) -> dict:
        """Everything held about the holder of ``document_number``, decrypted, as JSON-able data.
        Images and other binary items come base64-encoded with their media type."""
        subject = self.resolve_subject(document_number, issuing_state)
        items = []
        for it in self.retention.items_of_subject(subject):
            entry: dict = {"ref": it.ref, "category": it.category, "record_id": it.record_id,
                           "created": iso(it.created), "due": iso(it.due) if it.due else None,
                           "held_by": it.held_by}
            if it.payload is None:
                entry["held_elsewhere"] = True
            else:
                try:
                    plain = self.vault.open(subject, it.category, it.record_id, it.payload)
                except (SubjectShreddedError, IntegrityError) as e:
                    entry["unreadable"] = type(e).__name__
                else:
                    parsed = _as_json(plain)
                    if parsed is not None:
                        entry["data"] = parsed
                    else:
                        entry["media_type"] = media_type(plain)
                        entry["data_base64"] = base64.b64encode(plain).decode()
            items.append(entry)
        access = [{"at": e.at, "actor": e.actor, "role": e.role, "action": e.action, "record": e.record,
                   "purpose": e.purpose, "legal_basis": e.legal_basis} for e in self.ledger.for_subject(subject)]
        out = {"format": "smartborder-subject-export/1", "subject_id": subject, "exported_at": iso(self.clock()),
               "items": items, "consents": self.consents(subject), "access_log": access}
        self.ledger.append(actor, role, "subject_export", subject, purpose, legal_basis, subject_id=subject,
                           details={"items": len(items)})
        return out

    def export_subject_to(self, document_number: str, out_dir: str | Path, **kwargs) -> Path:
        """Write the export as ``subject.json`` plus one file per image/binary item in ``out_dir``."""
        data = self.export_subject(document_number, **kwargs)
        out = Path(out_dir)
        private_dir(out)  # the subject's data in clear: 0700, files 0600
        for it in data["items"]:
            if "data_base64" in it:
                name = f"{it['ref']}.{_EXT.get(it['media_type'], 'bin')}"
                with open_private(out / name, "wb") as f:
                    f.write(base64.b64decode(it.pop("data_base64")))
                it["file"] = name
        path = out / "subject.json"
        with open_private(path, encoding="utf-8") as f:
            f.write(json.dumps(data, indent=2, ensure_ascii=False))
        return path

    # -- erasure -----------------------------------------------------------------------------
    def erase_subject(self, document_number: str, *, issuing_state: str = "", actor: str = "system:privacy", role: str = "privacy_officer",
                      purpose: str = "erasure_request", legal_basis: str = ERASURE_BASIS) -> dict:
        """Crypto-shred the subject's data key and drop its items and consents (ledgered)."""
        subject = self.resolve_subject(document_number, issuing_state)
        with self.retention.db.tx() as db:
            items = self.retention.remove_subject(subject)
            consents = db.execute(text("DELETE FROM consents WHERE subject_id = :s"), {"s": subject}).rowcount
            shredded = self.vault.shred(subject)
            self.ledger.append(actor, role, "subject_erasure", subject, purpose, legal_basis, subject_id=subject,
                               details={"items": items, "key_shredded": shredded})
        self.retention.flush()  # no page of the erased items or keys stays in a WAL file
        return {"subject_id": subject, "key_shredded": shredded, "items_removed": items, "consents_removed": consents}

    # -- consent -----------------------------------------------------------------------------
    def record_consent(self, document_number: str, purpose: str, granted: bool, *, text_version: str,
                       issuing_state: str = "",
                       actor: str, role: str = "kiosk", when: dt.datetime | None = None) -> dict:
        """Record that the subject gave (or withdrew) consent to ``purpose`` under a notice version."""
        if not purpose or not text_version:
            raise PrivacyError("a consent needs a purpose and the version of the notice shown")
        subject = self.resolve_subject(document_number, issuing_state)
        at = iso(when or self.clock())
        with self.retention.db.tx() as db:
            db.execute(text("INSERT INTO consents (subject_id, purpose, granted, at, text_version, actor) "
                            "VALUES (:s, :p, :g, :at, :v, :actor)"),
                       {"s": subject, "p": purpose, "g": int(bool(granted)), "at": at, "v": text_version, "actor": actor})
            self.ledger.append(actor, role, "consent_given" if granted else "consent_withdrawn", subject, purpose,
                               CONSENT_BASIS, when, subject_id=subject, details={"text_version": text_version})
        return {"subject_id": subject, "purpose": purpose, "granted": bool(granted), "at": at,
                "text_version": text_version}

    def consents(self, subject_id: str) -> list[dict]:
        rows = [tuple(r.values()) for r in self.retention.db.query(text(
            "SELECT purpose, granted, at, text_version, actor FROM consents WHERE subject_id = :s ORDER BY id"),
            {"s": subject_id})]
        return [{"purpose": r[0], "granted": bool(r[1]), "at": r[2], "text_version": r[3], "actor": r[4]}
                for r in rows]

    def has_consent(self, subject_id: str, purpose: str) -> bool:
        """The latest record for ``purpose`` is a grant."""
        row = self.retention.db.one(text("SELECT granted FROM consents WHERE subject_id = :s AND purpose = :p "
                                         "ORDER BY id DESC LIMIT 1"), {"s": subject_id, "p": purpose})
        return bool(row and row["granted"])
