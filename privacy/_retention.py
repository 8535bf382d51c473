"""The retention registry and the purge job.

Callers register every item of personal data they hold (category, record, subject, anchor times,
optionally the sealed envelope itself as ``payload``). Each item's due time is computed from its
category's :class:`RetentionPolicy` and indexed, so the purge is a range scan.

The purge is batched, idempotent and resumable: a run records its cutoff; each batch deletes its
items and notes their ids in the same transaction, so a crash loses nothing and counts nothing
twice; the next :meth:`RetentionStore.purge` finishes an interrupted run with its original cutoff.
At the end the run's counts per category and a SHA-256 over the purged references (in item
order, the same digest a dry run gives) go into the run table and the ledger.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping

from sqlalchemy import bindparam, text

from privacy._db import Db, open_db
from privacy._errors import IntegrityError, PrivacyError, RetentionError, UnknownCategoryError
from privacy._ledger import Ledger
from privacy._policy import ANCHORS, DEFAULT_POLICIES, RetentionPolicy
from privacy._retention_report import CategoryReport, Item, PurgedItem, PurgeReport, _dt, _ts
from privacy._util import Clock, iso, system_clock, utc
from privacy._vault import Vault, envelope_key_id
from storage import ConstraintError, DatabaseConnection, session_lock

__all__ = ["PURGE_LOCK", "CategoryReport", "Item", "PurgeReport", "PurgedItem", "RetentionStore"]

_ITEM_COLS = ("id, ref, category, record_id, subject_id, created_at, ended_at, resolved_at, last_exit_at, "
              "period_end_at, held_by, due_at")
LEGAL_BASIS = "storage limitation: GDPR Art. 5(1)(e); Decree 13/2023 Art. 16"


_INSERT_COLS = ("ref", "category", "record_id", "subject_id", "created_at", "ended_at", "resolved_at", "last_exit_at",
                "period_end_at", "held_by", "due_at", "payload", "key_id")
_INSERT = text(f"INSERT INTO retention_items ({', '.join(_INSERT_COLS)}) "  # noqa: S608
               f"VALUES ({', '.join(':' + c for c in _INSERT_COLS)})")
#: the lock a purge holds from start to end (PostgreSQL: a second purge, in any worker, is refused by name)
PURGE_LOCK = "privacy.retention.purge"


class RetentionStore:
    """Registry of held items and their retention. ``ledger`` (optional) records each purge.

    ``vault``: the vault that sealed the payloads. With it the purge is crypto-shredding: each purged
    item's data key is destroyed in the batch that deletes the item, so a copy of the envelope in a
    backup, an old WAL frame or a free page opens to :class:`SubjectShreddedError`. A key still shared
    with an item that is not due (data sealed before keys were per item) is first taken off that item
    (re-sealed under a key of its own), so purging one item never leaves it readable.
    """

    def __init__(self, db: Db, *,
                 policies: Mapping[str, RetentionPolicy] | None = None, ledger: Ledger | None = None,
                 clock: Clock | None = None, lock: threading.RLock | None = None,
                 vault: Vault | None = None) -> None:
        self.db = open_db(db, lock=lock)
        self.vault = vault
        self._unshredded = 0
        self.policies = dict(DEFAULT_POLICIES if policies is None else policies)
        self.ledger = ledger
        self.clock = clock or system_clock
        self.lock = self.db.lock
        self._after_batch: Callable[[int], None] | None = None  # fault injection for crash tests

    def policy(self, category: str) -> RetentionPolicy:
        try:
            return self.policies[category]
        except KeyError as e:
            raise UnknownCategoryError(f"no retention policy for category {category!r}") from e

    def _due(self, category: str, anchors: Mapping[str, float | None], held_by: str | None) -> float | None:
        due = self.policy(category).due_at({a: _dt(anchors.get(a)) for a in ANCHORS}, held=held_by is not None)
        return _ts(due)

    # -- registration --------------------------------------------------------------------------
    def register(self, category: str, record_id: str, subject_id: str | None = None, *, ref: str | None = None,
                 created: dt.datetime | None = None, ended: dt.datetime | None = None,
                 resolved: dt.datetime | None = None, last_exit: dt.datetime | None = None,
                 period_end: dt.datetime | None = None, held_by: str | None = None,
                 payload: bytes | None = None) -> str:
        """Register one held item; returns its reference (``ref``, generated if not given)."""
        return self.register_many([dict(category=category, record_id=record_id, subject_id=subject_id, ref=ref,
                                        created=created, ended=ended, resolved=resolved, last_exit=last_exit,
                                        period_end=period_end, held_by=held_by, payload=payload)])[0]

    def register_many(self, items: Iterable[Mapping]) -> list[str]:
        now = self.clock()
        rows, refs = [], []
        for it in items:
            category, record_id = it["category"], it["record_id"]
            if not isinstance(record_id, str) or not record_id:
                raise RetentionError("an item needs a record_id")
            ref = it.get("ref") or "itm_" + uuid.uuid4().hex[:24]
            anchors = {a: _ts(it.get(a)) for a in ANCHORS}
            if anchors["created"] is None:
                anchors["created"] = _ts(now)
            held_by = it.get("held_by")
            payload = it.get("payload")
            key_id = None
            if payload is not None:
                try:
                    key_id = envelope_key_id(bytes(payload))
                except IntegrityError as e:
                    raise RetentionError(f"the payload of {category}/{record_id} is not a vault envelope: {e}") from e
            rows.append(dict(zip(_INSERT_COLS, (
                ref, category, record_id, it.get("subject_id"), anchors["created"], anchors["ended"],
                anchors["resolved"], anchors["last_exit"], anchors["period_end"], held_by,
                self._due(category, anchors, held_by), None if payload is None else bytes(payload), key_id),
                strict=True)))
            refs.append(ref)
        if not rows:
            return refs
        try:
            with self.db.tx() as db, db.atomic():  # a savepoint: a refused batch leaves the caller's transaction usable
                db.execute(_INSERT, rows)
        except ConstraintError as e:
            raise RetentionError(f"an item reference is already registered: {e}") from e
        return refs

    def _item(self, row: tuple, payload: bytes | None = None) -> Item:
        (_, ref, category, record_id, subject_id, created, ended, resolved, last_exit, period_end, held_by,
         due) = row
        return Item(ref, category, record_id, subject_id, _dt(created), _dt(ended), _dt(resolved), _dt(last_exit),
                    _dt(period_end), held_by, _dt(due), payload)

    def _fetch(self, sql: str, params: Mapping | None = None) -> list[tuple]:
        with self.db.read() as db:
            return [tuple(r) for r in db.execute(text(sql), params)]

    def get(self, ref: str) -> Item | None:
        rows = self._fetch(f"SELECT {_ITEM_COLS}, payload FROM retention_items WHERE ref = :ref", {"ref": ref})  # noqa: S608
        row = rows[0] if rows else None
        return None if row is None else self._item(row[:-1], None if row[-1] is None else bytes(row[-1]))

    def items_of_subject(self, subject_id: str) -> list[Item]:
        rows = self._fetch(f"SELECT {_ITEM_COLS}, payload FROM retention_items WHERE subject_id = :s "  # noqa: S608
                           "ORDER BY id", {"s": subject_id})
        return [self._item(r[:-1], None if r[-1] is None else bytes(r[-1])) for r in rows]

    def items_of_record(self, record_id: str) -> list[Item]:
        rows = self._fetch(f"SELECT {_ITEM_COLS} FROM retention_items WHERE record_id = :r ORDER BY id",  # noqa: S608
                           {"r": record_id})
        return [self._item(r) for r in rows]

    # -- anchor events -------------------------------------------------------------------------
    def _update(self, where: str, params: dict, column: str | None, when: dt.datetime | None,
                held: str | None = "keep") -> int:
        """Set an anchor (and/or the hold) on matching items and recompute their due times."""
        with self.db.tx() as db:
            rows = db.execute(text(f"SELECT {_ITEM_COLS} FROM retention_items WHERE {where} ORDER BY id"),  # noqa: S608
                              params).all()
            updates = []
            for r in rows:
                item = list(r)
                anchors = dict(zip(ANCHORS, item[5:10], strict=True))
                if column is not None:
                    anchors[column] = _ts(when or self.clock())
                held_by = item[10] if held == "keep" else held
                updates.append({**{f"{a}_at": v for a, v in anchors.items()}, "held_by": held_by,
                                "due_at": self._due(item[2], anchors, held_by), "id": item[0]})
            if updates:
                db.execute(text("UPDATE retention_items SET created_at = :created_at, ended_at = :ended_at, "
                                "resolved_at = :resolved_at, last_exit_at = :last_exit_at, period_end_at = "
                                ":period_end_at, held_by = :held_by, due_at = :due_at WHERE id = :id"), updates)
        return len(updates)

    def end(self, record_id: str, when: dt.datetime | None = None) -> int:
        """The transaction ``record_id`` ended (live captures not held by an exception fall due)."""
        return self._update("record_id = :r", {"r": record_id}, "ended", when)

    def resolve(self, record_id: str, when: dt.datetime | None = None) -> int:
        """The exception/hit ``record_id`` was resolved: its items and the items it holds start
        their post-resolution period."""
        return self._update("record_id = :r OR held_by = :r", {"r": record_id}, "resolved", when)

    def record_exit(self, subject_id: str, when: dt.datetime | None = None) -> int:
        """The subject exited: restarts the 3-year clock of its enrolment data."""
        return self._update("subject_id = :s", {"s": subject_id}, "last_exit", when)

    def hold(self, ref: str, by_record: str) -> int:
        """An exception holds this item until it is resolved."""
        return self._update("ref = :ref", {"ref": ref}, None, None, held=by_record)

    def release(self, ref: str) -> int:
        return self._update("ref = :ref", {"ref": ref}, None, None, held=None)

    def recompute(self) -> int:
        """Recompute every due time (after a policy change)."""
        return self._update("1 = 1", {}, None, None)

    def remove(self, refs: Iterable[str]) -> int:
        with self.db.tx() as db:
            return sum(db.execute(text("DELETE FROM retention_items WHERE ref = :ref"), {"ref": r}).rowcount
                       for r in refs)

    def remove_subject(self, subject_id: str) -> int:
        """Erasure: delete every item of the subject (payloads included)."""
        with self.db.tx() as db:
            return db.execute(text("DELETE FROM retention_items WHERE subject_id = :s"), {"s": subject_id}).rowcount

    # -- purge ---------------------------------------------------------------------------------
    def purge(self, now: dt.datetime | None = None, *, dry_run: bool = False, batch: int = 500,
              actor: str = "system:retention", role: str = "system",
              on_purge: Callable[[list[PurgedItem]], None] | None = None) -> PurgeReport:
        """Delete every item due at ``now`` (default: the clock), ``batch`` per transaction.

        If an earlier run was interrupted, this call finishes *that* run (with its own cutoff) and
        returns its report (``resumed=True``); call again for a new run. ``on_purge`` is called inside
        each batch's transaction with the items going, so callers drop their references atomically.
        """
        if batch < 1:
            raise RetentionError("batch must be at least 1")
        if dry_run:
            return self._dry_run(utc(now or self.clock()), actor, role)
        with session_lock(self.db.engine, PURGE_LOCK):  # PostgreSQL: a second purge is refused by name
            return self._purge(now, batch, actor, role, on_purge)

    def _purge(self, now: dt.datetime | None, batch: int, actor: str, role: str,
               on_purge: Callable[[list[PurgedItem]], None] | None) -> PurgeReport:
        with self.db.tx() as db:
            row = db.execute(text("SELECT run_id, cutoff FROM retention_runs WHERE status = 'running' AND dry_run = 0 "
                                  "ORDER BY started_at LIMIT 1")).first()
            if row is not None:
                run_id, cutoff, resumed = row[0], row[1], True
            else:
                run_id, cutoff, resumed = "purge_" + uuid.uuid4().hex[:20], _ts(now or self.clock()), False
                db.execute(text("INSERT INTO retention_runs (run_id, started_at, cutoff, dry_run, actor, role, status, "
                                "seq) VALUES (:run, :at, :cutoff, 0, :actor, :role, 'running', "
                                "(SELECT COALESCE(MAX(seq), 0) + 1 FROM retention_runs))"),
                           {"run": run_id, "at": iso(self.clock()), "cutoff": cutoff, "actor": actor, "role": role})
        shredded = rekeyed = 0
        self._unshredded = 0
        while True:
            more, n_keys, n_rekeyed = self._purge_batch(run_id, cutoff, batch, on_purge)
            shredded, rekeyed = shredded + n_keys, rekeyed + n_rekeyed
            if not more:
                break
        report = self._finish(run_id, resumed)
        report.keys_shredded, report.rekeyed, report.unshredded = shredded, rekeyed, self._unshredded
        before = self._ledger_cutoff(_dt(cutoff))
        if before is not None:
            report.ledger_pruned = self.ledger.prune(before, actor=actor, role=role)
        report.wal_truncated = self.flush()
        return report

    def flush(self) -> bool:
        """Checkpoint and truncate the WAL of the data database and of the vault's key store, so the
        pages a purge or an erasure overwrote (``secure_delete``) leave no older copy in a ``-wal`` file.
        True when both WAL files are empty."""
        ok = self.db.checkpoint_truncate() if self.db.dialect == "sqlite" else True
        if self.vault is not None and self.vault.db is not self.db:
            ok = self.vault.flush() and ok
        return ok

    def _ledger_cutoff(self, cutoff: dt.datetime) -> dt.datetime | None:
        """Ledger entries are ``audit_entry`` items whose record period is not tracked per entry: they
        follow the policy's fallback (created + 6 years by default), pruned as a prefix of the chain."""
        policy = self.policies.get("audit_entry")
        if self.ledger is None or policy is None or policy.fallback_keep is None:
            return None
        return policy.fallback_keep.before(cutoff)

    @staticmethod
    def _due_rows(db: DatabaseConnection, cutoff: float, batch: int) -> list[tuple]:
        return [tuple(r) for r in db.execute(text(
            "SELECT id, ref, category, record_id, subject_id, payload, key_id FROM retention_items "
            "WHERE due_at IS NOT NULL AND due_at <= :cutoff ORDER BY due_at, id LIMIT :n"), {"cutoff": cutoff, "n": batch})]

    @staticmethod
    def _key_of(payload: bytes | None) -> str | None:
        if payload is None:
            return None
        try:
            return envelope_key_id(bytes(payload))
        except IntegrityError:  # not an envelope (held elsewhere, or damaged): nothing to shred here
            return None

    def _rekey_shared(self, cutoff: float, batch: int) -> int:
        """Re-seal, under keys of their own, the items that are *not* due but share a data key with an
        item of the next batch (envelopes sealed when a subject had one key). Committed before that key
        is shredded, so a failure in between leaves the live items on their old, still existing key."""
        if self.vault is None:
            return 0
        n = 0
        with self.db.tx() as db:
            keys_by_subject: dict[str, set[str]] = {}
            for _, _, _, _, subject, payload, recorded in self._due_rows(db, cutoff, batch):
                for kid in {recorded, self._key_of(payload)} - {None}:
                    if subject is not None:
                        keys_by_subject.setdefault(subject, set()).add(kid)
            for subject, kids in keys_by_subject.items():
                live = db.execute(text("SELECT id, category, record_id, payload, key_id FROM retention_items WHERE "
                                       "subject_id = :s AND payload IS NOT NULL AND (due_at IS NULL OR due_at > :cutoff) "
                                       "ORDER BY id"), {"s": subject, "cutoff": cutoff}).all()
                for item_id, category, record_id, payload, recorded in live:
                    if not ({recorded, self._key_of(payload)} & kids):
                        continue
                    try:
                        plain = self.vault.open(subject, category, record_id, bytes(payload))
                    except PrivacyError:
                        continue  # unreadable already: nothing the shred could take away
                    envelope = self.vault.seal(subject, category, record_id, plain)
                    db.execute(text("UPDATE retention_items SET payload = :p, key_id = :k WHERE id = :id"),
                               {"p": envelope, "k": envelope_key_id(envelope), "id": item_id})
                    n += 1
        return n

    def _purge_batch(self, run_id: str, cutoff: float, batch: int,
                     on_purge: Callable[[list[PurgedItem]], None] | None) -> tuple[bool, int, int]:
        """One batch: (more to do, keys shredded, items re-keyed)."""
        rekeyed = self._rekey_shared(cutoff, batch)
        with self.db.tx() as db:
            rows = self._due_rows(db, cutoff, batch)
            if not rows:
                return False, 0, rekeyed
            if on_purge is not None:
                on_purge([PurgedItem(r[1], r[2], r[3], r[4]) for r in rows])
            shredded = 0
            if self.vault is None:  # no key destroyed: a copy of these envelopes elsewhere still opens
                self._unshredded += sum(1 for r in rows if r[5] is not None)
            else:
                # the keys go first: should the deletion below fail, the items stay registered but
                # unreadable, and the next purge deletes them
                keys = [k for r in rows for k in (r[6], self._key_of(r[5])) if k]
                self._unshredded += sum(1 for r in rows if r[5] is not None and not r[6] and not self._key_of(r[5]))
                shredded = self.vault.shred_keys(keys, flush=False)
            db.execute(text("INSERT INTO retention_run_items (run_id, item_id, category, ref) VALUES (:run, :id, :c, :ref)"),
                       [{"run": run_id, "id": r[0], "c": r[2], "ref": r[1]} for r in rows])
            db.execute(text("DELETE FROM retention_items WHERE id IN :ids").bindparams(bindparam("ids", expanding=True)),
                       {"ids": [r[0] for r in rows]})
            db.execute(text("UPDATE retention_runs SET batches = batches + 1 WHERE run_id = :run"), {"run": run_id})
            if self._after_batch is not None:
                self._after_batch(len(rows))
        return len(rows) == batch, shredded, rekeyed

    @staticmethod
    def _digest(rows: Iterable[tuple[str, str]]) -> tuple[dict[str, int], str]:
        counts: dict[str, int] = {}
        h = hashlib.sha256()
        for category, ref in rows:
            counts[category] = counts.get(category, 0) + 1
            h.update(f"{category}\t{ref}\n".encode())
        return dict(sorted(counts.items())), h.hexdigest()

    def _finish(self, run_id: str, resumed: bool) -> PurgeReport:
        with self.db.tx() as db:
            cutoff, batches, actor, role, status, purged, by_category, ids = db.execute(text(
                "SELECT cutoff, batches, actor, role, status, purged, by_category, ids_sha256 FROM retention_runs "
                "WHERE run_id = :run"), {"run": run_id}).one()
            if status == "done":  # another process finished this run first
                return PurgeReport(run_id, False, iso(_dt(cutoff)), purged, json.loads(by_category), ids, batches,
                                   resumed)
            counts, digest = self._digest(db.execute(text("SELECT category, ref FROM retention_run_items WHERE "
                                                          "run_id = :run ORDER BY item_id"), {"run": run_id}))
            report = PurgeReport(run_id, False, iso(_dt(cutoff)), sum(counts.values()), counts, digest, batches,
                                 resumed)
            self._log(report, actor, role)
            db.execute(text("UPDATE retention_runs SET status = 'done', purged = :n, by_category = :c, ids_sha256 = :d, "
                            "finished_at = :at WHERE run_id = :run"),
                       {"n": report.purged, "c": json.dumps(counts), "d": digest, "at": iso(self.clock()), "run": run_id})
            db.execute(text("DELETE FROM retention_run_items WHERE run_id = :run"), {"run": run_id})
        return report

    def _dry_run(self, cutoff: dt.datetime, actor: str, role: str) -> PurgeReport:
        with self.db.read() as db:  # streamed: a million due items need no million-row list
            counts, digest = self._digest(db.execute(text(
                "SELECT category, ref FROM retention_items WHERE due_at IS NOT NULL AND due_at <= :cutoff ORDER BY id"),
                {"cutoff": _ts(cutoff)}))
        report = PurgeReport("dry_" + uuid.uuid4().hex[:20], True, iso(cutoff), sum(counts.values()), counts, digest)
        before = self._ledger_cutoff(cutoff)
        if before is not None:
            report.ledger_pruned = self.ledger.prunable(before)
        with self.db.tx() as db:
            db.execute(text("INSERT INTO retention_runs (run_id, started_at, cutoff, dry_run, actor, role, status, "
                            "purged, by_category, ids_sha256, finished_at, seq) VALUES (:run, :at, :cutoff, 1, :actor, "
                            ":role, 'done', :n, :c, :d, :at, (SELECT COALESCE(MAX(seq), 0) + 1 FROM retention_runs))"),
                       {"run": report.run_id, "at": iso(self.clock()), "cutoff": _ts(cutoff), "actor": actor,
                        "role": role, "n": report.purged, "c": json.dumps(counts), "d": digest})
            self._log(report, actor, role)
        return report

    def _log(self, report: PurgeReport, actor: str, role: str) -> None:
        if self.ledger is None:
            return
        action = "retention_purge_dry_run" if report.dry_run else "retention_purge"
        if self.ledger.find(action, report.run_id) is not None:  # a resumed run already logged
            return
        self.ledger.append(actor, role, action, report.run_id, "retention", LEGAL_BASIS,
                           details={"cutoff": report.cutoff, "purged": report.purged,
                                    "by_category": report.by_category, "ids_sha256": report.ids_sha256})

    def runs(self, limit: int = 100) -> list[dict]:
        """The latest purge runs, newest first."""
        rows = self._fetch("SELECT run_id, started_at, cutoff, dry_run, actor, role, status, batches, purged, "
                           "by_category, ids_sha256, finished_at FROM retention_runs ORDER BY seq DESC, started_at DESC "
                           "LIMIT :n", {"n": limit})
        return [{"run_id": r[0], "started_at": r[1], "cutoff": iso(_dt(r[2])), "dry_run": bool(r[3]), "actor": r[4],
                 "role": r[5], "status": r[6], "batches": r[7], "purged": r[8],
                 "by_category": json.loads(r[9]) if r[9] else {}, "ids_sha256": r[10], "finished_at": r[11]}
                for r in rows]

    # -- report --------------------------------------------------------------------------------
    def retention_report(self, now: dt.datetime | None = None) -> list[CategoryReport]:
        """Per category: items held, the oldest (and its age), how many are overdue, the next due."""
        now = utc(now or self.clock())
        t = now.timestamp()
        rows = self._fetch("SELECT category, COUNT(*), MIN(created_at), "
                           "SUM(CASE WHEN due_at IS NOT NULL AND due_at <= :t THEN 1 ELSE 0 END), "
                           "MIN(CASE WHEN due_at > :t THEN due_at END) FROM retention_items GROUP BY category",
                           {"t": t})
        by = {r[0]: r for r in rows}
        out = []
        for category in [*self.policies, *sorted(set(by) - set(self.policies))]:
            _, count, oldest, overdue, next_due = by.get(category, (category, 0, None, 0, None))
            policy = self.policies.get(category)
            out.append(CategoryReport(category, count, iso(_dt(oldest)) if oldest is not None else None,
                                      round((t - oldest) / 86400, 3) if oldest is not None else None,
                                      overdue or 0, iso(_dt(next_due)) if next_due is not None else None,
                                      policy.describe() if policy else "no policy"))
        return out
