"""Watchlist storage: versioned entries, the change feed, CSV import, server-side matching.

Every create, update, deactivation and delete appends one row to ``watchlist_changes`` (with the
actor and the reason); its autoincrement ``version`` is the watchlist version. A gate asks for
``changes?since=N`` and applies the deltas to its local :class:`watchlist.WatchlistIndex`, so it
keeps matching while offline. A deactivated entry is a ``delete`` in the feed (gates drop it) but
stays readable here with its ``{at, by, reason}``; editing it makes it active again.

Single-entry changes (:meth:`WatchlistService.change`) are ledgered (who, which entry, why) and, with
four-eyes configured, wait in ``watchlist_pending`` until a second supervisor approves them.

The server's matcher follows the database whoever writes it (another process: ``backoffice
import-watchlist`` while the server runs, another worker): before a match, the feed's latest version (one
``MAX`` over the primary key, on either backend) says whether another connection committed a change; if so,
the changes after the index's version are replayed.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from contextlib import contextmanager
from typing import Any

from sqlalchemy import bindparam, text

from backoffice._errors import Conflict, Forbidden, Invalid, NotFound
from backoffice._store import Store, dumps, new_id, now_iso
from backoffice._watchlist_entries import (
    CONTROL,
    DOCUMENT_COLUMNS,
    ENTRY_ID,
    PERSON_COLUMNS,
    clean,
    entry_from_data,
    pending_public,
    public,
    refuse_import_under_four_eyes,
)
from storage import lock
from watchlist import (
    Match,
    PersonQuery,
    WatchlistError,
    WatchlistIndex,
)

__all__ = ["DOCUMENT_COLUMNS", "PERSON_COLUMNS", "PURPOSE", "WatchlistService", "entry_from_data",
           "refuse_import_under_four_eyes"]

#: the purpose every watchlist change is ledgered under (backoffice._privacy.PURPOSES)
PURPOSE = "watchlist_screening"
#: single-entry changes (:meth:`WatchlistService.change`)
CHANGE_OPS = ("upsert", "edit", "deactivate", "delete")
MAX_IMPORT_ROWS = 2_000_000
IMPORT_BATCH = 2000
LIST_ACCEPTED_UP_TO = 1000
_INSERT_IMPORT = text("INSERT INTO watchlist_imports (id, at, actor, kind, rows, accepted, rejected, report) "
                      "VALUES (:id, :at, :actor, :kind, :rows, :accepted, :rejected, :report)")


def _ledger(privacy: Any, user: Any, action: str, record: str, details: dict) -> None:
    """One ledger entry (who: the user; what: ``record``, the entry or pending change; ``details``: the
    operation, kind, versions and ids), in the caller's transaction when one is open. The reason and the
    source are free text about a listed person: they stay in ``watchlist_changes`` (which an erasure can
    reach), never in the hash-chained ledger, which nothing may erase."""
    details = {k: v for k, v in details.items() if k not in ("reason", "source")}
    if privacy is None:
        return
    ledger = getattr(privacy, "ledger", None)
    if ledger is not None and hasattr(ledger, "append"):
        from backoffice._privacy import PURPOSES

        basis = next(p["legal_basis"] for p in PURPOSES if p["name"] == PURPOSE)
        ledger.append(user.actor, user.role, action, record, PURPOSE, basis,
                      details={k: v for k, v in details.items() if v not in (None, "")})
    else:  # a stand-in gateway (tests): its access() at least
        privacy.access(actor=user.actor, role=user.role, action=action, record=record, purpose=PURPOSE)


class WatchlistService:
    def __init__(self, store: Store, *, threshold: float, dob_window_days: int, page_limit: int) -> None:
        self.store = store
        self.threshold = threshold
        self.dob_window_days = dob_window_days
        self.page_limit = page_limit
        self._index: WatchlistIndex | None = None
        self._index_version = 0  # the last change version the index holds
        self._build_lock = threading.Lock()

    # -- reads ------------------------------------------------------------------------------
    def version(self) -> int:
        row = self.store.one(text("SELECT MAX(version) AS v FROM watchlist_changes"))
        return int(row["v"] or 0)

    def get(self, entry_id: str, *, inactive: bool = True) -> dict:
        """An entry, active or (``inactive``) deactivated; a deleted one is not found."""
        live = "(deleted = 0 OR deactivated IS NOT NULL)" if inactive else "deleted = 0"
        row = self.store.one(text(f"SELECT * FROM watchlist_entries WHERE id = :id AND {live}"),  # noqa: S608
                             {"id": entry_id})
        if row is None:
            raise NotFound(f"no watchlist entry {entry_id!r}")
        return public(row)

    def list(self, kind: str | None = None, offset: int = 0, limit: int = 100, *,
             inactive: bool = False) -> tuple[list[dict], int]:
        where, params = ("(deleted = 0 OR deactivated IS NOT NULL)" if inactive else "deleted = 0"), {}
        if kind:
            where += " AND kind = :kind"
            params["kind"] = kind
        with self.store.read() as db:
            total = db.scalar(text(f"SELECT COUNT(*) FROM watchlist_entries WHERE {where}"), params)  # noqa: S608
            rows = db.all(text(f"SELECT * FROM watchlist_entries WHERE {where} "  # noqa: S608
                               "ORDER BY updated_at DESC, id LIMIT :limit OFFSET :offset"),
                          {**params, "limit": limit, "offset": offset})
        return [public(r) for r in rows], total

    def changes(self, since: int, limit: int | None = None) -> dict:
        limit = min(limit or self.page_limit, self.page_limit)
        latest = self.version()
        rows = self.store.query(text("SELECT version, entry_id, kind, op, data, at FROM watchlist_changes "
                                     "WHERE version > :since ORDER BY version LIMIT :limit"),
                                {"since": since, "limit": limit})
        changes = [{"version": r["version"], "id": r["entry_id"], "kind": r["kind"], "op": r["op"],
                    "at": r["at"], "data": json.loads(r["data"]) if r["data"] else None} for r in rows]
        if since > latest:  # the client is ahead of us (database restored?): it must start again from 0
            return {"since": since, "version": 0, "latest": latest, "more": latest > 0, "reset": True, "changes": []}
        upto = changes[-1]["version"] if changes else since
        return {"since": since, "version": upto, "latest": latest, "more": upto < latest, "reset": False,
                "changes": changes}

    # -- writes -----------------------------------------------------------------------------
    def _write(self, db, kind: str, data: dict, entry_id: str | None, actor: str, reason: str | None = None) -> dict:
        entry_id = entry_id or new_id("wl")
        if not ENTRY_ID.match(entry_id):
            raise WatchlistError(f"invalid entry id {entry_id!r}")
        cleaned = clean(kind, data)
        entry = entry_from_data(entry_id, kind, cleaned)
        now = now_iso()
        existing = db.first(text("SELECT kind FROM watchlist_entries WHERE id = :id"), {"id": entry_id})
        if existing and existing["kind"] != kind:
            raise Conflict(f"entry {entry_id!r} is a {existing['kind']}, not a {kind}")
        values = {"id": entry_id, "kind": kind, "data": dumps(cleaned), "at": now, "actor": actor, "reason": reason}
        version = db.scalar(text("INSERT INTO watchlist_changes (entry_id, kind, op, data, at, actor, reason) "
                                 "VALUES (:id, :kind, 'upsert', :data, :at, :actor, :reason) RETURNING version"), values)
        db.execute(text("INSERT INTO watchlist_entries (id, kind, data, version, created_at, updated_at, deleted) "
                        "VALUES (:id, :kind, :data, :version, :at, :at, 0) ON CONFLICT(id) DO UPDATE SET "
                        "data = excluded.data, version = excluded.version, updated_at = excluded.updated_at, "
                        "deleted = 0, deactivated = NULL"), {**values, "version": version})
        self._indexed(version, lambda ix: ix.upsert(entry))
        return {"id": entry_id, "kind": kind, "version": version}

    @contextmanager
    def _writing(self):
        """A write transaction; if it fails, the index (to which this process applies its writes as it makes
        them, inside the transaction) is dropped and rebuilt from the database on the next match, so a
        rolled-back change never stays in force in memory."""
        try:
            with self.store.tx() as db:
                if db.dialect != "sqlite":  # SQLite's BEGIN IMMEDIATE already makes commit order = version order
                    # on PostgreSQL a sequence hands out versions that may commit out of order: a reader that saw
                    # version 11 before 10 committed would never replay 10; writers take turns instead
                    lock(db.connection, "watchlist")
                yield db
        except BaseException:
            self._index = None
            raise

    def _indexed(self, version: int, apply) -> None:
        """Apply this process's own write to the built index; the index's version moves on only when no
        other writer's change is missing in between (else the next refresh replays them)."""
        ix = self._index
        if ix is not None:
            apply(ix)
            if version == self._index_version + 1:
                self._index_version = version

    def upsert(self, kind: str, data: dict, actor: str, entry_id: str | None = None) -> dict:
        try:
            with self._writing() as db:
                written = self._write(db, kind, data, entry_id, actor)
        except WatchlistError as e:
            raise Invalid(str(e)) from e
        return self.get(written["id"])

    def delete(self, entry_id: str, actor: str, *, reason: str | None = None,
               deactivate: dict | None = None) -> int:
        """Delete an entry (active or deactivated); with ``deactivate`` (``{at, by, reason}``) deactivate an
        active one instead: both are a ``delete`` in the feed."""
        with self._writing() as db:
            live = "deleted = 0" if deactivate else "(deleted = 0 OR deactivated IS NOT NULL)"
            row = db.first(text(f"SELECT kind FROM watchlist_entries WHERE id = :id AND {live}"),  # noqa: S608
                           {"id": entry_id})
            if row is None:
                raise NotFound(f"no {'active ' if deactivate else ''}watchlist entry {entry_id!r}")
            version = db.scalar(text("INSERT INTO watchlist_changes (entry_id, kind, op, data, at, actor, reason) "
                                     "VALUES (:id, :kind, 'delete', NULL, :at, :actor, :reason) RETURNING version"),
                                {"id": entry_id, "kind": row["kind"], "at": now_iso(), "actor": actor, "reason": reason})
            db.execute(text("UPDATE watchlist_entries SET deleted = 1, version = :version, updated_at = :at, "
                            "deactivated = :deactivated WHERE id = :id"),
                       {"version": version, "at": now_iso(), "deactivated": dumps(deactivate) if deactivate else None,
                        "id": entry_id})
            self._indexed(version, lambda ix: ix.remove(entry_id))
            return version

    def import_csv(self, kind: str, text: str, actor: str, *, dry_run: bool = False) -> dict:
        """Import a CSV (header row required) and return a row-by-row report.

        Bad rows are reported with their errors and skipped; good rows are written in batches of
        ``IMPORT_BATCH`` rows, one transaction each, so a large import does not hold the database
        for minutes (give an ``id`` column to make a re-import idempotent). The report lists every
        rejected row, and the accepted ones too when the file has at most ``LIST_ACCEPTED_UP_TO`` rows.
        """
        if kind not in ("person", "document"):
            raise Invalid("kind must be person or document")
        columns = PERSON_COLUMNS if kind == "person" else DOCUMENT_COLUMNS
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        try:
            header = [h.strip() for h in (reader.fieldnames or [])]
        except csv.Error as e:
            raise Invalid(f"CSV is malformed: {e}") from e
        unknown = sorted(set(header) - set(columns))
        required = {"name"} if kind == "person" else {"document_number"}
        if not header or unknown or not (required <= set(header) or (kind == "person" and "name_hanzi" in header)):
            raise Invalid(f"CSV header must use the columns {', '.join(columns)}"
                          + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
        reader.fieldnames = header
        report: list[dict] = []
        accepted: list[dict] = []
        rejected = 0
        batch: list[tuple[int, dict]] = []

        def flush() -> None:
            try:
                with self.store.tx() as db:
                    for n, data in batch:
                        try:
                            with db.atomic():
                                if dry_run:
                                    entry_from_data(data.get("id") or "x", kind, clean(kind, data))
                                    entry_id = data.get("id") or None
                                else:
                                    entry_id = self._write(db, kind, data, data.get("id") or None, actor)["id"]
                            accepted.append({"row": n, "status": "accepted", "entry_id": entry_id, "errors": []})
                        except (WatchlistError, Conflict) as e:
                            report.append({"row": n, "status": "rejected", "errors": [str(e)]})
            except BaseException:
                self._index = None  # the batch rolled back: rebuild the matcher lazily
                raise
            batch.clear()

        n = 1
        try:
            for n, raw in enumerate(reader, start=2):
                if n - 1 > MAX_IMPORT_ROWS:
                    report.append({"row": n, "status": "rejected", "errors": [f"more than {MAX_IMPORT_ROWS} rows"]})
                    break
                if None in raw:
                    report.append({"row": n, "status": "rejected", "errors": ["too many fields"]})
                    continue
                data = {k: (v or "").strip() for k, v in raw.items()}
                bad = sorted(k for k, v in data.items() if CONTROL.search(v))
                if bad:  # the API refuses them in a name; a file is held to the same rule, row by row
                    report.append({"row": n, "status": "rejected",
                                   "errors": [f"control or bidirectional characters in {', '.join(bad)}"]})
                    continue
                if kind == "person":
                    data["aliases"] = [a.strip() for a in data.get("aliases", "").split(";") if a.strip()]
                batch.append((n, data))
                if len(batch) >= IMPORT_BATCH:
                    flush()
        except csv.Error as e:
            report.append({"row": n + 1, "status": "rejected", "errors": [f"CSV is malformed from here on: {e}"]})
        flush()
        rejected = len(report)
        total = rejected + len(accepted)
        listed = total <= LIST_ACCEPTED_UP_TO
        if listed:
            report = sorted(report + accepted, key=lambda r: r["row"])
        result = {"id": new_id("imp"), "kind": kind, "dry_run": dry_run, "rows": total, "accepted": len(accepted),
                  "rejected": rejected, "accepted_rows_listed": listed, "report": report}
        if not dry_run:
            with self.store.tx() as db:
                db.execute(_INSERT_IMPORT, {"id": result["id"], "at": now_iso(), "actor": actor, "kind": kind,
                                            "rows": total, "accepted": len(accepted), "rejected": rejected,
                                            "report": dumps(report)})
        result["version"] = self.version()
        return result

    # -- single-entry management (ledgered; four-eyes when configured) -----------------------
    def change(self, op: str, user: Any, privacy: Any, *, kind: str | None = None, entry_id: str | None = None,
               data: dict | None = None, reason: str = "", four_eyes: bool = False) -> dict:
        """``op``: ``upsert`` (create, or replace an entry of the same kind), ``edit`` (replace an existing
        entry, which makes a deactivated one active again), ``deactivate`` (with a reason) or ``delete``.

        Checked now (404, 409, 422), then applied and ledgered, or with ``four_eyes`` stored as a pending
        change for a second supervisor: ``{"status": "applied", "entry": ...}`` or
        ``{"status": "pending", "pending": ...}``."""
        if op not in CHANGE_OPS:
            raise Invalid(f"unknown watchlist change {op!r}")
        if op in ("upsert", "edit"):
            entry_id = entry_id or new_id("wl")
        kind = self._check_change(op, kind, entry_id, data)
        details = {"op": op, "kind": kind, "reason": reason or (data or {}).get("reason"),
                   "source": (data or {}).get("source")}
        if four_eyes:
            pid = new_id("wlp")
            with self.store.tx() as db:
                db.execute(text("INSERT INTO watchlist_pending (id, op, entry_id, kind, data, reason, requested_by, "
                                "requested_at) VALUES (:id, :op, :entry_id, :kind, :data, :reason, :by, :at)"),
                           {"id": pid, "op": op, "entry_id": entry_id, "kind": kind,
                            "data": dumps(clean(kind, data)) if data is not None else None, "reason": reason,
                            "by": user.actor, "at": now_iso()})
                _ledger(privacy, user, f"watchlist_request:{op}", entry_id, {**details, "pending": pid})
            return {"status": "pending", "pending": self.pending_get(pid)}
        with self._writing() as db:
            version = self._do(db, op, kind, entry_id, data, reason, user.actor)
            _ledger(privacy, user, f"watchlist_{op}", entry_id, {**details, "version": version})
        return {"status": "applied", "entry": self.get(entry_id) if op != "delete" else None}

    def _check_change(self, op: str, kind: str | None, entry_id: str | None, data: dict | None) -> str:
        row = self.store.one(text("SELECT kind, deleted, deactivated FROM watchlist_entries WHERE id = :id"),
                             {"id": entry_id})
        exists = row is not None and (row["deleted"] == 0 or (row["deactivated"] is not None and op != "deactivate"))
        if op != "upsert" and not exists:
            raise NotFound(f"no {'active ' if op == 'deactivate' else ''}watchlist entry {entry_id!r}")
        if row is not None and kind is not None and row["kind"] != kind and (exists or op == "upsert"):
            raise Conflict(f"entry {entry_id!r} is a {row['kind']}, not a {kind}")
        kind = kind or row["kind"]
        if data is not None:
            if not ENTRY_ID.match(entry_id or ""):
                raise Invalid(f"invalid entry id {entry_id!r}")
            try:
                entry_from_data(entry_id, kind, clean(kind, data))
            except WatchlistError as e:
                raise Invalid(str(e)) from e
        return kind

    def _do(self, db, op: str, kind: str, entry_id: str, data: dict | None, reason: str, actor: str) -> int:
        if op in ("upsert", "edit"):
            try:
                return self._write(db, kind, data or {}, entry_id, actor, reason or (data or {}).get("reason"))["version"]
            except WatchlistError as e:
                raise Invalid(str(e)) from e
        deactivate = {"at": now_iso(), "by": actor, "reason": reason} if op == "deactivate" else None
        return self.delete(entry_id, actor, reason=reason, deactivate=deactivate)

    def pending(self, status: str = "pending", limit: int = 100) -> list[dict]:
        rows = self.store.query(text("SELECT * FROM watchlist_pending WHERE status = :status "
                                     "ORDER BY requested_at, id LIMIT :limit"), {"status": status, "limit": limit})
        return [pending_public(r) for r in rows]

    def pending_get(self, pending_id: str) -> dict:
        row = self.store.one(text("SELECT * FROM watchlist_pending WHERE id = :id"), {"id": pending_id})
        if row is None:
            raise NotFound(f"no pending watchlist change {pending_id!r}")
        return pending_public(row)

    def decide(self, pending_id: str, approve: bool, user: Any, privacy: Any, reason: str = "") -> dict:
        """Approve (a second supervisor, never the one who asked) or reject (anyone may, the asker too:
        a withdrawal) a pending change; an approved change is applied as :meth:`change` would."""
        with self._writing() as db:
            row = db.first(text("SELECT op, entry_id, kind, data, reason, requested_by, status FROM watchlist_pending "
                                "WHERE id = :id"), {"id": pending_id})
            if row is None:
                raise NotFound(f"no pending watchlist change {pending_id!r}")
            op, entry_id, kind, data, asked_reason, requested_by, status = row.values()
            if status != "pending":
                raise Conflict(f"pending change {pending_id!r} is already {status}")
            if approve and requested_by == user.actor:
                raise Forbidden("four-eyes: a second supervisor must approve this change")
            details = {"op": op, "kind": kind, "reason": reason or asked_reason, "pending": pending_id,
                       "requested_by": requested_by}
            if approve:
                data_dict = json.loads(data) if data else None
                self._check_change(op, kind, entry_id, data_dict)
                details["version"] = self._do(db, op, kind, entry_id, data_dict, asked_reason, requested_by)
            db.execute(text("UPDATE watchlist_pending SET status = :status, decided_by = :by, decided_at = :at "
                            "WHERE id = :id"), {"status": "approved" if approve else "rejected", "by": user.actor,
                                                "at": now_iso(), "id": pending_id})
            _ledger(privacy, user, f"watchlist_{'approve' if approve else 'reject'}:{op}", entry_id, details)
        return self.pending_get(pending_id)

    def ledger_import(self, report: dict, user: Any, privacy: Any) -> None:
        """One ledger entry for a CSV import (the import's id; counts, no names)."""
        with self.store.tx():
            _ledger(privacy, user, "watchlist_import", report["id"], {
                "kind": report["kind"], "rows": str(report["rows"]), "accepted": str(report["accepted"]),
                "rejected": str(report["rejected"]), "version": str(report.get("version", ""))})

    def describe(self, matches: list[Match]) -> list[dict]:
        """Matches with what a guard needs beside the score: the listed name (Latin and Hanzi) or document
        number, why the entry is listed, its source; ``band`` is hit / near_miss / low."""
        ids = list({m.entry_id for m in matches})
        rows = {r["id"]: json.loads(r["data"]) for r in self.store.query(
            text("SELECT id, data FROM watchlist_entries WHERE id IN :ids").bindparams(bindparam("ids", expanding=True)),
            {"ids": ids})} if ids else {}
        out = []
        for m in matches:
            data = rows.get(m.entry_id, {})
            out.append({**m.to_dict(), "near_miss": m.band == "near_miss", "band": m.band,
                        "name": data.get("name") or data.get("document_number"),
                        "name_hanzi": data.get("name_hanzi"), "listed_reason": data.get("reason"),
                        "source": data.get("source"), "expires_on": data.get("expires_on")})
        return out

    # -- matching ---------------------------------------------------------------------------
    def index(self) -> WatchlistIndex:
        """The in-memory matcher, built on first use without holding the database lock for the
        build (a million entries take seconds): snapshot rows at version v0, build, then replay
        the changes made after v0 under the lock."""
        if self._index is not None:
            return self._index
        with self._build_lock:
            if self._index is not None:
                return self._index
            with self.store.read() as db:
                v0 = self.version()
                rows = db.all(text("SELECT id, kind, data FROM watchlist_entries WHERE deleted = 0"))
            ix = WatchlistIndex(threshold=self.threshold, dob_window_days=self.dob_window_days)
            for row in rows:
                self._apply(ix, row["id"], row["kind"], "upsert", row["data"])
            del rows
            with self.store.read() as db:
                self._index_version = self._replay(ix, db, v0)
                self._index = ix
            return ix

    def _replay(self, ix: WatchlistIndex, db, since: int) -> int:
        last = since
        for ch in db.execute(text("SELECT version, entry_id, kind, op, data FROM watchlist_changes "
                                  "WHERE version > :since ORDER BY version"), {"since": since}).mappings():
            self._apply(ix, ch["entry_id"], ch["kind"], ch["op"], ch["data"])
            last = ch["version"]
        return last

    def refresh(self) -> bool:
        """Bring the built index up to date with changes committed by another connection (another
        process, another worker, another app on the same file); one ``MAX(version)`` when nothing changed.
        True when changes were replayed (or the index dropped for a rebuild: the database went back)."""
        if self._index is None:
            return False
        with self._build_lock, self.store.read() as db:
            ix = self._index
            if ix is None:
                return False
            latest = self.version()
            if latest == self._index_version:
                return False
            if latest < self._index_version:  # restored from a backup: build again
                self._index = None
                return True
            self._index_version = self._replay(ix, db, self._index_version)
            return True

    @staticmethod
    def _apply(ix: WatchlistIndex, entry_id: str, kind: str, op: str, data: str | None) -> None:
        if op == "delete":
            ix.remove(entry_id)
            return
        try:
            ix.upsert(entry_from_data(entry_id, kind, json.loads(data)))
        except WatchlistError:  # stored rows were validated on write
            return

    def warm(self) -> threading.Thread:
        """Build the matcher in the background (the server calls this at start-up)."""
        thread = threading.Thread(target=self.index, name="watchlist-index", daemon=True)
        thread.start()
        return thread

    def check(self, query: PersonQuery | None, document_number: str | None, issuing_state: str | None,
              limit: int = 10) -> tuple[list[Match], int]:
        self.refresh()
        ix = self.index()
        with self.store.read():
            out: list[Match] = []
            if document_number:
                out += ix.check_document(document_number, issuing_state)
            if query is not None:
                out += ix.check_person(query, limit=limit)
            return out, self.version()
