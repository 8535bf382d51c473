"""Kiosk enrolments with a 1:N duplicate check before acceptance, and the gates' 1:1 fingerprint check.

Templates are a closed set (``backoffice._matching``): a face template is the face engine's template
bytes, fingerprint templates are ISO/IEC 19794-2 records; anything else is refused (422
``template-refused``). The duplicate check compares the full face template (both parts) and every
fingerprint with the engines' own comparisons and calibrated thresholds
(``BackofficeConfig.face_matching`` / ``fingerprint_matching``), against the enrolments of *other* data
subjects, through the 1:N galleries of ``backoffice._galleries``. Without a configured matcher no
enrolment is accepted (503): acceptance needs positive evidence that the check ran.

The galleries hold decrypted templates in memory (loaded from the vault on first use, each load
ledgered) and are dropped when a subject is erased, an enrolment rejected or data purged, here or in
another process or worker: every such change bumps ``galleries_generation`` in its transaction
(:func:`bump_generation`), and a check first compares it with the one the galleries were loaded at. Within a
process one lock serialises duplicate check and insertion; across processes and workers the insert takes the
database's enrolment lock (``storage.lock``) and goes ahead only while the generation is still the one the
check ran at, else the check runs again (up to :data:`_CHECK_ATTEMPTS` times), so two enrolments cannot miss
each other. The check itself holds no database lock: the gates' 1:1 checks and the rest of the API go on.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import text

from backoffice._errors import Conflict, DuplicateCheckUnavailable, Invalid, NotFound
from backoffice._galleries import FaceGallery, FingerGallery
from backoffice._idempotency import IdempotentResult, check_key, run_idempotent
from backoffice._matching import FINGER_FORMAT, FaceMatching, FingerprintMatching, TemplateRefused
from backoffice._store import dumps, new_id, now_iso
from backoffice.schemas import EnrolmentPublic
from storage import StorageError, lock

if TYPE_CHECKING:
    from backoffice._auth import Principal
    from backoffice._context import Context
    from backoffice.schemas import EnrolmentCreate

__all__ = ["Enrolments", "GalleryError", "bump_generation"]

log = logging.getLogger("backoffice")
PURPOSE = "enrolment"
DEDUPE_ACTOR = "system:duplicate_check"
_LEGACY_FACE_BYTES = 128 * 4  # records made before templates were stored whole: the dlib part's floats


class GalleryError(RuntimeError):
    """A stored template cannot be read back (a corrupt or unknown record in the vault)."""


_BUMP = text("UPDATE galleries_generation SET generation = generation + 1 WHERE id = 1 RETURNING generation")
_GENERATION = text("SELECT generation FROM galleries_generation WHERE id = 1")


#: duplicate checks one enrolment may run when other workers keep changing the galleries under it; the last runs
#: under the enrolment lock (it cannot be overtaken, at the cost of holding the lock through one 1:N search)
_CHECK_ATTEMPTS = 5


class _GalleriesMoved(Exception):
    """The galleries' generation moved between a duplicate check and its insert: check again."""


def bump_generation(db) -> int:
    """In the caller's transaction: the galleries of every process are out of date from its commit on (a template
    added, or taken out of the duplicate check); the new generation."""
    generation = db.scalar(_BUMP)
    if generation is None:  # the row the migration inserted is gone: no process could notice a change
        raise StorageError("galleries_generation has no row: the database was altered outside the migrations")
    return int(generation)


def _b64(text: str, what: str) -> bytes:
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise TemplateRefused(f"{what} is not valid base64", reason="not_base64") from e
    if not data:
        raise TemplateRefused(f"{what} is empty", reason="empty_template")
    return data


def _dims(template: Any) -> int:
    return int(len(template.vector) + (0 if template.second is None else len(template.second)))


class Enrolments:
    def __init__(self, ctx: Context, records) -> None:
        self.ctx = ctx
        self.records = records
        self.store = ctx.store
        self.privacy = ctx.privacy
        self._lock = threading.RLock()
        self._faces: FaceGallery | None = None
        self._fingers: FingerGallery | None = None
        self._generation: int | None = None  # galleries_generation when the galleries were loaded

    @property
    def face_matching(self) -> FaceMatching:
        matching = self.ctx.config.face_matching
        if matching is None:
            raise DuplicateCheckUnavailable("no face matcher is configured: enrolments cannot be checked for "
                                            "duplicates, so none is accepted")
        return matching

    @property
    def fingerprint_matching(self) -> FingerprintMatching:
        matching = self.ctx.config.fingerprint_matching
        if matching is None:
            raise DuplicateCheckUnavailable("no fingerprint matcher is configured: enrolments with fingerprints "
                                            "cannot be checked for duplicates, so none is accepted")
        return matching

    def invalidate(self) -> None:
        with self._lock:
            self._faces = None
            self._fingers = None

    def _load(self) -> tuple[FaceGallery, FingerGallery | None]:
        """The galleries, reloaded when ``galleries_generation`` moved since they were loaded (another process,
        e.g. the ``smartborder privacy`` CLI erasing or purging, or another worker enrolling). The generation is
        read before the rows: a change in between makes the next check reload again, never miss it."""
        generation = int(self.store.one(_GENERATION)["generation"])
        if generation != self._generation:
            self.invalidate()
        if self._faces is not None:
            return self._faces, self._fingers
        face_matching, finger_matching = self.face_matching, self.ctx.config.fingerprint_matching
        faces = FaceGallery(face_matching)
        fingers = FingerGallery(finger_matching) if finger_matching is not None else None
        rows = self.store.query(text("SELECT id, subject_id, face_ref, finger_ref FROM enrolments "
                                     "WHERE status IN ('accepted', 'duplicate_suspected') ORDER BY received_at, id"))
        for r in rows:
            if r["face_ref"]:
                raw = self.privacy.open(r["face_ref"], actor=DEDUPE_ACTOR, role="system", purpose="enrolment_duplicate_check",
                                        record=r["id"])
                if raw is not None:
                    faces.add(r["id"], r["subject_id"], self._stored_face(r["id"], raw))
            if r["finger_ref"] and fingers is not None:
                raw = self.privacy.open(r["finger_ref"], actor=DEDUPE_ACTOR, role="system",
                                        purpose="enrolment_duplicate_check", record=r["id"])
                if raw is not None:
                    fingers.add(r["id"], r["subject_id"], self._stored_fingers(r["id"], raw))
        self._faces, self._fingers, self._generation = faces, fingers, generation
        return faces, fingers

    def _stored_face(self, enr_id: str, raw: bytes) -> Any:
        if len(raw) == _LEGACY_FACE_BYTES and raw[:4] != b"SBFT":  # a dlib vector as earlier versions stored it
            from biometrics.face import FaceTemplate

            return FaceTemplate(vector=np.frombuffer(raw, dtype="<f4"))
        try:
            return self.face_matching.parse(raw)
        except TemplateRefused as e:
            raise GalleryError(f"the stored face template of {enr_id} cannot be read: {e.detail}") from e

    def _stored_fingers(self, enr_id: str, raw: bytes) -> list[tuple[int, bytes]]:
        out = []
        for f in json.loads(raw):
            if f["format"] != FINGER_FORMAT:  # a test double's record of an earlier version: never comparable
                log.warning("stored finger template skipped", extra={"event": "legacy_template", "record": enr_id})
                continue
            data = base64.b64decode(f["data"])
            try:
                self.fingerprint_matching.parse(data, f["format"])
            except TemplateRefused as e:
                raise GalleryError(f"a stored finger template of {enr_id} cannot be read: {e.detail}") from e
            out.append((int(f["position"]), data))
        return out

    def verify_fingers(self, gate: Principal, number: str, state: str, probes: list) -> dict:
        """1:1 for a gate: the probes against the enrolled templates of that document's subject (same
        finger position, or an unknown one; each probe's best score, fused by the engine's rule) with
        the engine's calibrated threshold. Templates stay here."""
        subject = self.records.subject_id(state, number)
        # the latest accepted enrolment only: templates of several enrolments are never pooled (a re-enrolment
        # is held for an officer, and once accepted it replaces the earlier one for the 1:1)
        rows = self.store.query(text("SELECT id, finger_ref FROM enrolments WHERE subject_id = :subject "
                                     "AND status = 'accepted' ORDER BY received_at DESC, id DESC LIMIT 1"),
                                {"subject": subject})
        if not rows:
            return {"enrolled": False, "fingerprint_check": "not_enrolled"}
        matching = self.ctx.config.fingerprint_matching
        # refuse a malformed probe before any enrolled template is opened
        parsed = [(p.position, self._parse_finger(matching, p.data, p.format, f"finger template {p.position}"))
                  for p in probes] if matching is not None else []
        enrolled = []
        for r in rows:
            if r["finger_ref"]:
                raw = self.privacy.open(r["finger_ref"], actor=gate.actor, role=gate.role,
                                        purpose="gate_fingerprint_verification", record=r["id"])
                if raw is None:  # tampered, its key missing or shredded: unknown, never "no fingerprints"
                    return {"enrolled": True, "fingerprint_check": "templates_unreadable"}
                enrolled += json.loads(raw)
        if not enrolled:
            return {"enrolled": True, "fingerprint_check": "no_templates"}
        if matching is None:
            return {"enrolled": True, "fingerprint_check": "not_configured"}
        answer = {"enrolled": True, "threshold": matching.verify_threshold, "threshold_name": matching.threshold_name}
        if not parsed:
            return {**answer, "fingerprint_check": "no_probe"}
        per_probe: list[float | None] = []
        for position, probe in parsed:
            matcher = matching.matcher(probe)
            scores = [matcher.match(self._enrolled_finger(matching, c)) for c in enrolled
                      if c["format"] == FINGER_FORMAT and (position == 0 or c["position"] in (position, 0))]
            per_probe.append(max(scores) if scores else None)  # None: no enrolled finger to compare it with
        score = matching.fuse(per_probe)
        return {**answer, "fingerprint_check": "done", "score": round(score, 4),
                "matched": score >= matching.verify_threshold}

    @staticmethod
    def _enrolled_finger(matching: FingerprintMatching, stored: dict) -> Any:
        try:
            return matching.parse(base64.b64decode(stored["data"]), stored["format"])
        except TemplateRefused as e:
            raise GalleryError(f"an enrolled finger template cannot be read: {e.detail}") from e

    @staticmethod
    def _parse_finger(matching: FingerprintMatching, text: str, fmt: str, what: str) -> Any:
        return matching.parse(_b64(text, what), fmt, what=what)

    def create(self, kiosk: Principal, body: EnrolmentCreate, key: str | None) -> IdempotentResult:
        if not body.consent.given:
            raise Invalid("consent was not given: an enrolment cannot be stored without it")
        face_matching = self.face_matching
        face_bytes = _b64(body.face_template, "face_template")
        probe = face_matching.parse(face_bytes)
        fingers, finger_probes = [], []
        if body.finger_templates:
            finger_matching = self.fingerprint_matching
            for f in body.finger_templates:
                what = f"finger template {f.position}"
                data = _b64(f.data, what)
                finger_probes.append((f.position, finger_matching.parse(data, f.format, what=what)))
                fingers.append({"position": f.position, "format": f.format, "data": base64.b64encode(data).decode()})
        subject = self.records.subject_of(body.document)
        key = check_key(key)  # before the search: a request without a usable key costs nothing
        with self._lock:  # the check and the insert as one step for this process's galleries
            for attempt in range(1, _CHECK_ATTEMPTS + 1):
                try:
                    result = self._check_and_insert(kiosk, body, key, subject, probe, finger_probes, fingers,
                                                    face_bytes, locked=attempt == _CHECK_ATTEMPTS)
                    break
                except _GalleriesMoved:
                    continue  # another worker enrolled, rejected or erased meanwhile: check again with its change
        if result.replayed:
            self.ctx.metrics.replayed.labels("enrolment").inc()
        return result

    def _check_and_insert(self, kiosk: Principal, body: EnrolmentCreate, key: str, subject: str, probe: Any,
                          finger_probes: list, fingers: list[dict], face_bytes: bytes, *,
                          locked: bool = False) -> IdempotentResult:
        """One duplicate check against the galleries at their generation, and the insert, which takes the
        enrolment lock and goes ahead only while the database's generation is still that one (else
        :class:`_GalleriesMoved`: the transaction rolls back and the caller checks again). So two workers
        enrolling the same face at once cannot miss each other: the second's insert waits for the first's
        commit, sees the generation moved, and its check is run again with the first's enrolment in it.
        ``locked`` (the last attempt, when other workers kept changing the galleries): the check itself runs under
        the lock, inside the insert's transaction, so it cannot be overtaken and the enrolment is decided."""
        found: dict[str, Any] = {}

        def check() -> None:
            faces, finger_gallery = self._load()
            # a document already enrolled: the new record waits for an officer (never pooled with the old)
            duplicates = [{"enrolment_id": r["id"], "modality": "document", "score": 1.0} for r in self.store.query(
                text("SELECT id FROM enrolments WHERE subject_id = :subject "
                     "AND status IN ('accepted', 'duplicate_suspected') ORDER BY received_at, id"),
                {"subject": subject})]
            duplicates += faces.duplicates(subject, probe)
            checks = ["face"]
            if fingers:
                checks.append("fingerprint")
                duplicates += finger_gallery.duplicates(subject, finger_probes)
            found.update(faces=faces, fingers=finger_gallery, loaded=self._generation, checks=checks,
                         duplicates=duplicates)

        if not locked:
            check()

        def insert(db) -> tuple[int, dict]:
            lock(db.connection, "enrolment duplicate check")
            if locked:
                check()  # under the lock: no other worker can enrol, reject or erase until this commits
            elif db.scalar(_GENERATION) != found["loaded"]:
                raise _GalleriesMoved()
            return self._insert(db, kiosk, body, subject, found["checks"], found["duplicates"], face_bytes,
                                _dims(probe), fingers, bumped)

        # an error here rolls the insert back, and the galleries have not changed
        bumped: list[int] = []
        result = run_idempotent(self.store, kiosk.actor, key, ["enrolment", body.model_dump(mode="json")], insert,
                                EnrolmentPublic)
        if not result.replayed:
            faces, finger_gallery = found["faces"], found["fingers"]
            try:
                faces.add(result.body["id"], subject, probe)
                if fingers:
                    finger_gallery.add(result.body["id"], subject,
                                       [(f["position"], base64.b64decode(f["data"])) for f in fingers])
            except BaseException:
                self._faces = self._fingers = None  # stored but not in the galleries: reload them next time
                raise
            # the galleries hold this enrolment now; anyone else's change in between: reload next time
            if self._generation is not None and bumped == [self._generation + 1]:
                self._generation = bumped[0]
        return result

    def _insert(self, db, kiosk: Principal, body: EnrolmentCreate, subject: str, checks: list[str],
                duplicates: list[dict], face_bytes: bytes, face_dims: int,
                fingers: list[dict], bumped: list[int]) -> tuple[int, dict]:
        enr_id = new_id("enr")
        status = "duplicate_suspected" if duplicates else "accepted"
        personal = {"document": body.document.model_dump(mode="json"), "consent": body.consent.model_dump(mode="json"),
                    "captured_at": body.captured_at.isoformat()}
        seal = self.privacy.seal
        row = {
            "id": enr_id, "device_id": kiosk.id, "received_at": now_iso(), "subject_id": subject, "status": status,
            "checks": dumps({"checks": checks, "fingerprint_check": "done" if fingers else "no_templates"}),
            "duplicates": dumps(duplicates), "consent": dumps(body.consent.model_dump(mode="json")),
            "personal_ref": seal(subject, "enrolment_record", json.dumps(personal).encode(), actor=kiosk.actor,
                                 role=kiosk.role, purpose=PURPOSE, record=enr_id),
            "face_ref": seal(subject, "face_template", face_bytes, actor=kiosk.actor, role=kiosk.role,
                             purpose=PURPOSE, record=enr_id),
            "finger_ref": seal(subject, "finger_template", json.dumps(fingers).encode(), actor=kiosk.actor,
                               role=kiosk.role, purpose=PURPOSE, record=enr_id) if fingers else None,
            "face_dim": face_dims,
        }
        db.insert("enrolments", row)
        bumped.append(bump_generation(db))
        self.ctx.metrics.ingested.labels("enrolment").inc()
        return 201, _public(row)

    def list(self, status: str | None, offset: int, limit: int) -> list[dict]:
        where, params = ("WHERE status = :status", {"status": status}) if status else ("", {})
        rows = self.store.query(text(f"SELECT * FROM enrolments {where} ORDER BY received_at DESC, id "  # noqa: S608
                                     "LIMIT :limit OFFSET :offset"), {**params, "limit": limit, "offset": offset})
        return [_public(r) for r in rows]

    def get(self, enr_id: str) -> dict:
        row = self.store.one(text("SELECT * FROM enrolments WHERE id = :id"), {"id": enr_id})
        if row is None:
            raise NotFound(f"no enrolment {enr_id!r}")
        return _public(row)

    def decide(self, enr_id: str, user: Principal, decision: str, notes: str) -> dict:
        with self.store.tx() as db:
            row = db.first(text("SELECT status, subject_id FROM enrolments WHERE id = :id"), {"id": enr_id})
            if row is None:
                raise NotFound(f"no enrolment {enr_id!r}")
            if row["status"] != "duplicate_suspected":
                raise Conflict(f"enrolment {enr_id} is {row['status']}; only duplicate_suspected ones are decided")
            status = "accepted" if decision == "accept" else "rejected"
            # only from duplicate_suspected: a supervisor deciding at the same moment in another worker wins, this one
            # gets 409 (PostgreSQL re-checks the WHERE after the other's commit)
            changed = db.execute(text("UPDATE enrolments SET status = :status, decided_by = :by, decided_at = :at, "
                                      "notes = :notes WHERE id = :id AND status = 'duplicate_suspected'"),
                                 {"status": status, "by": user.id, "at": now_iso(), "notes": notes, "id": enr_id}).rowcount
            if changed != 1:
                raise Conflict(f"enrolment {enr_id} was decided by someone else meanwhile")
            if status == "rejected":  # out of every process's duplicate check
                bump_generation(db)
        self.privacy.access(actor=user.actor, role=user.role, action=f"enrolment:{decision}", record=enr_id,
                            purpose=PURPOSE, subject_id=row["subject_id"])
        if status == "rejected":
            self.invalidate()
        return self.get(enr_id)


def _public(row: dict) -> dict:
    checks = json.loads(row["checks"])
    return {"id": row["id"], "device_id": row["device_id"], "received_at": row["received_at"], "status": row["status"],
            "checks": checks["checks"], "fingerprint_check": checks["fingerprint_check"],
            "duplicates": json.loads(row["duplicates"]), "decided_by": row.get("decided_by"),
            "decided_at": row.get("decided_at")}
