"""storage.testing.standby_of / crash (issue #24 increment 7): what the failover test's clusters need from it
beyond the failover itself (tests/backoffice/test_failover.py): named refusals, and a primary that outlives its
synchronous standby goes back to committing alone, its slot and the standby's directory gone."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest

from storage.testing import (
    REPLICATION_ROLE,
    PostgresCluster,
    PostgresError,
    StandbyError,
    crash,
    postgres_cluster,
    standby_of,
)
from storage.testing._pg import OWNER_FILE
from tests.conftest import postgres_bin_or_skip


def _gone(tmp_path: Path) -> PostgresCluster:
    bin_dir = postgres_bin_or_skip()
    return PostgresCluster(bin_dir=bin_dir, root=tmp_path, port=1, database="d", user="u", password="p",
                           superuser_password="s", run_as=None)


def test_no_standby_of_a_cluster_that_does_not_run(tmp_path):
    with pytest.raises(StandbyError, match="no primary runs on port 1"), standby_of(_gone(tmp_path)):
        pass


def test_no_standby_under_a_name_that_is_not_an_identifier(tmp_path):
    with pytest.raises(StandbyError, match="not a plain lower-case identifier"), \
            standby_of(_gone(tmp_path), name="a'; drop"):
        pass
    with pytest.raises(StandbyError, match="synchronous_commit 'off'"), \
            standby_of(_gone(tmp_path), synchronous_commit="off"):
        pass


def test_no_crash_of_a_cluster_that_does_not_run(tmp_path):
    with pytest.raises(PostgresError, match="nothing to crash"):
        crash(_gone(tmp_path))


def _show(url: str, setting: str) -> str:
    with psycopg.connect(url, connect_timeout=10) as conn:
        return conn.execute(f"SHOW {setting}").fetchone()[0]


def _cancelled_wait_commits_without_the_standby(primary, standby) -> None:
    """What docs/DEPLOYMENT.md section 2 says about cancelling: while the synchronous standby does not stream a
    COMMIT waits (statement_timeout does not end the wait: PostgreSQL disarms it before committing), and a cancel
    request ends it with only a WARNING: the client sees a successful COMMIT of a row the standby never got."""
    with psycopg.connect(primary.url, connect_timeout=10) as conn:
        conn.execute("CREATE TABLE after_setup (k int)")  # a COMMIT the standby confirmed
    standby.wait_caught_up()
    standby.detach()
    warnings: list[str] = []
    with psycopg.connect(primary.url, connect_timeout=10) as conn:
        conn.add_notice_handler(lambda d: warnings.append(f"{d.severity}: {d.message_primary}"))
        conn.execute("SET statement_timeout = 500")
        conn.commit()
        conn.execute("CREATE TABLE cancelled (k int)")
        cancel = threading.Timer(2.5, conn.cancel)
        cancel.start()
        started = time.monotonic()
        conn.commit()  # no error
        waited = time.monotonic() - started
        cancel.join()
    assert waited >= 2.0, f"the COMMIT returned after {waited:.2f} s, before the cancel"
    assert warnings == ["WARNING: canceling wait for synchronous replication due to user request"]
    with psycopg.connect(primary.url, connect_timeout=10) as conn:
        conn.execute("SET synchronous_commit = local")  # read without waiting for anyone
        assert conn.execute("SELECT count(*) FROM cancelled").fetchone()[0] == 0
    with psycopg.connect(standby.url, connect_timeout=10) as conn:  # the same database, on the standby
        assert conn.execute("SELECT to_regclass('public.cancelled'), to_regclass('public.after_setup')").fetchone() \
            == (None, "after_setup")


def test_a_primary_outliving_its_synchronous_standby_commits_alone_again():
    """The fixture's teardown: without it every later COMMIT on the primary would wait for ever for a standby
    that is gone. Also: a standby of a non-durable cluster is still synchronous (synchronous_commit = on)."""
    with postgres_cluster(bin_dir=postgres_bin_or_skip()) as primary:
        assert _show(primary.superuser_url, "synchronous_commit") == "off"
        with standby_of(primary, name="standby_t") as standby:
            root = standby.root
            assert (root / OWNER_FILE).exists()  # reaped like any cluster when this process dies
            assert standby.replication_state() == ("streaming", "sync")
            assert _show(primary.superuser_url, "synchronous_commit") == "on"
            assert _show(primary.superuser_url, "synchronous_standby_names") == 'FIRST 1 ("standby_t")'
            with psycopg.connect(standby.superuser_url, connect_timeout=10) as conn:
                assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
                role = conn.execute("SELECT rolreplication, rolsuper FROM pg_roles WHERE rolname = %s",
                                    (REPLICATION_ROLE,)).fetchone()
                assert role == (True, False)
            _cancelled_wait_commits_without_the_standby(primary, standby)
        assert not root.exists()
        assert _show(primary.superuser_url, "synchronous_standby_names") == ""
        assert _show(primary.superuser_url, "synchronous_commit") == "off"
        done = threading.Event()

        def commit() -> None:
            with psycopg.connect(primary.url, connect_timeout=10) as conn:
                conn.execute("CREATE TABLE after_standby (k int)")
                conn.commit()
            done.set()

        threading.Thread(target=commit, daemon=True).start()
        assert done.wait(30), "a COMMIT still waits for the standby that is gone"
        with psycopg.connect(primary.superuser_url, connect_timeout=10) as conn:
            assert conn.execute("SELECT count(*) FROM pg_replication_slots").fetchone()[0] == 0


def test_a_crashed_cluster_leaves_no_shared_memory_once_stopped():
    """crash() SIGKILLs the server, which leaves its System V segment (postmaster.pid names it) and its
    /dev/shm/PostgreSQL.* segments behind; stop() starts the data directory once and stops it cleanly, and the
    postmaster releases them (nothing is removed by name unless that fails)."""
    from storage.testing._pg import _release_crash_leftovers

    with postgres_cluster(bin_dir=postgres_bin_or_skip()) as cluster:
        with psycopg.connect(cluster.url, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
        pids = crash(cluster)
        left = cluster.crash_leftovers
        assert left is not None and left.sysv_id is not None and left.posix, left
        assert all(Path(f"/proc/{p}/stat").exists() is False or _state(p) in ("Z", "X") for p in pids)
        assert sorted(left.remaining()) == sorted([*left.posix, f"sysv:{left.sysv_id}"])  # what SIGKILL leaves
        assert _release_crash_leftovers(cluster, 30) == []  # none had to be removed by name: the restart did it
        assert left.remaining() == []
        assert cluster.crash_leftovers is None and cluster.server_pid() is None
        assert "database system is shut down" in cluster.log_tail(40)
        cluster.stop()
        assert not cluster.root.exists()


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


def test_a_failed_sigkill_leaves_no_postmaster_stopped(monkeypatch):
    """crash() stops the postmaster (SIGSTOP) before it lists and kills; when the kill fails the postmaster gets
    SIGCONT: it runs and answers again."""
    import storage.testing._standby as standby_module

    real_run = standby_module._run

    def refuse_kill(run_as, argv, cwd, timeout):
        if argv[:2] == ["kill", "-KILL"]:
            return subprocess.CompletedProcess(argv, 1, "", "kill: operation not permitted")
        return real_run(run_as, argv, cwd, timeout)

    with postgres_cluster(bin_dir=postgres_bin_or_skip()) as cluster:
        pid = cluster.server_pid()
        monkeypatch.setattr(standby_module, "_run", refuse_kill)
        with pytest.raises(PostgresError, match="kill -KILL .* failed"):
            crash(cluster)
        assert _state(pid) != "T" and cluster.crash_leftovers is None
        with psycopg.connect(cluster.url, connect_timeout=10) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
