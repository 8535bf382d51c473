"""Crypto-shredding on PostgreSQL, on the raw files (issue #24 increment 4): a deleted key row survives in dead
tuples and WAL segments, so the rule is that a destroyed data key is unrecoverable once the KEK it was wrapped
under is destroyed. After a shred the key store rotates its KEK, rewrites its tables and switches the WAL; then
wherever the destroyed key's wrapped bytes are still found in the cluster's files, the current KEK cannot
unwrap them and no row of the key store is under the old KEK any more."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from privacy import FileKek, KekError, RawKek, Vault

AAD = b"smartborder-dek\x00"


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if needle in path.read_bytes():
                    hits.append(path)
            except OSError:
                continue
    return hits


def _superuser(postgres, database: str):
    import psycopg

    return psycopg.connect(postgres.superuser_url.rsplit("/", 1)[0] + "/" + database, autocommit=True)


def test_a_shredded_key_is_unrecoverable_from_the_clusters_files(postgres, postgres_keys_db):
    old = RawKek(os.urandom(32))
    vault = Vault(postgres_keys_db, old, next_kek=lambda: RawKek(os.urandom(32)))
    database = vault.db.engine.url.database
    try:
        for i in range(20):
            vault.seal(f"subj-{i}", "template", f"enr-{i}", b"face")
        row = vault.db.one(text("SELECT key_id, wrapped FROM vault_keys WHERE subject_id = 'subj-3'"))
        key_id, wrapped = row["key_id"], bytes(row["wrapped"])
        aad = AAD + len(key_id).to_bytes(4, "big") + key_id.encode() + len(b"subj-3").to_bytes(4, "big") + b"subj-3"
        assert len(old.unwrap(wrapped, aad)) == 32  # the destroyed key's bytes open under the old KEK: it must go
        with _superuser(postgres, database) as su:
            su.execute("CHECKPOINT")  # the row is in the table's file now, as well as in the WAL
            table_file = postgres.data_dir / su.execute("SELECT pg_relation_filepath('vault_keys')").fetchone()[0]
        assert wrapped in table_file.read_bytes()  # the search below finds what is there

        assert vault.shred("subj-3") is True
        started = time.monotonic()
        assert vault.flush() is True  # rotation, VACUUM (FULL), CHECKPOINT, pg_switch_wal()
        scrub_s = time.monotonic() - started
        assert scrub_s < 30

        assert vault.kek.key_id != old.key_id
        left = vault.db.query(text("SELECT kek_id FROM vault_keys UNION ALL SELECT kek_id FROM vault_secrets"))
        assert left and {r["kek_id"] for r in left} == {vault.kek.key_id}  # no row under the old KEK
        assert vault.open("subj-4", "template", "enr-4", vault.seal("subj-4", "template", "enr-4", b"x")) == b"x"
        with _superuser(postgres, database) as su:
            new_table_file = postgres.data_dir / su.execute("SELECT pg_relation_filepath('vault_keys')").fetchone()[0]
            current_wal = su.execute("SELECT pg_walfile_name(pg_current_wal_insert_lsn())").fetchone()[0]
        assert new_table_file != table_file and wrapped not in new_table_file.read_bytes()  # rewritten
        hits = _files_holding(postgres.data_dir, wrapped)
        for path in hits:  # an old WAL segment, the old table file until unlinked at the checkpoint: not the live ones
            assert path != new_table_file and path.name != current_wal, path
        with pytest.raises(KekError):  # wherever the bytes are, the current KEK does not unwrap them
            vault.kek.unwrap(wrapped, aad)
    finally:
        vault.db.close()


def test_without_a_kek_to_rotate_to_the_scrub_says_incomplete(postgres_keys_db, caplog):
    vault = Vault(postgres_keys_db, RawKek(os.urandom(32)))  # an inline KEK cannot rotate
    try:
        vault.seal("subj-1", "template", "enr-1", b"face")
        vault.shred("subj-1")
        assert vault.flush() is False
        assert "cannot rotate" in caplog.text
    finally:
        vault.db.close()


def test_a_kek_file_rotates_in_place_and_another_worker_follows(postgres_keys_db, tmp_path):
    """A FileKek's successor is written beside it and renamed over it once the key store is rewrapped: the old KEK's
    file is gone; another worker still holding the old KEK follows the rotation from the file."""
    path = tmp_path / "keys" / "kek"
    FileKek.generate(path)
    a, b = Vault(postgres_keys_db, FileKek(path)), Vault(postgres_keys_db, FileKek(path))
    try:
        env = a.seal("subj-1", "template", "enr-1", b"face")
        a.seal("subj-2", "template", "enr-2", b"face")
        before = path.read_bytes()
        a.shred("subj-2")
        assert a.flush() is True
        assert path.read_bytes() != before and not path.with_name("kek.next").exists()
        assert FileKek(path).key_id == a.kek.key_id
        b._cache.clear()  # another worker, no data key in memory
        assert b.open("subj-1", "template", "enr-1", env) == b"face" and b.kek.key_id == a.kek.key_id
    finally:
        a.db.close()
        b.db.close()


def test_a_rotation_the_standby_did_not_confirm_keeps_the_old_kek_until_one_is_confirmed(tmp_path):
    """The rotation's COMMIT waits for the synchronous standby; when that wait is cancelled PostgreSQL keeps the
    rotation on the primary alone, and the standby's key store is still under the old KEK. So the old KEK's file
    must stay: the scrub says incomplete and promotes nothing, and a worker that meets the new KEK in the rows
    uses the successor without promoting it. A later rotation the standby confirms promotes it; then the old KEK
    is gone."""
    import threading

    from storage.testing import keys_database, postgres_cluster
    from tests.conftest import postgres_bin_or_skip

    path = tmp_path / "keys" / "kek"
    FileKek.generate(path)
    old_key = path.read_bytes()
    with postgres_cluster(bin_dir=postgres_bin_or_skip(), settings={"synchronous_commit": "on"}) as cluster:
        url = keys_database(cluster, "keys")
        a, b = Vault(url, FileKek(path)), Vault(url, FileKek(path))
        su = _superuser(cluster, "keys")
        try:
            env = a.seal("subj-1", "template", "enr-1", b"face")
            a.seal("subj-2", "template", "enr-2", b"face")
            a.shred("subj-2")
            su.execute("ALTER SYSTEM SET synchronous_standby_names = 'ghost'")  # a standby that never confirms
            su.execute("SELECT pg_reload_conf()")
            time.sleep(0.3)
            result: list = []
            scrub = threading.Thread(target=lambda: result.append(a.flush()))
            scrub.start()
            deadline, pids = time.monotonic() + 30, []
            while not pids and time.monotonic() < deadline:
                pids = [r[0] for r in su.execute("SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'")]
                time.sleep(0.05)
            assert pids, "the rotation's commit did not wait for the standby"
            su.execute("SELECT pg_cancel_backend(%s)", (pids[0],))
            scrub.join(60)
            assert result == [False]  # incomplete: not confirmed
            successor = path.with_name("kek.next")
            assert path.read_bytes() == old_key and successor.exists()  # nothing promoted
            b._cache.clear()  # another worker meets the rotated rows: it follows, and promotes nothing either
            assert b.open("subj-1", "template", "enr-1", env) == b"face"
            assert b.kek.key_id == FileKek(successor).key_id
            assert path.read_bytes() == old_key and successor.exists()

            su.execute("ALTER SYSTEM RESET synchronous_standby_names")  # the standby is back
            su.execute("SELECT pg_reload_conf()")
            time.sleep(0.3)
            assert b.flush() is True  # a confirmed rotation (to the same successor) promotes it
            assert not successor.exists() and path.read_bytes() != old_key
            assert FileKek(path).key_id == b.kek.key_id
            a._cache.clear()
            assert a.open("subj-1", "template", "enr-1", env) == b"face"
        finally:
            su.close()
            a.db.close()
            b.db.close()
