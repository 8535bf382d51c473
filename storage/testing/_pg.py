"""A throwaway PostgreSQL server: ``initdb`` in a temporary directory, ``pg_ctl start`` on a free port of
127.0.0.1, a database and a role with a password, and everything stopped and removed at the end.

Run as root, the server runs as the ``postgres`` system user (``initdb`` refuses root): the temporary
directory is handed to that user and every server binary runs under ``runuser -u postgres --``.
Otherwise it runs as the current user.

The cluster is NOT durable by default: ``fsync``, ``synchronous_commit`` and ``full_page_writes`` are off
and ``initdb --no-sync`` skips flushing the new cluster. A crash of the host may lose or corrupt it,
which is the right trade for a cluster that lives as long as a test session. ``durable=True`` keeps
PostgreSQL's defaults (the failover test needs them).

A process killed outright (SIGKILL, OOM, a cancelled CI job) cannot stop its server: each temporary
directory holds an ``owner`` file (the owning pid and its start time from /proc, so a reused pid is not
mistaken for the owner) and every start first stops and removes the ``smartborder-pg-*`` directories whose
owner is gone (:func:`reap_stale_clusters`). The server is only ever signalled through ``pg_ctl kill``, as
the server's user, at a pid that /proc confirms is this data directory's postmaster (``postmaster.pid`` is
writable by the ``postgres`` user, hence by a cluster superuser, and is not trusted alone).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from storage._db import StorageError
from storage.testing import _proc

#: where Debian and Ubuntu put each major version's server binaries
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
#: the binaries a cluster needs
REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")
#: the system user the server runs as when this process is root
SYSTEM_USER = "postgres"
#: the cluster's superuser (password authentication only, like every other role)
SUPERUSER = "postgres"

_LOG_TAIL_LINES = 25
_BIND_FAILURE = re.compile(r"could not bind|could not create any TCP/IP sockets|address already in use", re.I)
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
#: the temporary directories' prefix, which reap_stale_clusters looks for
ROOT_PREFIX = "smartborder-pg-"
#: the file in a temporary directory naming its owner: "<pid> <start time in clock ticks>"
OWNER_FILE = "owner"


class PostgresError(StorageError):
    """The throwaway PostgreSQL server could not be found, started, used or stopped."""


class PostgresNotInstalled(PostgresError):
    """No PostgreSQL server binaries (``initdb``, ``pg_ctl``, ``postgres``) were found."""


class PostgresStartError(PostgresError):
    """``initdb`` or ``pg_ctl start`` failed; the message ends with the tail of the server's log."""


def find_bin_dir(candidates: Sequence[str | Path] | None = None) -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``: the newest major version under
    ``/usr/lib/postgresql/*/bin``, else the directory of an ``initdb`` on ``PATH``; None when there is none.
    ``candidates`` (directories) replaces that search."""
    if candidates is None:
        import glob

        found = sorted(glob.glob(DEBIAN_BIN_GLOB), key=_version_key, reverse=True)
        on_path = shutil.which("initdb")
        candidates = [*found, *([str(Path(on_path).parent)] if on_path else [])]
    for d in candidates:
        d = Path(d)
        if all(os.access(d / b, os.X_OK) for b in REQUIRED_BINARIES):
            return d
    return None


def _version_key(path: str) -> tuple[int, ...]:
    major = Path(path).parent.name
    return tuple(int(p) for p in major.split(".") if p.isdigit()) or (-1,)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on (or holds) ``host:port``: a bind without SO_REUSEADDR succeeds."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just handed out as free on ``host`` (another process may still take it first:
    :func:`postgres_cluster` retries on a bind failure)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"(no log: {e.strerror})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _url(user: str, password: str, host: str, port: int, database: str) -> str:
    return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{quote(database, safe='')}"


def _check_identifier(kind: str, name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise PostgresError(f"{kind} name {name!r} is not a plain lower-case identifier ([a-z_][a-z0-9_]*, "
                            f"at most 63 characters)")
    return name


@dataclass
class PostgresCluster:
    """A running throwaway cluster (made by :func:`postgres_cluster`). ``url`` is the application's
    database (owned by its role, reached with a password over TCP on 127.0.0.1)."""

    bin_dir: Path
    root: Path
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    superuser_password: str = field(repr=False)
    run_as: str | None
    host: str = "127.0.0.1"
    stopped: bool = field(default=False, init=False)
    #: the shared memory a :func:`storage.testing.crash` left behind (:meth:`stop` has it released)
    crash_leftovers: CrashLeftovers | None = field(default=None, init=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        return _url(self.user, self.password, self.host, self.port, self.database)

    @property
    def superuser_url(self) -> str:
        return _url(SUPERUSER, self.superuser_password, self.host, self.port, "postgres")

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        return _tail(self.log_path, lines)

    def server_pid(self) -> int | None:
        """The postmaster's pid, once /proc confirms it runs as the server's user on this data directory
        (postmaster.pid alone is not trusted); None when no server runs."""
        uid = _server_uid(self.run_as)
        return None if uid is None else _proc.find_postmaster(self.data_dir, uid, _postmaster_pid(self.data_dir))

    def create_database(self, database: str, user: str | None = None, password: str | None = None) -> str:
        """Create the role ``user`` (LOGIN, a password; made when missing) and a database it owns, which
        no other role may connect to (CONNECT revoked from PUBLIC); return its URL."""
        import psycopg
        from psycopg import sql

        database = _check_identifier("database", database)
        user = _check_identifier("role", user or database)
        password = password or secrets.token_urlsafe(18)
        try:
            with psycopg.connect(self.superuser_url, autocommit=True, connect_timeout=10) as conn:
                exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
                verb = "ALTER" if exists else "CREATE"
                conn.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(user), sql.Literal(password)))
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0").format(
                    sql.Identifier(database), sql.Identifier(user)))
                conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))
        except psycopg.Error as e:
            raise PostgresError(f"cannot create database {database!r} for role {user!r} on port {self.port}: "
                                f"{e}") from e
        return _url(user, password, self.host, self.port, database)

    def drop_database(self, database: str, user: str | None = None) -> None:
        """Drop ``database`` (closing its connections) and, when given, the role ``user``."""
        import psycopg
        from psycopg import sql

        try:
            with psycopg.connect(self.superuser_url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(_check_identifier("database", database))))
                if user is not None:
                    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(
                        sql.Identifier(_check_identifier("role", user))))
        except psycopg.Error as e:
            raise PostgresError(f"cannot drop database {database!r} on port {self.port}: {e}") from e

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server (fast shutdown, then immediate, then SIGKILL of the postmaster) and remove the
        temporary directory. Safe to call twice."""
        if self.stopped:
            return
        self.stopped = True
        try:
            if self.crash_leftovers is not None:
                _release_crash_leftovers(self, timeout)
            _stop_server(self.bin_dir, self.data_dir, self.run_as, timeout)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@dataclass(frozen=True)
class CrashLeftovers:
    """What a SIGKILLed server leaves in the kernel: its System V segment (``postmaster.pid``'s key and id)
    and the POSIX dynamic shared memory segments its processes had mapped (``/dev/shm/PostgreSQL.*``)."""

    sysv_id: int | None
    posix: tuple[str, ...]

    def remaining(self) -> list[str]:
        """Those still there (``sysv:<id>`` for the System V one)."""
        left = [p for p in self.posix if os.path.exists(p)]
        if self.sysv_id is not None and self.sysv_id in sysv_segment_ids():
            left.append(f"sysv:{self.sysv_id}")
        return left


def sysv_segment_ids() -> set[int]:
    """The ids of the System V shared memory segments that exist (/proc/sysvipc/shm)."""
    try:
        lines = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    except OSError:
        return set()
    return {int(line.split()[1]) for line in lines if len(line.split()) > 1 and line.split()[1].isdigit()}


def _release_crash_leftovers(cluster: PostgresCluster, timeout: float) -> list[str]:
    """Start the crashed data directory once (on a free port, no TCP, no synchronous standby) and stop it
    cleanly: the postmaster removes its dead predecessor's System V segment and the dynamic shared memory
    segments that one's control segment lists. Whatever is still there then (the start failed) is removed
    by name: exactly the segments :attr:`PostgresCluster.crash_leftovers` recorded, nothing else. Returns
    those it had to remove by name."""
    leftovers = cluster.crash_leftovers
    uid = _server_uid(cluster.run_as)
    if leftovers is None or uid is None:
        return []
    if _proc.find_postmaster(cluster.data_dir, uid, _postmaster_pid(cluster.data_dir)) is None:
        # the new postmaster refuses to start while the old pid exists, a zombie included (init reaps it soon)
        dead, deadline = _postmaster_pid(cluster.data_dir), time.monotonic() + timeout
        while dead is not None and _proc.is_zombie(dead) and time.monotonic() < deadline:
            time.sleep(0.05)
        argv = [str(cluster.bin_dir / "pg_ctl"), "-D", str(cluster.data_dir), "-l", str(cluster.log_path),
                "-o", f"-p {free_port()} -c listen_addresses='' -c synchronous_standby_names=''", "-w", "-t",
                str(int(timeout)), "start"]
        with contextlib.suppress(subprocess.TimeoutExpired):
            _run(cluster.run_as, argv, cluster.root, timeout + 10)
        _stop_server(cluster.bin_dir, cluster.data_dir, cluster.run_as, timeout)
    remaining = leftovers.remaining()
    for name in remaining:
        if name.startswith("sysv:"):
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                _run(cluster.run_as, ["ipcrm", "-m", name.removeprefix("sysv:")], cluster.root, 30)
        else:
            with contextlib.suppress(OSError):
                os.unlink(name)
    cluster.crash_leftovers = None
    return remaining


def _command(run_as: str | None, argv: Sequence[str]) -> list[str]:
    return ["runuser", "-u", run_as, "--", *argv] if run_as else list(argv)


def _run(run_as: str | None, argv: Sequence[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return subprocess.run(_command(run_as, argv), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False, stdin=subprocess.DEVNULL)


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        first = (data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
        return int(first)
    except (OSError, ValueError):
        return None


def _server_uid(run_as: str | None) -> int | None:
    if not run_as:
        return os.getuid()
    import pwd

    try:
        return pwd.getpwnam(run_as).pw_uid
    except KeyError:
        return None


def _stop_server(bin_dir: Path, data_dir: Path, run_as: str | None, timeout: float,
                 signals: Sequence[str] = ("INT", "QUIT")) -> None:
    """Stop the postmaster of ``data_dir``: each of ``signals`` (INT = pg_ctl's fast shutdown, QUIT = its
    immediate one) then KILL, each sent by ``pg_ctl kill`` as the server's user to the pid /proc confirms
    (postmaster.pid may name any process), until none runs."""
    uid = _server_uid(run_as)
    if uid is None:
        return
    for sig in (*signals, "KILL"):
        pid = _proc.find_postmaster(data_dir, uid, _postmaster_pid(data_dir))
        if pid is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            _run(run_as, [str(bin_dir / "pg_ctl"), "kill", sig, str(pid)], data_dir.parent, 30)
        deadline = time.monotonic() + (timeout if sig != "KILL" else 10)
        while _proc.is_postmaster(pid, data_dir, uid) and time.monotonic() < deadline:
            time.sleep(0.05)


def _read_owner(root: Path) -> tuple[int, int] | None:
    try:
        pid, started = (root / OWNER_FILE).read_text().split()
        return int(pid), int(started)
    except (OSError, ValueError):
        return None


def reap_stale_clusters(parent_dir: str | Path | None = None, bin_dir: str | Path | None = None) -> list[Path]:
    """Stop the server of (immediate shutdown, then SIGKILL) and remove every ``smartborder-pg-*`` directory
    in ``parent_dir`` (default: the system's temporary directory) whose owner process is gone: the leftovers
    of a test process killed outright. Only directories of this user (under root: of root or the
    ``postgres`` user) with a readable owner file are touched; a live owner's are left alone. Returns the
    directories removed."""
    found = find_bin_dir([bin_dir] if bin_dir is not None else None)
    run_as = SYSTEM_USER if os.geteuid() == 0 else None
    uid = _server_uid(run_as)
    owners = {os.geteuid(), *([uid] if uid is not None else [])}
    reaped = []
    for root in sorted(Path(parent_dir or tempfile.gettempdir()).glob(ROOT_PREFIX + "*")):
        try:
            st = os.lstat(root)
        except OSError:
            continue
        owner = _read_owner(root) if stat.S_ISDIR(st.st_mode) and st.st_uid in owners else None
        if owner is None or _proc.is_alive(*owner):
            continue
        if found is not None:
            _stop_server(found, Path(os.path.abspath(root / "data")), run_as, 30, signals=("QUIT",))
        shutil.rmtree(root, ignore_errors=True)
        reaped.append(root)
    return reaped


def _config(socket_dir: Path, durable: bool, settings: Mapping[str, str | int]) -> str:
    def literal(value: str | int) -> str:
        return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"

    conf: dict[str, str | int] = {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(socket_dir),
        "unix_socket_permissions": "0700",
        "password_encryption": "scram-sha-256",
        "max_connections": 50,
        "shared_buffers": "32MB",
        "logging_collector": "off",
    }
    if not durable:
        conf |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
    conf |= dict(settings)
    lines = [f"{k} = {literal(v)}" for k, v in conf.items()]
    return "\n# storage.testing (throwaway cluster)\n" + "\n".join(lines) + "\n"


def _prepare_root(parent: str | Path | None, run_as: str | None) -> Path:
    root = Path(os.path.abspath(tempfile.mkdtemp(prefix=ROOT_PREFIX, dir=parent)))
    me = os.getpid()
    (root / OWNER_FILE).write_text(f"{me} {_proc.start_time(me)}\n")
    (root / "sock").mkdir(mode=0o700)
    if run_as:
        import pwd

        try:
            entry = pwd.getpwnam(run_as)
        except KeyError as e:
            shutil.rmtree(root, ignore_errors=True)
            raise PostgresNotInstalled(f"running as root, the server must run as the system user {run_as!r}, "
                                       f"which does not exist (Debian's postgresql-common creates it)") from e
        for p in (root, root / "sock"):
            os.chown(p, entry.pw_uid, entry.pw_gid)
        if _run(run_as, ["test", "-w", str(root)], Path("/"), 30).returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            raise PostgresStartError(f"the system user {run_as!r} cannot reach {root}: a directory above it is "
                                     f"closed to that user; choose a parent_dir it can enter (the default is "
                                     f"{tempfile.gettempdir()})")
    return root


def _initdb(bin_dir: Path, root: Path, run_as: str | None, superuser_password: str, durable: bool) -> None:
    pwfile = root / "pwfile"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(superuser_password + "\n")
    if run_as:
        import pwd

        entry = pwd.getpwnam(run_as)
        os.chown(pwfile, entry.pw_uid, entry.pw_gid)
    argv = [str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", SUPERUSER, f"--pwfile={pwfile}",
            "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C"]
    if not durable:
        argv.append("--no-sync")
    try:
        done = _run(run_as, argv, root, 120)
    except subprocess.TimeoutExpired as e:
        raise PostgresStartError(f"initdb did not finish in 120 s in {root}") from e
    finally:
        pwfile.unlink(missing_ok=True)
    if done.returncode != 0:
        out = "\n".join((done.stdout + done.stderr).splitlines()[-_LOG_TAIL_LINES:])
        raise PostgresStartError(f"initdb failed (exit {done.returncode}) in {root}:\n{out}")


def _start(cluster: PostgresCluster, timeout: float) -> subprocess.CompletedProcess:
    argv = [str(cluster.bin_dir / "pg_ctl"), "-D", str(cluster.data_dir), "-l", str(cluster.log_path),
            "-o", f"-p {int(cluster.port)}", "-w", "-t", str(int(timeout)), "start"]
    try:
        return _run(cluster.run_as, argv, cluster.root, timeout + 10)
    except subprocess.TimeoutExpired as e:
        raise PostgresStartError(f"pg_ctl start did not return in {timeout + 10:.0f} s (port {cluster.port});"
                                 f" log tail:\n{cluster.log_tail()}") from e


@contextlib.contextmanager
def postgres_cluster(*, database: str = "smartborder", user: str = "smartborder", port: int | None = None,
                     bin_dir: str | Path | None = None, durable: bool = False,
                     settings: Mapping[str, str | int] | None = None, parent_dir: str | Path | None = None,
                     start_timeout: float = 60.0, attempts: int = 3) -> Iterator[PostgresCluster]:
    """Start a throwaway cluster, yield it (:attr:`PostgresCluster.url` is ``database`` owned by ``user``),
    then stop it and remove its directory, also when the body or the start fails.

    ``port`` is a preference: when it is taken another free port is used, and a start that fails to bind
    (another process took the port in between) is retried on a new one, ``attempts`` times in all.
    ``settings`` are extra ``postgresql.conf`` lines. Raises :class:`PostgresNotInstalled` without the
    binaries and :class:`PostgresStartError` (with the log's tail) when the server does not start."""
    found = find_bin_dir([bin_dir] if bin_dir is not None else None)
    if found is None:
        where = bin_dir if bin_dir is not None else f"{DEBIAN_BIN_GLOB} or PATH"
        raise PostgresNotInstalled(f"no PostgreSQL server binaries ({', '.join(REQUIRED_BINARIES)}) in {where}; "
                                   f"install the Debian package 'postgresql' (make setup as root)")
    database, user = _check_identifier("database", database), _check_identifier("role", user)
    run_as = SYSTEM_USER if os.geteuid() == 0 else None
    reap_stale_clusters(parent_dir, found)
    root = _prepare_root(parent_dir, run_as)
    cluster = PostgresCluster(bin_dir=found, root=root, port=0, database=database, user=user,
                              password=secrets.token_urlsafe(18),
                              superuser_password=secrets.token_urlsafe(18), run_as=run_as)
    try:
        _initdb(found, root, run_as, cluster.superuser_password, durable)
        with open(cluster.data_dir / "postgresql.conf", "a") as f:
            f.write(_config(cluster.socket_dir, durable, settings or {}))
        for attempt in range(1, attempts + 1):
            cluster.port = port if (attempt == 1 and port and port_is_free(port)) else free_port()
            done = _start(cluster, start_timeout)
            if done.returncode == 0:
                break
            tail = cluster.log_tail()
            _stop_server(found, cluster.data_dir, run_as, 10)
            if _BIND_FAILURE.search(tail) and attempt < attempts:
                continue
            raise PostgresStartError(
                f"PostgreSQL did not start (pg_ctl exit {done.returncode}, port {cluster.port}, attempt "
                f"{attempt} of {attempts}): {(done.stderr or done.stdout).strip()[-400:]}\nlog tail:\n{tail}")
        _wait_accepting(cluster, start_timeout)
        cluster.create_database(database, user, cluster.password)
        yield cluster
    finally:
        cluster.stop()


def _wait_accepting(cluster: PostgresCluster, timeout: float) -> None:
    """pg_ctl -w waited on the socket; make sure TCP answers too (a refused connection is retried)."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            try:
                s.connect((cluster.host, cluster.port))
                return
            except OSError as e:
                if time.monotonic() > deadline or e.errno not in (errno.ECONNREFUSED, errno.ETIMEDOUT, None):
                    raise PostgresStartError(f"PostgreSQL started but {cluster.host}:{cluster.port} does not "
                                             f"accept connections ({e}); log tail:\n{cluster.log_tail()}") from e
        time.sleep(0.1)
