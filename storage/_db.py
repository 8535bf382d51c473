from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils


class StorageError(RuntimeError):
    """The database could not be opened or used."""


class MigrationError(StorageError):
    """A migration failed, or the recorded history does not match the code's migrations."""


class FileModeError(StorageError):
    """A key store (or its directory) is open to group or others, or is not the user's own."""


log = logging.getLogger("storage")

#: the files SQLite keeps beside a database in WAL mode (and in rollback mode)
SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: str | Path) -> Path:
    """Create ``path`` and any missing parents with mode 0700 (the umask cannot widen it); an existing
    directory is left as it is. Returns the path."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            continue
        os.chmod(d, 0o700)
    return path


def _loose(st: os.stat_result) -> bool:
    return bool(stat.S_IMODE(st.st_mode) & 0o077) or st.st_uid != os.geteuid()


def prepare_file(path: Path, *, key_material: bool = False) -> None:
    """Before SQLite opens ``path``: a new file is created 0600 in a 0700 directory, an existing one open to
    others is tightened; a key store (``key_material``) open to others is refused (:class:`FileModeError`)."""
    if path.exists():
        if key_material:
            check_private(path)
        else:
            _tighten(path)
    else:
        _create_private(path)
        if key_material:
            check_private(path)
    if not key_material:
        _warn_open_dir(path.parent.resolve())


def check_private(path: str | Path) -> None:
    """Raise :class:`FileModeError` unless the database ``path`` (and its WAL/SHM files, when present) is
    owned by this user with no access for group or others, in a directory that is the same: the rule
    for key material (a vault's key store)."""
    path = Path(path)
    for p in [path, *(path.with_name(path.name + s) for s in SIDE_FILES), path.parent]:
        try:
            st = os.stat(p)
        except FileNotFoundError:
            continue
        if _loose(st):
            kind = "directory" if stat.S_ISDIR(st.st_mode) else "file"
            want = "700" if kind == "directory" else "600"
            raise FileModeError(f"the key store {kind} {p} has mode {stat.S_IMODE(st.st_mode):04o} (owner uid "
                                f"{st.st_uid}): key material must be private to this user (uid {os.geteuid()}); "
                                f"fix: chmod {want} {p}")


def move_database(src: str | Path, dest: str | Path) -> None:
    """Move a database and its side files (``-wal``, ``-shm``, ``-journal``) to ``dest`` (its directory created
    0700 if missing). For a key store an earlier version kept in the data directory; the service is stopped."""
    src, dest = Path(src), Path(dest)
    private_dir(dest.parent)
    for suffix in ("", *SIDE_FILES):
        moving = src.with_name(src.name + suffix)
        if moving.exists():
            os.replace(moving, dest.with_name(dest.name + suffix))
    log.warning("moved the database %s to %s", src, dest)


def open_private(path: str | Path, mode: str = "w", **kwargs):
    """Open ``path`` for writing as a file private to this user (0600, also when it existed; missing
    directories 0700): for exports and reports that hold personal data outside the encrypted stores."""
    path = Path(path)
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, mode, **kwargs)


def _create_private(path: Path) -> None:
    """Create the database file 0600 before SQLite does (its WAL and SHM files take the database's mode)."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return
    os.close(fd)


_WARNED_DIRS: set[Path] = set()


def _warn_open_dir(directory: Path) -> None:
    """A data directory open to group or others (made by someone else: left as it is) is named once."""
    try:
        mode = stat.S_IMODE(os.stat(directory).st_mode)
    except OSError:
        return
    if mode & 0o077 and directory not in _WARNED_DIRS:
        _WARNED_DIRS.add(directory)
        log.warning("the data directory %s has mode %04o: other users can list it (the databases themselves are "
                    "0600); consider chmod 700 %s", directory, mode, directory)


def _tighten(path: Path) -> None:
    """An existing data database open to group or others: make it (and its side files) 0600."""
    for p in [path, *(path.with_name(path.name + s) for s in SIDE_FILES)]:
        try:
            st = os.stat(p)
        except FileNotFoundError:
            continue
        if stat.S_IMODE(st.st_mode) & 0o077 and st.st_uid == os.geteuid():
            os.chmod(p, 0o600)
            log.warning("database file %s had mode %04o; now 0600", p, stat.S_IMODE(st.st_mode))


@dataclass(frozen=True)
class Migration:
    """One schema step. ``apply`` is SQL text (may hold several statements) or a callable(db)."""

    name: str
    apply: str | Callable[[sqlite_utils.Database], None]

    def checksum(self) -> str:
        body = self.apply if isinstance(self.apply, str) else getattr(self.apply, "__qualname__", "")
        return hashlib.sha256(f"{self.name}\n{body}".encode()).hexdigest()


def open_database(path: str | Path | None = None, *, memory: bool = False, wal: bool = True,
                  busy_timeout_ms: int = 5000, key_material: bool = False) -> sqlite_utils.Database:
    """Open (creating if needed) a database. ``memory=True`` or ``path=None`` gives an in-memory one.

    ``secure_delete`` is on: deleted content is overwritten. A new database file is created 0600 (its WAL and SHM files follow its mode) and missing directories
    0700; an existing one open to group or others is tightened to 0600. ``key_material=True`` (a vault's
    key store) refuses such a file or directory instead (:class:`FileModeError`).

    The connection is in autocommit mode (``isolation_level=None``): each statement commits on its
    own unless the caller opens a transaction with ``BEGIN`` (as :func:`migrate` does).
    """
    try:
        if memory or path is None:
            # autocommit mode like file databases, so callers can use explicit BEGIN/COMMIT
            db = sqlite_utils.Database(sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None))
        else:
            path = Path(path)
            prepare_file(path, key_material=key_material)
            conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            db = sqlite_utils.Database(conn)
            if wal:
                db.enable_wal()
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        db.execute("PRAGMA foreign_keys = ON")
        # deleted rows are overwritten with zeros, not left in free pages (a purged record, a shredded key)
        db.execute("PRAGMA secure_delete = ON")
        if not memory and path is not None:
            db.execute("PRAGMA synchronous = NORMAL" if wal else "PRAGMA synchronous = FULL")
    except sqlite3.Error as e:
        raise StorageError(f"cannot open database {path}: {e}") from e
    return db


def checkpoint_truncate(db: sqlite_utils.Database | sqlite3.Connection, lock: threading.RLock | None = None, *,
                        attempts: int = 3, wait_ms: int = 1000) -> bool:
    """Copy the WAL into the database and truncate it to zero bytes (``wal_checkpoint(TRUNCATE)``), so
    no older page version (an overwritten key, a deleted ciphertext) survives in the ``-wal`` file.
    Waits up to ``wait_ms`` per attempt for other connections' readers; True when the WAL is empty (or
    the database has none), False when a reader kept it (the caller says so: the purge is incomplete).

    Every statement runs on the raw connection under ``lock``: a connection shared by threads is touched
    only while no other thread can be in a transaction on it (wrapping it in a new ``sqlite_utils.Database``
    would run a PRAGMA and a COMMIT on it unlocked, ending another thread's transaction)."""
    conn = db.conn if isinstance(db, sqlite_utils.Database) else db
    for i in range(attempts):
        with lock if lock is not None else _NOLOCK:
            if conn.in_transaction:
                return False
            (timeout,) = conn.execute("PRAGMA busy_timeout").fetchone()
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
                row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.Error:
                row = (1, -1, -1)
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(timeout)}")
        if row is None or (row[0] == 0 and row[1] in (0, -1)):
            return True
        time.sleep(0.05 * (i + 1))
    return False


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NOLOCK = _NoLock()


def _ensure_table(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, "
        "checksum TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )


def applied_migrations(db: sqlite_utils.Database) -> list[str]:
    _ensure_table(db)
    return [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY id").fetchall()]


def migrate(db: sqlite_utils.Database, migrations: Sequence[Migration]) -> list[str]:
    """Apply the migrations not yet recorded, in order; return the names applied now.

    The recorded history must be a prefix of ``migrations`` with matching checksums, so a
    database never runs against a schema it was not built with.
    """
    names = [m.name for m in migrations]
    if len(set(names)) != len(names):
        raise MigrationError("duplicate migration names")
    _ensure_table(db)
    recorded = db.execute("SELECT name, checksum FROM _migrations ORDER BY id").fetchall()
    for i, (name, checksum) in enumerate(recorded):
        if i >= len(migrations) or migrations[i].name != name:
            raise MigrationError(f"database has migration {name!r} that the code does not know at step {i}")
        if migrations[i].checksum() != checksum:
            raise MigrationError(f"migration {name!r} changed after it was applied")
    done: list[str] = []
    conn = db.conn
    for m in migrations[len(recorded):]:
        try:
            conn.execute("BEGIN")
            if isinstance(m.apply, str):
                for statement in _split_sql(m.apply):
                    conn.execute(statement)
            else:
                m.apply(db)
            conn.execute(
                "INSERT INTO _migrations (name, checksum, applied_at) VALUES (?, ?, ?)",
                (m.name, m.checksum(), _dt.datetime.now(_dt.UTC).isoformat()),
            )
            conn.execute("COMMIT")
        except Exception as e:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise MigrationError(f"migration {m.name!r} failed: {e}") from e
        done.append(m.name)
    return done


def _split_sql(script: str) -> list[str]:
    """Split a script into complete statements (sqlite3.complete_statement knows quotes and triggers)."""
    out, buf = [], ""
    for piece in script.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \t\r\n;"):
                out.append(buf.strip())
            buf = ""
    if buf.strip(" \t\r\n;"):
        raise MigrationError(f"incomplete SQL statement: {buf.strip()[:60]!r}")
    return out


@contextmanager
def transaction(db: sqlite_utils.Database, lock: threading.RLock) -> Iterator[sqlite_utils.Database]:
    """BEGIN IMMEDIATE ... COMMIT under ``lock`` (a connection shared by threads), or join the transaction
    the caller already holds open (the caller commits); a failure rolls back."""
    with lock:
        conn = db.conn
        if conn.in_transaction:
            yield db
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
