"""Watchlist storage: versioned entries, the change feed, CSV import, server-side matching.

Every create, update and delete appends one row to ``watchlist_changes``; its autoincrement
``version`` is the watchlist version. A gate asks for ``changes?since=N`` and applies the
deltas to its local :class:`watchlist.WatchlistIndex`, so it keeps matching while offline.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading

from backoffice._errors import Conflict, Invalid, NotFound
from backoffice._store import Store, dumps, new_id, now_iso
from watchlist import (
    DocumentEntry,
    Match,
    PersonEntry,
    PersonQuery,
    WatchlistError,
    WatchlistIndex,
)

__all__ = ["PERSON_COLUMNS", "DOCUMENT_COLUMNS", "WatchlistService", "entry_from_data"]

PERSON_COLUMNS = ("id", "name", "aliases", "name_hanzi", "name_pinyin", "date_of_birth", "nationality", "reason")
DOCUMENT_COLUMNS = ("id", "document_number", "issuing_state", "document_type", "reason")
_ENTRY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_STATE = re.compile(r"^[A-Z]{3}$|^D$")
#: what a name never holds (the API's rule, backoffice.schemas._CONTROL): C0, DEL, C1, bidi overrides, separators
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
MAX_IMPORT_ROWS = 2_000_000
IMPORT_BATCH = 2000
LIST_ACCEPTED_UP_TO = 1000


def entry_from_data(entry_id: str, kind: str, data: dict) -> PersonEntry | DocumentEntry:
    """Build (and so validate) the domain entry; raises :class:`watchlist.WatchlistError`."""
    if kind == "document":
        state = (data.get("issuing_state") or "").strip().upper() or None
        if state and not _STATE.match(state):
            raise WatchlistError(f"issuing_state must be an ICAO 3-letter code, not {state!r}")
        return DocumentEntry(entry_id, data.get("document_number") or "", state,
                             data.get("document_type") or None, data.get("reason") or "stolen")
    if kind == "person":
        nat = (data.get("nationality") or "").strip().upper() or None
        if nat and not _STATE.match(nat):
            raise WatchlistError(f"nationality must be an ICAO 3-letter code, not {nat!r}")
        names = tuple(n for n in [data.get("name") or "", *(data.get("aliases") or [])] if n.strip())
        return PersonEntry(entry_id, names, data.get("name_hanzi") or None, data.get("name_pinyin") or None,
                           data.get("date_of_birth") or None, nat, data.get("reason") or "")
    raise WatchlistError(f"unknown watchlist kind {kind!r}")


def _clean(kind: str, data: dict) -> dict:
    keys = PERSON_COLUMNS if kind == "person" else DOCUMENT_COLUMNS
    out = {k: data.get(k) for k in keys if k != "id" and data.get(k) not in (None, "", [])}
    if kind == "document" and "document_number" in out:
        out["document_number"] = entry_from_data("x", kind, out).document_number
    for k in ("issuing_state", "nationality"):
        if k in out:
            out[k] = out[k].strip().upper()
    return out


class WatchlistService:
    def __init__(self, store: Store, *, threshold: float, dob_window_days: int, page_limit: int) -> None:
        self.store = store
        self.threshold = threshold
        self.dob_window_days = dob_window_days
        self.page_limit = page_limit
        self._index: WatchlistIndex | None = None
        self._build_lock = threading.Lock()

    # -- reads ------------------------------------------------------------------------------
    def version(self) -> int:
        row = self.store.one("SELECT MAX(version) AS v FROM watchlist_changes")
        return int(row["v"] or 0)

    def get(self, entry_id: str) -> dict:
        row = self.store.one("SELECT * FROM watchlist_entries WHERE id = ? AND deleted = 0", (entry_id,))
        if row is None:
            raise NotFound(f"no watchlist entry {entry_id!r}")
        return _public(row)

    def list(self, kind: str | None = None, offset: int = 0, limit: int = 100) -> tuple[list[dict], int]:
        where, params = "deleted = 0", []
        if kind:
            where += " AND kind = ?"
            params.append(kind)
        total = self.store.one(f"SELECT COUNT(*) AS n FROM watchlist_entries WHERE {where}", tuple(params))["n"]  # noqa: S608
        rows = self.store.query(f"SELECT * FROM watchlist_entries WHERE {where} ORDER BY updated_at DESC, id "  # noqa: S608
                                "LIMIT ? OFFSET ?", (*params, limit, offset))
        return [_public(r) for r in rows], total

    def changes(self, since: int, limit: int | None = None) -> dict:
        limit = min(limit or self.page_limit, self.page_limit)
        latest = self.version()
        rows = self.store.query("SELECT version, entry_id, kind, op, data, at FROM watchlist_changes "
                                "WHERE version > ? ORDER BY version LIMIT ?", (since, limit))
        changes = [{"version": r["version"], "id": r["entry_id"], "kind": r["kind"], "op": r["op"],
                    "at": r["at"], "data": json.loads(r["data"]) if r["data"] else None} for r in rows]
        if since > latest:  # the client is ahead of us (database restored?): it must start again from 0
            return {"since": since, "version": 0, "latest": latest, "more": latest > 0, "reset": True, "changes": []}
        upto = changes[-1]["version"] if changes else since
        return {"since": since, "version": upto, "latest": latest, "more": upto < latest, "reset": False,
                "changes": changes}

    # -- writes -----------------------------------------------------------------------------
    def _write(self, db, kind: str, data: dict, entry_id: str | None, actor: str) -> dict:
        entry_id = entry_id or new_id("wl")
        if not _ENTRY_ID.match(entry_id):
            raise WatchlistError(f"invalid entry id {entry_id!r}")
        clean = _clean(kind, data)
        entry = entry_from_data(entry_id, kind, clean)
        now = now_iso()
        existing = db.execute("SELECT kind, created_at FROM watchlist_entries WHERE id = ?", [entry_id]).fetchone()
        if existing and existing[0] != kind:
            raise Conflict(f"entry {entry_id!r} is a {existing[0]}, not a {kind}")
        cur = db.execute("INSERT INTO watchlist_changes (entry_id, kind, op, data, at, actor) VALUES (?, ?, 'upsert', ?, ?, ?)",
                         [entry_id, kind, dumps(clean), now, actor])
        version = cur.lastrowid
        db.execute("INSERT INTO watchlist_entries (id, kind, data, version, created_at, updated_at, deleted) "
                   "VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT(id) DO UPDATE SET data = excluded.data, "
                   "version = excluded.version, updated_at = excluded.updated_at, deleted = 0",
                   [entry_id, kind, dumps(clean), version, now, now])
        if self._index is not None:
            self._index.upsert(entry)
        return {"id": entry_id, "kind": kind, "version": version}

    def upsert(self, kind: str, data: dict, actor: str, entry_id: str | None = None) -> dict:
        try:
            with self.store.tx() as db:
                written = self._write(db, kind, data, entry_id, actor)
        except WatchlistError as e:
            raise Invalid(str(e)) from e
        return self.get(written["id"])

    def delete(self, entry_id: str, actor: str) -> int:
        with self.store.tx() as db:
            row = db.execute("SELECT kind FROM watchlist_entries WHERE id = ? AND deleted = 0", [entry_id]).fetchone()
            if row is None:
                raise NotFound(f"no watchlist entry {entry_id!r}")
            cur = db.execute("INSERT INTO watchlist_changes (entry_id, kind, op, data, at, actor) VALUES (?, ?, 'delete', NULL, ?, ?)",
                             [entry_id, row[0], now_iso(), actor])
            db.execute("UPDATE watchlist_entries SET deleted = 1, version = ?, updated_at = ? WHERE id = ?",
                       [cur.lastrowid, now_iso(), entry_id])
            if self._index is not None:
                self._index.remove(entry_id)
            return cur.lastrowid

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
                                    entry_from_data(data.get("id") or "x", kind, _clean(kind, data))
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
                bad = sorted(k for k, v in data.items() if _CONTROL.search(v))
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
                db.execute("INSERT INTO watchlist_imports (id, at, actor, kind, rows, accepted, rejected, report) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [result["id"], now_iso(), actor, kind, total,
                                                               len(accepted), rejected, dumps(report)])
        result["version"] = self.version()
        return result

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
                rows = list(db.query("SELECT id, kind, data FROM watchlist_entries WHERE deleted = 0"))
            ix = WatchlistIndex(threshold=self.threshold, dob_window_days=self.dob_window_days)
            for row in rows:
                self._apply(ix, row["id"], row["kind"], "upsert", row["data"])
            del rows
            with self.store.read() as db:
                for ch in db.query("SELECT entry_id, kind, op, data FROM watchlist_changes WHERE version > ? "
                                   "ORDER BY version", [v0]):
                    self._apply(ix, ch["entry_id"], ch["kind"], ch["op"], ch["data"])
                self._index = ix
            return ix

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
        ix = self.index()
        with self.store.read():
            out: list[Match] = []
            if document_number:
                out += ix.check_document(document_number, issuing_state)
            if query is not None:
                out += ix.check_person(query, limit=limit)
            return out, self.version()


def _public(row: dict) -> dict:
    data = json.loads(row["data"])
    return {"id": row["id"], "kind": row["kind"], "version": row["version"], "created_at": row["created_at"],
            "updated_at": row["updated_at"], **data}
