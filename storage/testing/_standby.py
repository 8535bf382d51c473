"""A streaming standby of a throwaway cluster, its promotion, and a primary's crash (issue #24 increment 7).

:func:`standby_of` copies a running :func:`~storage.testing.postgres_cluster` with ``pg_basebackup -R`` (as a
``replicator`` role with the REPLICATION attribute, through a replication slot), starts the copy in a temporary
directory of its own on a free port (reaped like any other cluster when its owner dies), waits until the primary's
``pg_stat_replication`` shows it streaming, and, when ``synchronous``, names it in the primary's
``synchronous_standby_names`` with ``synchronous_commit = on`` and waits until it is ``sync``: from then on a
COMMIT on the primary returns only once the standby has flushed its WAL, so an acknowledged write survives the
primary's loss. :meth:`Standby.promote` makes it the primary; :func:`crash` SIGKILLs a cluster's postmaster and
every child of it at once (a lost host), leaving its data directory alone and recording the shared memory segments
the server leaves in the kernel, which the cluster's :meth:`~PostgresCluster.stop` releases (a clean start and stop
of the crashed directory; by name only where that fails).

Every wait is bounded and a failure names what did not come up, with the tail of the server's log.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from storage.testing import _proc
from storage.testing._pg import (
    _BIND_FAILURE,
    CrashLeftovers,
    PostgresCluster,
    PostgresError,
    _prepare_root,
    _run,
    _server_uid,
    _start,
    _stop_server,
    _wait_accepting,
    free_port,
    reap_stale_clusters,
)

__all__ = ["REPLICATION_ROLE", "Standby", "StandbyError", "crash", "standby_of"]

#: the role the standby streams as (REPLICATION, LOGIN, a password; no other rights)
REPLICATION_ROLE = "replicator"
_NAME = re.compile(r"[a-z][a-z0-9_]{0,40}")


class StandbyError(PostgresError):
    """The standby could not be made, did not come up, did not stream (or become synchronous) or did not promote
    in time; the message says which, with the tail of the server's log."""


@dataclass
class Standby(PostgresCluster):
    """A running standby of ``primary`` (same roles, passwords and databases: :attr:`url` is the primary's
    application database, read-only until :meth:`promote`). ``name`` is its ``application_name`` on the primary."""

    primary: PostgresCluster | None = field(default=None, repr=False)
    name: str = "standby"
    synchronous: bool = True
    promoted: bool = field(default=False, init=False)

    def replication_state(self) -> tuple[str, str] | None:
        """``(state, sync_state)`` of this standby in the primary's ``pg_stat_replication``; None when it is not
        connected (or the primary does not answer)."""
        with contextlib.suppress(PostgresError):
            row = _query(self.primary, "SELECT state, sync_state FROM pg_stat_replication WHERE application_name = %s",
                         (self.name,), timeout=5)
            return None if row is None else (row[0], row[1])
        return None

    def wait_streaming(self, timeout: float = 60.0, sync: bool | None = None) -> float:
        """Wait until the primary shows this standby ``streaming`` (and ``sync``/``async`` as ``sync`` says:
        by default as it was made); the seconds it took. :class:`StandbyError` when it does not in ``timeout``."""
        want_sync = self.synchronous if sync is None else sync
        want = ("streaming", "sync" if want_sync else "async")
        started = time.monotonic()
        deadline = started + timeout
        state = None
        while time.monotonic() < deadline:
            state = self.replication_state()
            if state == want:
                return time.monotonic() - started
            time.sleep(0.1)
        raise StandbyError(f"standby {self.name!r} (port {self.port}) is not {want[0]}/{want[1]} after {timeout:.0f} s "
                           f"(the primary on port {self.primary.port} shows {state or 'no connection'}); standby log:\n"
                           f"{self.log_tail()}")

    def wait_caught_up(self, timeout: float = 60.0) -> float:
        """Wait until this standby has replayed everything the primary had written when the call began (an
        asynchronous standby lags); the seconds it took."""
        (target,) = _query(self.primary, "SELECT pg_current_wal_lsn()::text")
        started = time.monotonic()
        while time.monotonic() < started + timeout:
            row = _query(self.primary, "SELECT replay_lsn >= %s::pg_lsn FROM pg_stat_replication "
                                       "WHERE application_name = %s", (target, self.name), timeout=5)
            if row is not None and row[0]:
                return time.monotonic() - started
            time.sleep(0.05)
        raise StandbyError(f"standby {self.name!r} has not replayed the primary's WAL up to {target} after "
                           f"{timeout:.0f} s; standby log:\n{self.log_tail()}")

    def detach(self, timeout: float = 30.0) -> str:
        """Stop streaming (``primary_conninfo`` emptied and reloaded; the standby stays in recovery) and wait until
        the primary no longer sees it; the former ``primary_conninfo``, for :meth:`attach`."""
        (conninfo,) = _query(self, "SHOW primary_conninfo")
        _execute(self, "ALTER SYSTEM SET primary_conninfo = ''", "SELECT pg_reload_conf()")
        deadline = time.monotonic() + timeout
        while self.replication_state() is not None:
            if time.monotonic() > deadline:
                raise StandbyError(f"standby {self.name!r} still streams {timeout:.0f} s after primary_conninfo was "
                                   f"emptied")
            time.sleep(0.1)
        return conninfo

    def attach(self, conninfo: str, timeout: float = 60.0) -> float:
        """Stream again from ``conninfo`` (what :meth:`detach` returned); the seconds until it streams."""
        from psycopg import sql

        _execute(self, sql.SQL("ALTER SYSTEM SET primary_conninfo = {}").format(sql.Literal(conninfo)),
                 "SELECT pg_reload_conf()")
        return self.wait_streaming(timeout)

    def promote(self, timeout: float = 60.0) -> float:
        """``pg_ctl promote`` and wait until the server accepts writes (out of recovery, a transaction id can be
        assigned); the seconds it took. The old primary must be gone first (fencing is the caller's: two
        primaries would each acknowledge writes the other never sees)."""
        started = time.monotonic()
        argv = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-w", "-t", str(int(timeout)), "promote"]
        try:
            done = _run(self.run_as, argv, self.root, timeout + 10)
        except subprocess.TimeoutExpired as e:
            raise StandbyError(f"pg_ctl promote did not return in {timeout + 10:.0f} s (standby {self.name!r}, "
                               f"port {self.port}); log:\n{self.log_tail()}") from e
        if done.returncode != 0:
            raise StandbyError(f"pg_ctl promote failed (exit {done.returncode}, standby {self.name!r}, port "
                               f"{self.port}): {(done.stderr or done.stdout).strip()[-400:]}\nlog:\n{self.log_tail()}")
        deadline = started + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                (in_recovery,) = _query(self, "SELECT pg_is_in_recovery()", timeout=5)
                if not in_recovery:
                    _query(self, "SELECT pg_current_xact_id()", timeout=5)  # refused while read-only
                    self.promoted = True
                    return time.monotonic() - started
            except PostgresError as e:
                last = e
            time.sleep(0.1)
        raise StandbyError(f"standby {self.name!r} (port {self.port}) does not accept writes {timeout:.0f} s after "
                           f"pg_ctl promote ({last or 'still in recovery'}); log:\n{self.log_tail()}")


def _connect(cluster: PostgresCluster, timeout: float):
    import psycopg

    try:
        return psycopg.connect(cluster.superuser_url, autocommit=True, connect_timeout=max(1, int(timeout)))
    except psycopg.Error as e:
        raise PostgresError(f"cannot connect to the cluster on port {cluster.port}: {' '.join(str(e).split())}") from e


def _query(cluster: PostgresCluster, statement, params: tuple = (), timeout: float = 10) -> tuple | None:
    import psycopg

    with _connect(cluster, timeout) as conn:
        try:
            return conn.execute(statement, params).fetchone()
        except psycopg.Error as e:
            raise PostgresError(f"{' '.join(str(e).split())} (port {cluster.port})") from e


def _execute(cluster: PostgresCluster, *statements, timeout: float = 10) -> None:
    import psycopg

    with _connect(cluster, timeout) as conn:
        for statement in statements:
            try:
                conn.execute(statement)
            except psycopg.Error as e:
                raise PostgresError(f"{' '.join(str(e).split())} (port {cluster.port})") from e


def _prepare_primary(primary: PostgresCluster, password: str, slot: str) -> bool:
    """The replication role (made or given a new password), a replication line in pg_hba.conf when none matches,
    and the slot; whether the primary runs with fsync on."""
    from psycopg import sql

    with _connect(primary, 10) as conn:
        wal_level = conn.execute("SHOW wal_level").fetchone()[0]
        senders = int(conn.execute("SHOW max_wal_senders").fetchone()[0])
        if wal_level not in ("replica", "logical") or senders < 1:
            raise StandbyError(f"the primary on port {primary.port} cannot stream: wal_level = {wal_level}, "
                               f"max_wal_senders = {senders} (replica and at least 1 needed)")
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (REPLICATION_ROLE,)).fetchone()
        conn.execute(sql.SQL(("ALTER" if exists else "CREATE") + " ROLE {} REPLICATION LOGIN PASSWORD {}").format(
            sql.Identifier(REPLICATION_ROLE), sql.Literal(password)))
        allowed = conn.execute(
            "SELECT 1 FROM pg_hba_file_rules WHERE type = 'host' AND 'replication' = ANY(database) "
            "AND (user_name = '{all}' OR %s = ANY(user_name)) AND address = '127.0.0.1' "
            "AND auth_method = 'scram-sha-256'", (REPLICATION_ROLE,)).fetchone()
        if not allowed:
            with open(primary.data_dir / "pg_hba.conf", "a") as f:
                f.write(f"host replication {REPLICATION_ROLE} 127.0.0.1/32 scram-sha-256\n")
            conn.execute("SELECT pg_reload_conf()")
        conn.execute("SELECT pg_create_physical_replication_slot(%s, true)", (slot,))
        return conn.execute("SHOW fsync").fetchone()[0] == "on"


def _release_primary(standby: Standby) -> None:
    """The primary stops waiting for (and keeping WAL for) a standby that goes away: without this, every later
    COMMIT on a primary that outlives its synchronous standby would wait for ever."""
    primary = standby.primary
    if primary is None or primary.stopped or primary.server_pid() is None:
        return
    resets = ["ALTER SYSTEM RESET synchronous_standby_names"]
    if standby.synchronous:
        resets.append("ALTER SYSTEM RESET synchronous_commit")
    with contextlib.suppress(PostgresError):
        _execute(primary, *resets, "SELECT pg_reload_conf()", timeout=5)
    with contextlib.suppress(PostgresError):
        _stop_server(standby.bin_dir, standby.data_dir, standby.run_as, 30)
        _query(primary, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                        "WHERE slot_name = %s AND NOT active", (standby.name,), timeout=5)


def _base_backup(standby: Standby, primary: PostgresCluster, password: str, durable: bool, timeout: float) -> None:
    passfile = standby.root / "pgpass"
    fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{primary.host}:{primary.port}:*:{REPLICATION_ROLE}:{password}\n")
    if standby.run_as:
        import pwd

        entry = pwd.getpwnam(standby.run_as)
        os.chown(passfile, entry.pw_uid, entry.pw_gid)
    # -R writes this connection's parameters (passfile and application_name included) as primary_conninfo, and
    # the slot as primary_slot_name, with standby.signal
    conninfo = (f"host={primary.host} port={primary.port} user={REPLICATION_ROLE} passfile={passfile} "
                f"application_name={standby.name}")
    argv = [str(standby.bin_dir / "pg_basebackup"), "-d", conninfo, "-D", str(standby.data_dir), "-X", "stream",
            "-c", "fast", "-R", "-S", standby.name, "--no-password", *([] if durable else ["--no-sync"])]
    try:
        done = _run(standby.run_as, argv, standby.root, timeout)
    except subprocess.TimeoutExpired as e:
        raise StandbyError(f"pg_basebackup from port {primary.port} did not finish in {timeout:.0f} s; primary log:"
                           f"\n{primary.log_tail()}") from e
    if done.returncode != 0:
        raise StandbyError(f"pg_basebackup from port {primary.port} failed (exit {done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[-600:]}\nprimary log:\n{primary.log_tail()}")
    with open(standby.data_dir / "postgresql.conf", "a") as f:
        f.write(f"\n# storage.testing (standby {standby.name})\nunix_socket_directories = '{standby.socket_dir}'\n"
                f"hot_standby = on\ncluster_name = '{standby.name}'\n")


@contextlib.contextmanager
def standby_of(primary: PostgresCluster, *, name: str = "standby", synchronous: bool = True,
               synchronous_commit: str = "on", parent_dir: str | Path | None = None, timeout: float = 120.0,
               attempts: int = 3) -> Iterator[Standby]:
    """Make, start and yield a streaming standby of the running ``primary``; stop and remove it at the end
    (first releasing a primary that still runs from waiting for it).

    ``synchronous``: the primary's ``synchronous_standby_names`` names it and ``synchronous_commit`` is set
    (``on``: a COMMIT returns once the standby flushed it; ``remote_apply``: once it replayed it), which also
    overrides a non-durable primary's ``synchronous_commit = off``. Otherwise it streams asynchronously (a COMMIT
    does not wait: the standby may lag). ``timeout`` bounds each step (base backup, start, streaming)."""
    if not _NAME.fullmatch(name):
        raise StandbyError(f"standby name {name!r} is not a plain lower-case identifier")
    if synchronous_commit not in ("on", "remote_write", "remote_apply"):
        raise StandbyError(f"synchronous_commit {synchronous_commit!r}: expected on, remote_write or remote_apply")
    if primary.stopped or primary.server_pid() is None:
        raise StandbyError(f"no primary runs on port {primary.port}: nothing to make a standby of")
    reap_stale_clusters(parent_dir, primary.bin_dir)
    for binary in ("pg_basebackup", "pg_ctl"):
        if not os.access(primary.bin_dir / binary, os.X_OK):
            raise StandbyError(f"{binary} is missing from {primary.bin_dir}")
    password = secrets.token_urlsafe(18)
    durable = _prepare_primary(primary, password, name)
    root = _prepare_root(parent_dir, primary.run_as)
    standby = Standby(bin_dir=primary.bin_dir, root=root, port=0, database=primary.database, user=primary.user,
                      password=primary.password, superuser_password=primary.superuser_password,
                      run_as=primary.run_as, primary=primary, name=name, synchronous=synchronous)
    try:
        _base_backup(standby, primary, password, durable, timeout)
        for attempt in range(1, attempts + 1):
            standby.port = free_port()
            done = _start(standby, timeout)
            if done.returncode == 0:
                break
            tail = standby.log_tail()
            _stop_server(standby.bin_dir, standby.data_dir, standby.run_as, 10)
            if _BIND_FAILURE.search(tail) and attempt < attempts:
                continue
            raise StandbyError(f"standby {name!r} did not start (pg_ctl exit {done.returncode}, port {standby.port}, "
                               f"attempt {attempt} of {attempts}): {(done.stderr or done.stdout).strip()[-400:]}\n"
                               f"log tail:\n{tail}")
        _wait_accepting(standby, timeout)
        standby.wait_streaming(timeout, sync=False)
        if synchronous:
            _execute(primary, f"ALTER SYSTEM SET synchronous_commit = '{synchronous_commit}'",
                     f"ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (\"{name}\")'", "SELECT pg_reload_conf()")
            standby.wait_streaming(timeout, sync=True)
        yield standby
    finally:
        try:
            _release_primary(standby)
        finally:
            standby.stop()


def crash(cluster: PostgresCluster, timeout: float = 30.0) -> list[int]:
    """SIGKILL the cluster's postmaster (SIGSTOPped first) and all its children in one ``kill`` run as the
    server's user (a host that is lost: no shutdown checkpoint, no goodbye to clients or standbys); wait until
    none of them runs and return their pids. The data directory stays; so does the shared memory the server
    had (its System V segment, its ``/dev/shm/PostgreSQL.*`` segments): recorded in
    :attr:`PostgresCluster.crash_leftovers`, released by :meth:`PostgresCluster.stop` (which starts the data
    directory once and stops it cleanly). When the SIGKILL fails the postmaster is sent SIGCONT: none stays
    stopped."""
    uid = _server_uid(cluster.run_as)
    pid = cluster.server_pid()
    if uid is None or pid is None:
        raise PostgresError(f"no server runs on port {cluster.port}: nothing to crash")
    # stopped first, the postmaster forks no child between the listing and the kill (its children each run in
    # a session of their own, so there is no process group to kill at once)
    _run(cluster.run_as, ["kill", "-STOP", str(pid)], cluster.root, 30)
    killed = False
    try:
        pids = [pid, *_proc.children(pid, uid)]
        leftovers = CrashLeftovers(_sysv_id(cluster), tuple(sorted({s for p in pids for s in _posix_segments(p)})))
        done = _run(cluster.run_as, ["kill", "-KILL", *map(str, pids)], cluster.root, 30)
        if done.returncode != 0 and _proc.is_postmaster(pid, cluster.data_dir, uid):
            raise PostgresError(f"kill -KILL {pid} failed (exit {done.returncode}): {done.stderr.strip()[-200:]}")
        killed = True
        cluster.crash_leftovers = leftovers
    finally:
        if not killed:
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                _run(cluster.run_as, ["kill", "-CONT", str(pid)], cluster.root, 30)
    deadline = time.monotonic() + timeout
    while any(_proc.uid_of(p) == uid and not _proc.is_zombie(p) for p in pids):
        if time.monotonic() > deadline:
            raise PostgresError(f"the server on port {cluster.port} still runs {timeout:.0f} s after SIGKILL")
        time.sleep(0.02)
    return pids


def _sysv_id(cluster: PostgresCluster) -> int | None:
    """The System V segment's id that ``postmaster.pid`` names (line 7: key and id)."""
    try:
        lines = (cluster.data_dir / "postmaster.pid").read_text().splitlines()
        return int(lines[6].split()[1])
    except (OSError, IndexError, ValueError):
        return None


#: where POSIX shared memory segments live (shm_open); PostgreSQL names its dynamic ones PostgreSQL.<handle>
_SHM_PREFIX = "/dev/shm/PostgreSQL."  # noqa: S108 - read from /proc/<pid>/maps, never created here


def _posix_segments(pid: int) -> set[str]:
    """The ``/dev/shm/PostgreSQL.*`` segments ``pid`` has mapped."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return set()
    found = set()
    for line in maps.splitlines():
        _, sep, path = line.partition(_SHM_PREFIX)
        if sep:
            name = path.split()[0] if path.split() else ""
            if name.isdigit():
                found.add(_SHM_PREFIX + name)
    return found
