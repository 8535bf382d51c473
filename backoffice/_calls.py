"""Officer calls: a gate or kiosk asks for an officer; the guards see the call at the top of their pages (with
a sound), acknowledge it ("on my way") and close it.

Lifecycle: ``open`` -> ``acknowledged`` -> ``closed`` (a call may be closed straight from ``open``). A call
holds no personal data: the device (from its credential), its kind and location (from its device record),
the screen or state it was in, a reason code, and who acknowledged and closed it when. Raising a call is
idempotent on the device's ``Idempotency-Key`` (a retry after a lost answer does not call twice).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, text

from backoffice._errors import Conflict, NotFound
from backoffice._idempotency import IdempotentResult, run_idempotent
from backoffice._store import Store, new_id, now_iso
from backoffice.schemas import CallCreate, CallPublic

if TYPE_CHECKING:
    from backoffice._auth import Principal

__all__ = ["CallService", "STATUSES"]

STATUSES = ("open", "acknowledged", "closed")
#: ``status=active`` in the API: every call not closed yet (the guards' banner)
ACTIVE = ("open", "acknowledged")
_COLUMNS = ("id, device_id, device_kind, location, state, reason, status, created_at, acknowledged_by, "
            "acknowledged_at, closed_by, closed_at")
#: a new call; its ``seq`` (the order of calls raised in the same second) is the next one, taken in the INSERT
_INSERT = text(f"INSERT INTO officer_calls ({_COLUMNS}, seq) SELECT "  # noqa: S608
               + ", ".join(f":{c.strip()}" for c in _COLUMNS.split(","))
               + ", COALESCE(MAX(seq), 0) + 1 FROM officer_calls")


def _age_s(created_at: str, now: dt.datetime | None = None) -> int:
    try:
        created = dt.datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return 0
    return max(0, int(((now or dt.datetime.now(dt.UTC)) - created).total_seconds()))


class CallService:
    def __init__(self, store: Store, metrics: Any = None) -> None:
        self.store = store
        self.metrics = metrics

    # -- devices -------------------------------------------------------------------------------
    def raise_call(self, device: Principal, body: CallCreate, key: str | None) -> IdempotentResult:
        """Store a call from ``device`` (a gate or kiosk principal); replayed on the same Idempotency-Key."""
        kind = device.role.split(":", 1)[1] if device.role.startswith("device:") else device.role

        def create(db) -> tuple[int, dict]:
            found = db.first(text("SELECT location FROM devices WHERE id = :id"), {"id": device.id})
            row = {"id": new_id("call"), "device_id": device.id, "device_kind": kind,
                   "location": (found["location"] if found else "") or "", "state": body.state,
                   "reason": str(body.reason), "status": "open", "created_at": now_iso(), "acknowledged_by": None,
                   "acknowledged_at": None, "closed_by": None, "closed_at": None}
            db.execute(_INSERT, row)
            return 201, row

        return run_idempotent(self.store, device.actor, key, ["call", body.model_dump(mode="json")], create,
                              CallPublic)

    # -- guards --------------------------------------------------------------------------------
    def get(self, call_id: str) -> dict:
        row = self.store.one(text(f"SELECT {_COLUMNS} FROM officer_calls WHERE id = :id"),  # noqa: S608
                             {"id": call_id})
        if row is None:
            raise NotFound(f"no officer call {call_id!r}")
        return row

    def list(self, statuses: tuple[str, ...] | list[str], offset: int = 0, limit: int = 100) -> tuple[list[dict], int]:
        """Calls in ``statuses``, oldest first (the one waiting longest on top), and how many there are."""
        statuses = list(statuses)
        listed = text(f"SELECT {_COLUMNS} FROM officer_calls WHERE status IN :statuses "  # noqa: S608
                      "ORDER BY created_at, seq, id LIMIT :limit OFFSET :offset").bindparams(
            bindparam("statuses", expanding=True))
        counted = text("SELECT COUNT(*) AS n FROM officer_calls WHERE status IN :statuses").bindparams(
            bindparam("statuses", expanding=True))
        with self.store.read() as db:
            rows = db.all(listed, {"statuses": statuses, "limit": limit, "offset": offset})
            total = db.scalar(counted, {"statuses": statuses})
        return rows, total

    def open_calls(self, limit: int = 50) -> list[dict]:
        """The calls not closed yet, oldest first, each with ``age_s`` (for the guards' banner)."""
        now = dt.datetime.now(dt.UTC)
        rows, _ = self.list(ACTIVE, 0, limit)
        return [{**r, "age_s": _age_s(r["created_at"], now)} for r in rows]

    def _transition(self, call_id: str, who: Principal, to: str) -> dict:
        with self.store.tx() as db:
            row = db.first(text("SELECT status FROM officer_calls WHERE id = :id"), {"id": call_id})
            if row is None:
                raise NotFound(f"no officer call {call_id!r}")
            status = row["status"]
            if status == "closed":
                raise Conflict(f"officer call {call_id!r} is closed")
            # each UPDATE only from the status seen: another worker's transition in between refuses this one
            params = {"who": who.id, "at": now_iso(), "id": call_id, "seen": status}
            if to == "acknowledged":
                if status != "open":
                    raise Conflict(f"officer call {call_id!r} is already acknowledged")
                changed = db.execute(text("UPDATE officer_calls SET status = 'acknowledged', acknowledged_by = :who, "
                                          "acknowledged_at = :at WHERE id = :id AND status = :seen"), params).rowcount
            else:
                changed = db.execute(text("UPDATE officer_calls SET status = 'closed', closed_by = :who, closed_at = :at "
                                          "WHERE id = :id AND status = :seen"), params).rowcount
            if changed != 1:
                raise Conflict(f"officer call {call_id!r} was changed by someone else meanwhile")
        return self.get(call_id)

    def acknowledge(self, call_id: str, who: Principal) -> dict:
        """``open`` -> ``acknowledged`` (an officer is on the way). 404 unknown, 409 acknowledged or closed."""
        return self._transition(call_id, who, "acknowledged")

    def close(self, call_id: str, who: Principal) -> dict:
        """``open``/``acknowledged`` -> ``closed``. 404 unknown, 409 already closed."""
        return self._transition(call_id, who, "closed")
