"""storage.testing's throwaway PostgreSQL cluster and the `postgres` / `postgres_db` fixtures (issue #24 item 3)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import psycopg
import pytest

import storage.testing._pg as pg
from storage.testing import (
    PostgresError,
    PostgresNotInstalled,
    PostgresStartError,
    find_bin_dir,
    port_is_free,
    postgres_cluster,
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
    assert postgres.url.startswith(f"postgresql://{postgres.user}:") and f"@127.0.0.1:{postgres.port}/" in postgres.url


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


def test_the_server_runs_as_the_postgres_user_under_root(postgres):
    owner = Path(postgres.data_dir).stat().st_uid
    if os.geteuid() == 0:
        import pwd

        assert owner == pwd.getpwnam("postgres").pw_uid
        assert postgres.run_as == "postgres"
    else:
        assert owner == os.geteuid()
        assert postgres.run_as is None


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the cluster to the postgres user")
def test_a_parent_directory_closed_to_the_postgres_user_is_a_named_error(tmp_path):
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    with pytest.raises(PostgresStartError, match="cannot reach"):
        with postgres_cluster(bin_dir=postgres_bin_or_skip(), parent_dir=closed):
            pytest.fail("the cluster started where its user cannot reach")
    assert list(closed.iterdir()) == []
