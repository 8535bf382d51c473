"""storage.testing's throwaway PostgreSQL cluster and the `postgres` / `postgres_db` fixtures (issue #24 item 3)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

import storage.testing._pg as pg
import storage.testing._proc as _proc
from storage.testing import (
    PostgresError,
    PostgresNotInstalled,
    PostgresStartError,
    find_bin_dir,
    port_is_free,
    postgres_cluster,
    reap_stale_clusters,
)
from tests.conftest import REQUIRE_POSTGRES, postgres_bin_or_skip


@pytest.fixture()
def parent():
    """A directory for the cluster's temporary directory that the `postgres` user can enter (pytest's tmp_path
    is closed to other users, which is its own test below)."""
    path = Path(tempfile.mkdtemp(prefix="pg-parent-"))
    os.chmod(path, 0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_the_session_cluster_answers_select_version(postgres):
    with psycopg.connect(postgres.url, connect_timeout=10) as conn:
        (version,) = conn.execute("select version()").fetchone()
        (user,) = conn.execute("select current_user").fetchone()
    assert version.startswith("PostgreSQL ")
    assert user == postgres.user
    parts = urlsplit(postgres.url)  # compared by part: a failed assertion must not print the password
    assert (parts.scheme, parts.username, parts.hostname, parts.port, parts.path) == (
        "postgresql", postgres.user, "127.0.0.1", postgres.port, f"/{postgres.database}")
    carries_the_password = parts.password == postgres.password
    assert carries_the_password, "the URL does not carry the role's password"


def test_the_repr_shows_no_password(postgres):
    shown = repr(postgres)
    assert postgres.password not in shown and postgres.superuser_password not in shown
    assert "password" not in shown and str(postgres.port) in shown


def test_a_second_connection_sees_committed_data_and_not_uncommitted(postgres_db):
    with psycopg.connect(postgres_db) as a, psycopg.connect(postgres_db) as b:
        a.execute("create table t (k text primary key)")
        a.execute("insert into t values ('committed')")
        a.commit()
        a.execute("insert into t values ('pending')")
        assert b.execute("select k from t order by k").fetchall() == [("committed",)]
        b.rollback()
        a.commit()
        assert b.execute("select k from t order by k").fetchall() == [("committed",), ("pending",)]


def test_a_database_is_closed_to_the_other_roles(postgres):
    """create_database revokes CONNECT from PUBLIC: the vault's key store can be a database its role alone opens."""
    one = postgres.create_database("t_one")
    two = postgres.create_database("t_two")
    try:
        other_db = two.rsplit("/", 1)[0] + "/t_one"
        with pytest.raises(psycopg.OperationalError, match="permission denied|not have CONNECT"):
            psycopg.connect(other_db, connect_timeout=10).close()
        with psycopg.connect(one, connect_timeout=10) as conn:
            assert conn.execute("select current_database()").fetchone() == ("t_one",)
    finally:
        postgres.drop_database("t_one", "t_one")
        postgres.drop_database("t_two", "t_two")


def test_a_wrong_password_is_refused(postgres):
    bad = postgres.url.replace(f":{postgres.password}@", ":not-the-password@")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(bad, connect_timeout=10).close()


def test_stop_removes_the_cluster_also_when_the_body_fails(parent):
    bin_dir = postgres_bin_or_skip()
    with pytest.raises(RuntimeError, match="the body failed"):
        with postgres_cluster(bin_dir=bin_dir, parent_dir=parent) as cluster:
            root, port = cluster.root, cluster.port
            assert (cluster.data_dir / "PG_VERSION").exists()
            assert _accepts(port)
            raise RuntimeError("the body failed")
    assert not root.exists()
    assert list(parent.iterdir()) == []
    assert not _accepts(port)
    cluster.stop()  # twice is harmless


def test_a_port_in_use_is_passed_over(parent):
    bin_dir = postgres_bin_or_skip()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert not port_is_free(taken)
        with postgres_cluster(bin_dir=bin_dir, port=taken, parent_dir=parent) as cluster:
            assert cluster.port != taken
            with psycopg.connect(cluster.url, connect_timeout=10) as conn:
                assert conn.execute("select 1").fetchone() == (1,)


def test_a_port_taken_between_the_pick_and_the_start_is_retried(parent, monkeypatch):
    """The race: free_port hands out a port another process binds before the server does."""
    bin_dir = postgres_bin_or_skip()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        picks = iter([taken])
        real = pg.free_port
        monkeypatch.setattr(pg, "free_port", lambda host="127.0.0.1": next(picks, None) or real(host))
        with postgres_cluster(bin_dir=bin_dir, parent_dir=parent) as cluster:
            assert cluster.port != taken
            assert "could not bind" in cluster.log_tail() or "could not create" in cluster.log_tail()
            with psycopg.connect(cluster.url, connect_timeout=10) as conn:
                assert conn.execute("select 1").fetchone() == (1,)


def test_a_server_that_fails_to_start_raises_a_named_error_with_the_log_tail(parent):
    bin_dir = postgres_bin_or_skip()
    with pytest.raises(PostgresStartError) as caught:
        with postgres_cluster(bin_dir=bin_dir, parent_dir=parent, settings={"shared_buffers": "lots"}):
            pytest.fail("the body ran on a server that cannot have started")
    message = str(caught.value)
    assert "PostgreSQL did not start" in message
    assert "log tail:" in message and "shared_buffers" in message
    assert list(parent.iterdir()) == []


def test_no_binaries_is_a_named_error_and_leaves_nothing(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    assert find_bin_dir([empty]) is None
    with pytest.raises(PostgresNotInstalled, match="install the Debian package 'postgresql'"):
        with postgres_cluster(bin_dir=empty, parent_dir=tmp_path):
            pytest.fail("no server without binaries")
    assert [p.name for p in tmp_path.iterdir()] == ["bin"]


@pytest.mark.parametrize("name", ["Smartborder", "a-b", "x; drop", "", "a" * 64])
def test_names_that_are_not_plain_identifiers_are_refused(tmp_path, name):
    bin_dir = find_bin_dir() or tmp_path  # refused before anything is made
    with pytest.raises(PostgresError, match="not a plain lower-case identifier|no PostgreSQL server binaries"):
        with postgres_cluster(bin_dir=bin_dir, database=name, parent_dir=tmp_path):
            pytest.fail("an unsafe name reached the server")
    assert list(tmp_path.iterdir()) == []


def test_find_bin_dir_takes_the_first_directory_with_all_three_binaries(tmp_path):
    partial, full = tmp_path / "partial", tmp_path / "full"
    for d, names in ((partial, ["initdb", "pg_ctl"]), (full, ["initdb", "pg_ctl", "postgres"])):
        d.mkdir()
        for n in names:
            (d / n).write_text("#!/bin/sh\n")
            os.chmod(d / n, 0o755)
    assert find_bin_dir([partial, full]) == full
    assert find_bin_dir([partial]) is None


def test_missing_binaries_skip_without_the_requirement_and_fail_with_it(monkeypatch):
    monkeypatch.setattr("storage.testing.find_bin_dir", lambda candidates=None: None)
    monkeypatch.delenv(REQUIRE_POSTGRES, raising=False)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL server binaries"):
        postgres_bin_or_skip()
    monkeypatch.setenv(REQUIRE_POSTGRES, "0")
    with pytest.raises(pytest.skip.Exception):
        postgres_bin_or_skip()
    monkeypatch.setenv(REQUIRE_POSTGRES, "1")
    with pytest.raises(pytest.fail.Exception, match="SMARTBORDER_REQUIRE_POSTGRES is set"):
        postgres_bin_or_skip()


def _status_uid(pid: int) -> int:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("Uid:"))
    return int(line.split()[1])


def test_the_server_runs_as_the_postgres_user_under_root(postgres):
    """The postmaster process itself (the pid in postmaster.pid, once /proc confirms it serves this data
    directory), not only the data directory, belongs to the postgres user under root."""
    expected = pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.getuid()
    pid = postgres.server_pid()
    assert pid is not None and pid == pg._postmaster_pid(postgres.data_dir)
    assert _status_uid(pid) == expected
    assert Path(postgres.data_dir).stat().st_uid == expected
    assert postgres.run_as == ("postgres" if os.geteuid() == 0 else None)


def _server_uid() -> int:
    return pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.getuid()


_KILLED_OWNER = """
import os, signal, sys
from storage.testing import postgres_cluster
with postgres_cluster(bin_dir=sys.argv[1], parent_dir=sys.argv[2]) as c:
    print(c.root, c.port, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_cluster_left_by_a_killed_process_is_stopped_and_removed_at_the_next_start(parent):
    """SIGKILL (OOM, a cancelled CI job) skips every finally: the postmaster keeps running, re-parented to
    pid 1, and its directory stays. The next start finds the owner gone and cleans up."""
    bin_dir = postgres_bin_or_skip()
    child = subprocess.run([sys.executable, "-c", _KILLED_OWNER, str(bin_dir), str(parent)], cwd=Path(__file__).parents[2],
                           capture_output=True, text=True, timeout=180, check=False)
    assert child.returncode == -signal.SIGKILL, child.stderr
    root, port = child.stdout.split()
    root, port = Path(root), int(port)
    try:
        left = _proc.find_postmaster(root / "data", _server_uid())
        assert left is not None and _accepts(port) and root.exists()  # the leak this guards against
        with postgres_cluster(bin_dir=bin_dir, parent_dir=parent) as cluster:
            assert not root.exists()
            assert not _proc.is_postmaster(left, root / "data", _server_uid())
            assert not _accepts(port)
            assert [p.name for p in parent.iterdir()] == [cluster.root.name]
    finally:
        reap_stale_clusters(parent, bin_dir)


def test_a_live_owner_is_left_alone_and_a_reused_pid_is_not_an_owner(parent):
    bin_dir = postgres_bin_or_skip()
    stale = parent / "smartborder-pg-reused"
    stale.mkdir()
    (stale / "owner").write_text(f"{os.getpid()} 1\n")  # this pid, another start time: the owner is gone
    unknown = parent / "smartborder-pg-unknown"  # no owner file: nobody can tell, so it stays
    unknown.mkdir()
    with postgres_cluster(bin_dir=bin_dir, parent_dir=parent) as cluster:
        assert not stale.exists() and unknown.exists()
        assert reap_stale_clusters(parent, bin_dir) == []
        assert cluster.root.exists() and cluster.server_pid() is not None
        with psycopg.connect(cluster.url, connect_timeout=10) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    unknown.rmdir()


def test_a_forged_postmaster_pid_is_not_killed_and_the_real_server_still_stops(parent):
    """postmaster.pid is the postgres user's file; a cluster superuser overwrites it with COPY ... TO.
    Stopping must neither signal the process it names nor leave the real server running."""
    bin_dir = postgres_bin_or_skip()
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        with postgres_cluster(bin_dir=bin_dir, parent_dir=parent) as cluster:
            real = cluster.server_pid()
            assert real is not None
            pidfile = cluster.data_dir / "postmaster.pid"
            with psycopg.connect(cluster.superuser_url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f"COPY (SELECT '{bystander.pid}') TO '{pidfile}'")
            assert pg._postmaster_pid(cluster.data_dir) == bystander.pid
            assert not _proc.is_postmaster(bystander.pid, cluster.data_dir, _server_uid())
            assert cluster.server_pid() == real  # found in /proc, not in the forged file
            port = cluster.port
        assert bystander.poll() is None, "the process named by the forged postmaster.pid was killed"
        assert not _proc.is_postmaster(real, cluster.data_dir, _server_uid())
        assert not _accepts(port) and not cluster.root.exists()
    finally:
        bystander.kill()
        bystander.wait()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the cluster to the postgres user")
def test_a_parent_directory_closed_to_the_postgres_user_is_a_named_error(tmp_path):
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    with pytest.raises(PostgresStartError, match="cannot reach"):
        with postgres_cluster(bin_dir=postgres_bin_or_skip(), parent_dir=closed):
            pytest.fail("the cluster started where its user cannot reach")
    assert list(closed.iterdir()) == []
