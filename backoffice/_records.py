"""Exceptions, events and enrolments: idempotent ingestion, the review queue, decisions.

Personal data (document data, images, templates) goes to the privacy vault, encrypted per data
subject; the tables keep only references, reason codes, scores and workflow state. A data
subject is identified by a keyed hash of (issuing state, document number), so exceptions and
enrolments of one passport share a subject without the number being stored in clear.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, text

import reasons
from backoffice._errors import Conflict, Forbidden, Invalid, NotFound, PayloadTooLarge
from backoffice._idempotency import IdempotentResult, run_idempotent
from backoffice._migration_liveness import EXCEPTION_LIVENESS_FIELDS
from backoffice._store import dumps, new_id, now_iso
from backoffice.schemas import DocumentData, EventCreate, EventPublic, ExceptionCreate, ExceptionPublic
from watchlist import normalize_document_number

if TYPE_CHECKING:
    from backoffice._auth import Principal
    from backoffice._context import Context

__all__ = ["Records", "image_media_type"]

#: event fields added after the first release (nullable columns; a body without them fingerprints as before)
_LATER_EVENT_FIELDS = ("trust_store_version", "terminal_authentication", "eac_code", "dg3_error", "fingerprint_source",
                       "liveness_path")

_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"),
          (b"\x00\x00\x00\x0cjP  ", "image/jp2"), (b"\xffO\xffQ", "image/jp2"))


def image_media_type(data: bytes) -> str | None:
    for magic, media in _MAGIC:
        if data.startswith(magic):
            return media
    return None


class Records:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.privacy = ctx.privacy
        self._secret = ctx.config.secret_key.encode()
        from backoffice._enrolments import Enrolments

        self.enrolments = Enrolments(ctx, self)

    # -- helpers ----------------------------------------------------------------------------
    def subject_id(self, issuing_state: str, document_number: str) -> str:
        key = f"{issuing_state.strip().upper()}:{normalize_document_number(document_number)}"
        return "subj_" + hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()[:32]

    def _image(self, b64: str | None, what: str) -> bytes | None:
        if not b64:
            return None
        try:
            data = base64.b64decode("".join(b64.split()), validate=True)
        except (binascii.Error, ValueError) as e:
            raise Invalid(f"{what} is not valid base64") from e
        if len(data) > self.ctx.config.max_image_bytes:
            raise PayloadTooLarge(f"{what} is larger than {self.ctx.config.max_image_bytes} bytes")
        if image_media_type(data) is None:
            raise Invalid(f"{what} is not a JPEG, PNG or JPEG 2000 image")
        return data

    # -- exceptions -------------------------------------------------------------------------
    def create_exception(self, device: Principal, body: ExceptionCreate, key: str | None) -> IdempotentResult:
        live = self._image(body.live_image, "live_image")
        chip = self._image(body.chip_image, "chip_image")

        def create(db) -> tuple[int, dict]:
            exc_id = new_id("exc")
            if body.document is not None:
                subject = self.subject_id(body.document.issuing_state, body.document.document_number)
            else:
                subject = "subj_anon_" + exc_id
            personal = {"document": body.document.model_dump(mode="json") if body.document else None,
                        "watchlist_matches": [m.model_dump() for m in body.watchlist_matches],
                        "message": body.message, "transaction_id": body.transaction_id}
            purpose = "border_exception_review"
            refs = {
                "personal_ref": self.privacy.seal(subject, "exception_record", json.dumps(personal).encode(),
                                                  actor=device.actor, role=device.role, purpose=purpose, record=exc_id),
                "live_image_ref": self.privacy.seal(subject, "live_image", live, actor=device.actor, role=device.role,
                                                    purpose=purpose, record=exc_id) if live else None,
                "chip_image_ref": self.privacy.seal(subject, "chip_image", chip, actor=device.actor, role=device.role,
                                                    purpose=purpose, record=exc_id) if chip else None,
            }
            row = {"id": exc_id, "device_id": device.id,
                   "occurred_at": body.occurred_at.isoformat(), "received_at": now_iso(),
                   "direction": body.direction, "reason_codes": dumps([r.value for r in body.reason_codes]),
                   "scores": dumps(body.scores), "subject_id": subject, **refs, "status": "open",
                   **{k: getattr(body, k) for k in EXCEPTION_LIVENESS_FIELDS}}
            db.insert("exceptions", row)
            self.ctx.metrics.ingested.labels("exception").inc()
            return 201, _exception_public(row)

        # a body without the later (liveness) fields fingerprints as it did before they existed: a retry across an
        # upgrade replays, never "key reused"
        unset = {k for k in EXCEPTION_LIVENESS_FIELDS if getattr(body, k) is None} or None
        fingerprint = body.model_dump(mode="json", exclude=unset)
        result = run_idempotent(self.store, device.actor, key, ["exception", fingerprint], create, ExceptionPublic)
        if result.replayed:
            self.ctx.metrics.replayed.labels("exception").inc()
        return result

    def count_open(self) -> int:
        return self.store.one(text("SELECT COUNT(*) AS n FROM exceptions WHERE status = 'open'"))["n"]

    def list_exceptions(self, statuses: list[str], offset: int, limit: int) -> tuple[list[dict], int]:
        with self.store.read() as db:
            total = db.scalar(_in_statuses("SELECT COUNT(*) FROM exceptions WHERE status IN :statuses"),
                              {"statuses": list(statuses)})
            rows = db.all(_in_statuses("SELECT * FROM exceptions WHERE status IN :statuses "
                                       "ORDER BY received_at, id LIMIT :limit OFFSET :offset"),
                          {"statuses": list(statuses), "limit": limit, "offset": offset})
        return [_exception_public(r) for r in rows], total

    # -- the guards' queue: severity first, then the longest wait ------------------------------
    def queue_order(self, statuses: list[str]) -> list[dict]:
        """Every exception in ``statuses`` in the order a guard takes them: the severity of the worst reason
        (``reasons.severity``: watchlist hit 0, suspected fraud 1, identity doubt 2, other 3), then the
        longest wait (``waiting_since``: the earlier of the device's and the server's time, so a device clock
        running ahead cannot jump the queue), then arrival. No personal data is read."""
        rows = self.store.query(_in_statuses("SELECT * FROM exceptions WHERE status IN :statuses"),
                                {"statuses": list(statuses)})
        out = []
        for row in rows:
            e = _exception_public(row)
            e["severity"] = min((reasons.severity(code) for code in e["reason_codes"]), default=3)
            e["waiting_since"] = _waiting_since(e["occurred_at"], e["received_at"])
            e["subject_id"] = row["subject_id"]
            e["_refs"] = (row["personal_ref"], row["live_image_ref"])
            out.append(e)
        out.sort(key=lambda e: (e["severity"], e["waiting_since"], e["received_at"], e["id"]))
        return out

    def severity(self, exc_id: str) -> int:
        """The severity of an exception's worst reason (``reasons.severity``; no personal data read)."""
        row = self.store.one(text("SELECT reason_codes FROM exceptions WHERE id = :id"), {"id": exc_id})
        if row is None:
            raise NotFound(f"no exception {exc_id!r}")
        return min((reasons.severity(code) for code in json.loads(row["reason_codes"])), default=3)

    def next_in_queue(self, statuses: list[str], after: str | None = None) -> str | None:
        """The case to open after ``after``: the one following it in queue order, else (it was the last, or
        it left the queue: decided) the first other than it; None when no other case waits."""
        ids = [e["id"] for e in self.queue_order(statuses)]
        if after in ids:
            i = ids.index(after)
            ids = ids[i + 1:] + ids[:i]
        return ids[0] if ids else None

    def queue_version(self, statuses: list[str]) -> tuple[int, str]:
        """How many cases wait in ``statuses`` and a short digest of which (it changes when one arrives,
        leaves or changes status): what the queue page polls to know it must reload."""
        rows = self.store.query(_in_statuses("SELECT id, status FROM exceptions WHERE status IN :statuses ORDER BY id"),
                                {"statuses": list(statuses)})
        h = hashlib.sha256()
        for r in rows:
            h.update(f"{r['id']}:{r['status']};".encode())
        return len(rows), h.hexdigest()[:16]

    def queue_view(self, user: Principal, statuses: list[str], limit: int,
                   purpose: str = "border_exception_review") -> tuple[list[dict], int, dict[str, bytes]]:
        """The first ``limit`` cases in queue order with the personal data a queue row shows (name, document
        number, nationality) and the live capture (for its thumbnail): ``(rows, total, live images by id)``.

        The reads go through the vault like the review's, under one ledger entry per traveller shown
        (``read:queue``, with the subject id, so a subject access request lists queue views too, and in
        ``details`` the page view's id and the exception), written before anything is decrypted, rather than
        one per item read: privacy officers see who looked at which cases, and a self-refreshing queue (it
        reloads only when the waiting set changes) does not flood the ledger. An item that cannot be opened
        (purged, erased) reads as absent."""
        ordered = self.queue_order(statuses)
        shown = ordered[:limit]
        from backoffice._privacy import _basis

        gateway = self.privacy
        items: dict[str, tuple[Any, Any]] = {}
        with self.store.tx():
            view = new_id("qv")  # an empty queue shows no personal data: nothing to ledger
            for e in shown:
                gateway.ledger.append(user.actor, user.role, "read:queue", e["id"], purpose, _basis(purpose),
                                      subject_id=e["subject_id"], details={"view": view})
            for e in shown:
                personal_ref, live_ref = e["_refs"]
                items[e["id"]] = (gateway.retention.get(personal_ref) if personal_ref else None,
                                  gateway.retention.get(live_ref) if live_ref else None)
        lives: dict[str, bytes] = {}
        for e in ordered:
            e.pop("_refs", None)
        for e in shown:
            personal_item, live_item = items[e["id"]]
            raw = self._open_quietly(personal_item)
            personal = json.loads(raw) if raw else {}
            doc = personal.get("document") or {}
            e["document"] = {k: doc.get(k) for k in ("surname", "given_names", "name_hanzi", "document_number",
                                                     "issuing_state", "nationality")} if doc else None
            live = self._open_quietly(live_item)
            if live is not None:
                lives[e["id"]] = live
        return shown, len(ordered), lives

    def _open_quietly(self, item: Any) -> bytes | None:
        """Decrypt one retention item for a view already ledgered as a whole (``queue_view``); None if it
        is unavailable (purged, erased, unreadable)."""
        if item is None or item.payload is None:
            return None
        import privacy

        try:
            return self.privacy.vault.open(item.subject_id, item.category, item.record_id, item.payload)
        except privacy.PrivacyError:
            return None

    def live_image_registered(self, exc_id: str) -> bool:
        """Whether the exception is still waiting and its live capture still held (not purged or erased):
        a queue thumbnail made under a ledgered queue view may be served from memory only then."""
        row = self.store.one(text("SELECT status, live_image_ref FROM exceptions WHERE id = :id"), {"id": exc_id})
        return bool(row and row["status"] in ("open", "referred") and row["live_image_ref"]
                    and self.privacy.retention.get(row["live_image_ref"]) is not None)

    def _exception_row(self, exc_id: str) -> dict:
        row = self.store.one(text("SELECT * FROM exceptions WHERE id = :id"), {"id": exc_id})
        if row is None:
            raise NotFound(f"no exception {exc_id!r}")
        return row

    def exception_detail(self, exc_id: str, user: Principal, purpose: str = "border_exception_review") -> dict:
        row = self._exception_row(exc_id)
        personal: dict[str, Any] = {"document": None, "watchlist_matches": [], "message": ""}
        if row["personal_ref"]:
            raw = self.privacy.open(row["personal_ref"], actor=user.actor, role=user.role, purpose=purpose,
                                    record=exc_id)
            if raw is not None:
                personal = json.loads(raw)
        else:
            self.privacy.access(actor=user.actor, role=user.role, action="read", record=exc_id, purpose=purpose,
                                subject_id=row["subject_id"])
        return {**_exception_public(row), "document": personal.get("document"),
                "watchlist_matches": personal.get("watchlist_matches") or [],
                "message": personal.get("message") or "", "notes": row["notes"]}

    def exception_image(self, exc_id: str, which: str, user: Principal,
                        purpose: str = "border_exception_review") -> tuple[bytes, str]:
        row = self._exception_row(exc_id)
        ref = row.get(f"{which}_image_ref")
        if not ref:
            raise NotFound(f"exception {exc_id} has no {which} image")
        data = self.privacy.open_or_explain(ref, actor=user.actor, role=user.role, purpose=purpose, record=exc_id)
        if data is None:
            raise NotFound(f"the {which} image of {exc_id} was purged")
        return data, image_media_type(data) or "application/octet-stream"

    def decide(self, exc_id: str, user: Principal, decision: str, notes: str) -> dict:
        with self.store.tx() as db:
            row = db.first(text("SELECT status, subject_id FROM exceptions WHERE id = :id"), {"id": exc_id})
            if row is None:
                raise NotFound(f"no exception {exc_id!r}")
            status = row["status"]
            if status == "resolved":
                raise Conflict(f"exception {exc_id} is already resolved")
            if status == "referred" and user.role != "supervisor":
                raise Forbidden("a referred exception is decided by a supervisor")
            new_status = "referred" if decision == "refer" else "resolved"
            if decision == "refer" and status == "referred":
                raise Conflict(f"exception {exc_id} is already referred")
            # only from the status seen: a guard deciding at the same moment in another worker has changed it
            # (PostgreSQL re-checks the WHERE after that worker's commit), and this decision is then refused
            changed = db.execute(text("UPDATE exceptions SET status = :status, decision = :decision, notes = :notes, "
                                      "decided_by = :by, decided_at = :at WHERE id = :id AND status = :seen"),
                                 {"status": new_status, "decision": decision, "notes": notes, "by": user.id,
                                  "at": now_iso(), "id": exc_id, "seen": status}).rowcount
            if changed != 1:
                raise Conflict(f"exception {exc_id} was decided by someone else meanwhile")
        self.privacy.access(actor=user.actor, role=user.role, action=f"decide:{decision}", record=exc_id,
                            purpose="border_exception_review", subject_id=row["subject_id"])
        if new_status == "resolved":
            self.privacy.resolved(row["subject_id"], exc_id)
        return _exception_public(self._exception_row(exc_id))

    # -- events -----------------------------------------------------------------------------
    def create_event(self, device: Principal, body: EventCreate, key: str | None) -> IdempotentResult:
        def create(db) -> tuple[int, dict]:
            row = {"id": new_id("evt"), "device_id": device.id, "occurred_at": body.occurred_at.isoformat(),
                   "received_at": now_iso(), "kind": body.kind, "outcome": body.outcome,
                   "reason_codes": dumps([r.value for r in body.reason_codes]), "duration_ms": body.duration_ms,
                   **{k: getattr(body, k) for k in _LATER_EVENT_FIELDS}}
            db.insert("events", row)
            self.ctx.metrics.ingested.labels("event").inc()
            return 201, {**row, "reason_codes": json.loads(row["reason_codes"])}

        # a body without the later fields fingerprints as it did before they existed (retries across an upgrade
        # replay, never "key reused")
        unset = {k for k in _LATER_EVENT_FIELDS if getattr(body, k) is None} or None
        result = run_idempotent(self.store, device.actor, key, ["event", body.model_dump(mode="json", exclude=unset)],
                                create, EventPublic)
        if result.replayed:
            self.ctx.metrics.replayed.labels("event").inc()
        return result

    def list_events(self, device_id: str | None, offset: int, limit: int) -> list[dict]:
        where, params = ("WHERE device_id = :device", {"device": device_id}) if device_id else ("", {})
        rows = self.store.query(text(f"SELECT * FROM events {where} "  # noqa: S608
                                     "ORDER BY received_at DESC, id LIMIT :limit OFFSET :offset"),
                                {**params, "limit": limit, "offset": offset})
        for r in rows:
            r["reason_codes"] = json.loads(r["reason_codes"])
        return rows

    # -- subjects (privacy officer) -----------------------------------------------------------
    def subject_of(self, doc: DocumentData | Any) -> str:
        return self.subject_id(doc.issuing_state, doc.document_number)

    def subject_records(self, subject: str) -> dict:
        with self.store.read() as db:
            exc = [r["id"] for r in db.all(text("SELECT id FROM exceptions WHERE subject_id = :s "
                                                "ORDER BY received_at, id"), {"s": subject})]
            enr = [r["id"] for r in db.all(text("SELECT id FROM enrolments WHERE subject_id = :s "
                                                "ORDER BY received_at, id"), {"s": subject})]
        return {"exceptions": exc, "enrolments": enr}



def _in_statuses(sql: str):
    """``sql`` with ``:statuses`` as an IN list (one bound parameter per status)."""
    return text(sql).bindparams(bindparam("statuses", expanding=True))


def _waiting_since(occurred_at: str, received_at: str) -> str:
    """The earlier of two ISO instants, as UTC ISO text (comparable as strings)."""
    import datetime as dt

    def utc(text: str) -> dt.datetime:
        t = dt.datetime.fromisoformat(text)
        return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)

    try:
        return min(utc(occurred_at), utc(received_at)).isoformat()
    except ValueError:
        return received_at


def _exception_public(row: dict) -> dict:
    return {"id": row["id"], "device_id": row["device_id"], "occurred_at": row["occurred_at"],
            "received_at": row["received_at"], "direction": row["direction"],
            "reason_codes": json.loads(row["reason_codes"]), "scores": json.loads(row["scores"]),
            "status": row.get("status") or "open", "decision": row.get("decision"),
            "decided_by": row.get("decided_by"), "decided_at": row.get("decided_at"),
            "has_live_image": bool(row.get("live_image_ref")), "has_chip_image": bool(row.get("chip_image_ref")),
            **{k: row.get(k) for k in EXCEPTION_LIVENESS_FIELDS}}
