"""Kiosk enrolments with a 1:N duplicate check before acceptance.

Face: the submitted template is an opaque float vector from the face engine; it is compared
with every enrolled template of *other* data subjects by Euclidean distance (dlib convention,
duplicate when distance <= threshold) or cosine similarity (duplicate when >= threshold).
Fingerprint: only when the configuration supplies a matcher callable
``matcher(probe: bytes, candidate: bytes) -> score`` (the fingerprint engine lives in
``biometrics.finger`` and is wired by the entry point); without it the check is face-only and
every response says ``fingerprint_check: "not_configured"``.

The gallery of decrypted templates is kept in memory (loaded from the vault on first use, each
load ledgered) and dropped when a subject is erased or data purged.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import TYPE_CHECKING

import numpy as np

from backoffice._errors import Conflict, Invalid, NotFound
from backoffice._idempotency import IdempotentResult, run_idempotent
from backoffice._store import dumps, new_id, now_iso

if TYPE_CHECKING:
    from backoffice._auth import Principal
    from backoffice._context import Context
    from backoffice.schemas import EnrolmentCreate

__all__ = ["Enrolments"]

log = logging.getLogger("backoffice")
PURPOSE = "enrolment"
DEDUPE_ACTOR = "system:duplicate_check"


class Enrolments:
    def __init__(self, ctx: Context, records) -> None:
        self.ctx = ctx
        self.records = records
        self.store = ctx.store
        self.privacy = ctx.privacy
        self._faces: dict[str, tuple[str, np.ndarray]] | None = None
        self._fingers: dict[str, tuple[str, list[dict]]] | None = None

    def invalidate(self) -> None:
        self._faces = None
        self._fingers = None

    def _load(self) -> None:
        if self._faces is not None:
            return
        faces: dict[str, tuple[str, np.ndarray]] = {}
        fingers: dict[str, tuple[str, list[dict]]] = {}
        rows = self.store.query("SELECT id, subject_id, face_ref, finger_ref FROM enrolments "
                                "WHERE status IN ('accepted', 'duplicate_suspected')")
        for r in rows:
            if r["face_ref"]:
                raw = self.privacy.open(r["face_ref"], actor=DEDUPE_ACTOR, role="system", purpose="enrolment_duplicate_check",
                                        record=r["id"])
                if raw is not None:
                    faces[r["id"]] = (r["subject_id"], np.frombuffer(raw, dtype="<f4").copy())
            if r["finger_ref"] and self.ctx.config.fingerprint_matcher is not None:
                raw = self.privacy.open(r["finger_ref"], actor=DEDUPE_ACTOR, role="system",
                                        purpose="enrolment_duplicate_check", record=r["id"])
                if raw is not None:
                    fingers[r["id"]] = (r["subject_id"], json.loads(raw))
        self._faces, self._fingers = faces, fingers

    def _face_duplicates(self, subject: str, probe: np.ndarray) -> list[dict]:
        cfg = self.ctx.config
        ids, vectors = [], []
        for enr_id, (subj, vec) in self._faces.items():
            if subj != subject and vec.shape == probe.shape:
                ids.append(enr_id)
                vectors.append(vec)
        if not ids:
            return []
        gallery = np.stack(vectors)
        if cfg.face_metric == "cosine":
            norms = np.linalg.norm(gallery, axis=1) * (np.linalg.norm(probe) or 1.0)
            scores = gallery @ probe / np.where(norms == 0, 1.0, norms)
            hits = np.nonzero(scores >= cfg.face_duplicate_threshold)[0]
        else:
            scores = np.linalg.norm(gallery - probe, axis=1)
            hits = np.nonzero(scores <= cfg.face_duplicate_threshold)[0]
        return [{"enrolment_id": ids[i], "modality": "face", "score": round(float(scores[i]), 4)} for i in hits]

    def _finger_duplicates(self, subject: str, probes: list[dict]) -> list[dict]:
        matcher = self.ctx.config.fingerprint_matcher
        out = []
        for enr_id, (subj, templates) in self._fingers.items():
            if subj == subject:
                continue
            best = None
            for p in probes:
                for c in templates:
                    if c["position"] != p["position"] or c["format"] != p["format"]:
                        continue
                    try:
                        score = float(matcher(base64.b64decode(p["data"]), base64.b64decode(c["data"])))
                    except Exception as e:  # noqa: BLE001 - a plug-in matcher must not break ingestion
                        log.warning("fingerprint matcher failed", extra={"event": "matcher_error",
                                                                        "error": type(e).__name__})
                        continue
                    best = score if best is None else max(best, score)
            if best is not None and best >= self.ctx.config.fingerprint_duplicate_threshold:
                out.append({"enrolment_id": enr_id, "modality": "fingerprint", "score": round(best, 4)})
        return out

    def verify_fingers(self, gate: Principal, number: str, state: str, probes: list) -> dict:
        """1:1 for a gate: the probes against the enrolled templates of that document's subject
        (same finger position; best score per probe, mean over probes). Templates stay here."""
        subject = self.records.subject_id(state, number)
        rows = self.store.query("SELECT id, finger_ref FROM enrolments WHERE subject_id = ? AND status = 'accepted' "
                                "ORDER BY received_at DESC", [subject])
        if not rows:
            return {"enrolled": False, "fingerprint_check": "not_enrolled"}
        matcher = self.ctx.config.fingerprint_matcher
        threshold = float(self.ctx.config.fingerprint_verify_threshold)
        enrolled = []
        for r in rows:
            if r["finger_ref"]:
                raw = self.privacy.open(r["finger_ref"], actor=gate.actor, role=gate.role,
                                        purpose="gate_fingerprint_verification", record=r["id"])
                if raw is not None:
                    enrolled += json.loads(raw)
        if not enrolled:
            return {"enrolled": True, "fingerprint_check": "no_templates"}
        if matcher is None:
            return {"enrolled": True, "fingerprint_check": "not_configured"}
        if not probes:
            return {"enrolled": True, "fingerprint_check": "no_probe", "threshold": threshold}
        per_probe = []
        for p in probes:
            try:
                data = base64.b64decode("".join(p.data.split()), validate=True)
            except (binascii.Error, ValueError) as e:
                raise Invalid(f"finger template {p.position} is not valid base64") from e
            candidates = [c for c in enrolled if c["format"] == p.format and (p.position == 0 or c["position"] in
                                                                               (p.position, 0))]
            scores = []
            for c in candidates:
                try:
                    scores.append(float(matcher(data, base64.b64decode(c["data"]))))
                except Exception as e:  # noqa: BLE001 - a bad probe scores nothing; it is not a server error
                    log.warning("fingerprint matcher failed", extra={"event": "matcher_error", "error": type(e).__name__})
            if scores:
                per_probe.append(max(scores))
        if not per_probe:
            return {"enrolled": True, "fingerprint_check": "done", "score": 0.0, "threshold": threshold,
                    "matched": False}
        score = float(np.mean(per_probe))
        return {"enrolled": True, "fingerprint_check": "done", "score": round(score, 4), "threshold": threshold,
                "matched": score >= threshold}

    def create(self, kiosk: Principal, body: EnrolmentCreate, key: str | None) -> IdempotentResult:
        if not body.consent.given:
            raise Invalid("consent was not given: an enrolment cannot be stored without it")
        with np.errstate(over="ignore"):
            probe = np.asarray(body.face_template, dtype="<f4")
        if not np.all(np.isfinite(probe)):
            raise Invalid("face_template has non-finite values")
        fingers = []
        for f in body.finger_templates:
            try:
                data = base64.b64decode("".join(f.data.split()), validate=True)
            except (binascii.Error, ValueError) as e:
                raise Invalid(f"finger template {f.position} is not valid base64") from e
            if not data:
                raise Invalid(f"finger template {f.position} is empty")
            fingers.append({"position": f.position, "format": f.format, "data": base64.b64encode(data).decode()})
        matcher = self.ctx.config.fingerprint_matcher

        def create(db) -> tuple[int, dict]:
            self._load()
            enr_id = new_id("enr")
            subject = self.records.subject_of(body.document)
            checks = ["face"]
            duplicates = self._face_duplicates(subject, probe)
            if matcher is not None and fingers:
                checks.append("fingerprint")
                duplicates += self._finger_duplicates(subject, fingers)
            finger_check = "done" if "fingerprint" in checks else ("no_templates" if not fingers else "not_configured")
            status = "duplicate_suspected" if duplicates else "accepted"
            personal = {"document": body.document.model_dump(mode="json"), "consent": body.consent.model_dump(mode="json"),
                        "captured_at": body.captured_at.isoformat()}
            seal = self.privacy.seal
            row = {
                "id": enr_id, "device_id": kiosk.id, "received_at": now_iso(), "subject_id": subject, "status": status,
                "checks": dumps({"checks": checks, "fingerprint_check": finger_check}),
                "duplicates": dumps(duplicates), "consent": dumps(body.consent.model_dump(mode="json")),
                "personal_ref": seal(subject, "enrolment_record", json.dumps(personal).encode(), actor=kiosk.actor,
                                     role=kiosk.role, purpose=PURPOSE, record=enr_id),
                "face_ref": seal(subject, "face_template", probe.tobytes(), actor=kiosk.actor, role=kiosk.role,
                                 purpose=PURPOSE, record=enr_id),
                "finger_ref": seal(subject, "finger_template", json.dumps(fingers).encode(), actor=kiosk.actor,
                                   role=kiosk.role, purpose=PURPOSE, record=enr_id) if fingers else None,
                "face_dim": int(probe.shape[0]),
            }
            db.table("enrolments").insert(row)
            self._faces[enr_id] = (subject, probe)
            if fingers and matcher is not None:
                self._fingers[enr_id] = (subject, fingers)
            self.ctx.metrics.ingested.labels("enrolment").inc()
            return 201, _public(row)

        fingerprint = body.model_dump(mode="json")
        try:
            result = run_idempotent(self.store, kiosk.actor, key, ["enrolment", fingerprint], create)
        except BaseException:
            self.invalidate()  # the transaction rolled back: the in-memory gallery may hold a ghost
            raise
        if result.replayed:
            self.ctx.metrics.replayed.labels("enrolment").inc()
        return result

    def list(self, status: str | None, offset: int, limit: int) -> list[dict]:
        where, params = ("WHERE status = ?", (status,)) if status else ("", ())
        rows = self.store.query(f"SELECT * FROM enrolments {where} ORDER BY received_at DESC, id "  # noqa: S608
                                "LIMIT ? OFFSET ?", (*params, limit, offset))
        return [_public(r) for r in rows]

    def get(self, enr_id: str) -> dict:
        row = self.store.one("SELECT * FROM enrolments WHERE id = ?", (enr_id,))
        if row is None:
            raise NotFound(f"no enrolment {enr_id!r}")
        return _public(row)

    def decide(self, enr_id: str, user: Principal, decision: str, notes: str) -> dict:
        with self.store.tx() as db:
            row = db.execute("SELECT status, subject_id FROM enrolments WHERE id = ?", [enr_id]).fetchone()
            if row is None:
                raise NotFound(f"no enrolment {enr_id!r}")
            if row[0] != "duplicate_suspected":
                raise Conflict(f"enrolment {enr_id} is {row[0]}; only duplicate_suspected ones are decided")
            status = "accepted" if decision == "accept" else "rejected"
            db.execute("UPDATE enrolments SET status = ?, decided_by = ?, decided_at = ?, notes = ? WHERE id = ?",
                       [status, user.id, now_iso(), notes, enr_id])
        self.privacy.access(actor=user.actor, role=user.role, action=f"enrolment:{decision}", record=enr_id,
                            purpose=PURPOSE, subject_id=row[1])
        if status == "rejected":
            self.invalidate()
        return self.get(enr_id)


def _public(row: dict) -> dict:
    checks = json.loads(row["checks"])
    return {"id": row["id"], "device_id": row["device_id"], "received_at": row["received_at"], "status": row["status"],
            "checks": checks["checks"], "fingerprint_check": checks["fingerprint_check"],
            "duplicates": json.loads(row["duplicates"]), "decided_by": row.get("decided_by"),
            "decided_at": row.get("decided_at")}
