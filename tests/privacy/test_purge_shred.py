"""The retention purge is crypto-shredding, proven on the bytes of the files: each purged item's data key
is destroyed, a backup of the data taken before the purge opens to "shredded", no ciphertext or wrapped
key survives in a database or WAL file, and every file is private to the service's user."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import stat

import pytest

from privacy import KeyFileError, SubjectShreddedError, Vault, envelope_key_id, open_privacy
from storage import open_database
from tests.privacy.conftest import raw

IMAGE = bytes(range(256)) * 64  # 16 KiB: spills into overflow pages like a real photo
D = dt.timedelta(days=1)


def _backup(src, dest) -> None:
    """An online backup, as an operator's `sqlite3 .backup` or a file-level copy after a checkpoint."""
    with sqlite3.connect(src) as a, sqlite3.connect(dest) as b:
        a.backup(b)


def _files(path) -> dict[str, bytes]:
    out = {}
    for suffix in ("", "-wal", "-shm"):
        p = path.with_name(path.name + suffix)
        if p.exists():
            out[p.name] = p.read_bytes()
    return out


def _live_image(stack, record: str, subject: str = "subj_a") -> str:
    ref = stack.p.seal_item(subject, "live_image", record, IMAGE)
    stack.p.retention.end(record, stack.clock())
    return ref


def test_purge_destroys_the_key_and_a_restored_backup_cannot_open_the_item(stack, tmp_path):
    purged_ref = _live_image(stack, "tx-1")
    kept_ref = stack.p.seal_item("subj_a", "template", "enr-1", b"template bytes")
    envelope = stack.p.retention.get(purged_ref).payload
    key_id = envelope_key_id(envelope)
    assert stack.p.vault.key_exists(key_id)
    _backup(stack.data_path, tmp_path / "backup.db")

    stack.clock.travel(days=2)
    report = stack.p.retention.purge()
    assert report.purged == 1 and report.keys_shredded == 1 and report.wal_truncated

    assert not stack.p.vault.key_exists(key_id)
    assert stack.p.open_item(purged_ref) is None
    assert stack.p.open_item(kept_ref) == b"template bytes"  # the subject's other item keeps its own key
    # the backup still holds the envelope; the live key store no longer holds its key
    with sqlite3.connect(tmp_path / "backup.db") as b:
        (restored,) = b.execute("SELECT payload FROM retention_items WHERE ref = ?", [purged_ref]).fetchone()
    assert bytes(restored) == envelope
    with pytest.raises(SubjectShreddedError):
        stack.p.vault.open("subj_a", "live_image", "tx-1", bytes(restored))


def test_no_ciphertext_or_wrapped_key_survives_in_the_files(stack):
    ref = _live_image(stack, "tx-1")
    envelope = stack.p.retention.get(ref).payload
    key_id = envelope_key_id(envelope)
    (wrapped,) = raw(stack.p.vault.db, "SELECT wrapped FROM vault_keys WHERE key_id = ?", [key_id]).fetchone()
    # the envelope sits in the data files and the wrapped key in the key store's before the purge
    assert any(envelope[-64:] in b for b in _files(stack.data_path).values())
    assert any(bytes(wrapped) in b for b in _files(stack.keys_path).values())

    stack.clock.travel(days=2)
    assert stack.p.retention.purge().purged == 1

    for name, data in _files(stack.data_path).items():
        for chunk in (envelope[-64:], envelope[len(envelope) // 2:len(envelope) // 2 + 64]):
            assert chunk not in data, f"ciphertext of the purged item left in {name}"
    for name, data in _files(stack.keys_path).items():
        assert bytes(wrapped) not in data, f"the purged item's wrapped key left in {name}"
        assert key_id.encode() not in data, f"the purged item's key id left in {name}"
    for path in (stack.data_path, stack.keys_path):
        wal = path.with_name(path.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0


def test_a_key_shared_with_live_items_is_taken_off_them_before_it_is_shredded(stack, tmp_path, monkeypatch):
    """Data sealed when a subject had one key for everything: purging one item re-seals the subject's
    other items under keys of their own, then destroys the shared key."""
    vault = stack.p.vault
    first = vault._new_key("subj_a")
    monkeypatch.setattr(vault, "_new_key", lambda subject: first)  # the old scheme: one key per subject
    purged_ref = _live_image(stack, "tx-1")
    live_ref = stack.p.seal_item("subj_a", "template", "enr-1", b"still needed")
    monkeypatch.undo()
    shared = envelope_key_id(stack.p.retention.get(purged_ref).payload)
    assert envelope_key_id(stack.p.retention.get(live_ref).payload) == shared
    _backup(stack.data_path, tmp_path / "backup.db")

    stack.clock.travel(days=2)
    report = stack.p.retention.purge()
    assert (report.purged, report.rekeyed, report.keys_shredded) == (1, 1, 1)
    assert not vault.key_exists(shared)
    live = stack.p.retention.get(live_ref)
    assert envelope_key_id(live.payload) != shared
    assert stack.p.open_item(live_ref) == b"still needed"
    with sqlite3.connect(tmp_path / "backup.db") as b:
        (old,) = b.execute("SELECT payload FROM retention_items WHERE ref = ?", [purged_ref]).fetchone()
    with pytest.raises(SubjectShreddedError):
        vault.open("subj_a", "live_image", "tx-1", bytes(old))


def test_a_crash_after_the_shred_leaves_the_item_unreadable_and_the_next_purge_removes_it(stack):
    ref = _live_image(stack, "tx-1")
    stack.clock.travel(days=2)

    def crash(n):
        raise RuntimeError("power cut")

    stack.p.retention._after_batch = crash
    with pytest.raises(RuntimeError):
        stack.p.retention.purge()
    stack.p.retention._after_batch = None
    item = stack.p.retention.get(ref)
    assert item is not None  # the deletion rolled back ...
    with pytest.raises(SubjectShreddedError):  # ... but its key is gone: deleted counts only once it is
        stack.p.vault.open(item.subject_id, item.category, item.record_id, item.payload)
    assert stack.p.retention.purge().purged == 1
    assert stack.p.retention.get(ref) is None


def test_erasure_truncates_the_wal_files(stack):
    stack.p.seal_item(stack.p.vault.pseudonym("C1234567"), "template", "enr-1", IMAGE)
    stack.p.subjects.erase_subject("C1234567")
    for path in (stack.data_path, stack.keys_path):
        wal = path.with_name(path.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
        assert IMAGE[:64] not in path.read_bytes()


# -- file modes ---------------------------------------------------------------------------------------------
def _mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_databases_and_their_wal_files_are_created_0600_in_0700_directories(tmp_path, kek):
    old = os.umask(0o022)  # a typical service umask: files would be 0644, directories 0755
    try:
        data, keys = tmp_path / "data" / "sub" / "d.db", tmp_path / "keys" / "k.db"
        p = open_privacy(data, keys, kek)
        p.seal_item("subj_a", "template", "enr-1", b"x")
    finally:
        os.umask(old)
    for path in (data, keys):
        for suffix in ("", "-wal", "-shm"):
            f = path.with_name(path.name + suffix)
            assert f.exists(), f
            assert _mode(f) == 0o600, (f, oct(_mode(f)))
    for d in (data.parent, data.parent.parent, keys.parent):
        assert _mode(d) == 0o700, (d, oct(_mode(d)))


def test_a_key_store_open_to_others_is_refused(tmp_path, kek):
    keys = tmp_path / "keys" / "k.db"
    Vault(keys, kek).seal("subj_a", "template", "enr-1", b"x")
    os.chmod(keys, 0o644)
    with pytest.raises(KeyFileError, match=r"chmod 600"):
        Vault(keys, kek)
    os.chmod(keys, 0o600)
    os.chmod(keys.parent, 0o755)
    with pytest.raises(KeyFileError, match=r"chmod 700"):
        Vault(keys, kek)
    os.chmod(keys.parent, 0o700)
    Vault(keys, kek)  # private again: accepted


def test_an_existing_data_database_open_to_others_is_tightened(tmp_path):
    path = tmp_path / "d.db"
    open_database(path).close()
    os.chmod(path, 0o644)
    open_database(path).close()
    assert _mode(path) == 0o600


def test_the_purge_shreds_within_a_batch_and_over_many_batches(stack):
    refs = [_live_image(stack, f"tx-{i}", subject=f"subj_{i % 3}") for i in range(7)]
    keys = {envelope_key_id(stack.p.retention.get(r).payload) for r in refs}
    assert len(keys) == 7
    stack.clock.travel(days=2)
    report = stack.p.retention.purge(batch=3)
    assert report.purged == 7 and report.keys_shredded == 7
    assert not any(stack.p.vault.key_exists(k) for k in keys)


def test_a_damaged_envelope_still_has_its_key_destroyed(stack, tmp_path):
    """The key id is recorded when an item is registered: an envelope damaged later (a flipped magic byte)
    does not keep its key alive past the purge."""
    ref = _live_image(stack, "tx-1")
    envelope = stack.p.retention.get(ref).payload
    key_id = envelope_key_id(envelope)
    _backup(stack.data_path, tmp_path / "backup.db")
    with sqlite3.connect(stack.data_path) as conn:
        conn.execute("UPDATE retention_items SET payload = ? WHERE ref = ?", [b"XBV" + envelope[3:], ref])
    stack.clock.travel(days=2)
    report = stack.p.retention.purge()
    assert report.purged == 1 and report.keys_shredded == 1 and report.unshredded == 0 and report.complete
    assert not stack.p.vault.key_exists(key_id)
    with pytest.raises(SubjectShreddedError):
        stack.p.vault.open("subj_a", "live_image", "tx-1", envelope)


def test_a_payload_that_is_no_envelope_is_refused_at_registration(stack):
    from privacy import RetentionError

    with pytest.raises(RetentionError, match="not a vault envelope"):
        stack.p.retention.register("live_image", "tx-1", "subj_a", payload=b"\xff\xd8\xff\xe0 a bare JPEG")


def test_a_reader_holding_the_wal_makes_the_purge_say_it_is_incomplete(stack):
    _live_image(stack, "tx-1")
    stack.clock.travel(days=2)
    reader = sqlite3.connect(stack.data_path)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM retention_items").fetchone()  # a snapshot the checkpoint must wait for
        report = stack.p.retention.purge()
    finally:
        reader.close()
    assert report.purged == 1 and report.keys_shredded == 1
    assert report.wal_truncated is False and report.complete is False and report.to_dict()["complete"] is False
    assert stack.p.retention.flush()  # the reader gone, the next checkpoint empties the WAL


def test_a_data_directory_open_to_others_is_named_in_the_log(tmp_path, caplog):
    import logging

    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    with caplog.at_level(logging.WARNING, logger="storage"):
        open_database(shared / "d.db").close()
    assert any("chmod 700" in r.getMessage() and str(shared) in r.getMessage() for r in caplog.records)
    assert _mode(shared / "d.db") == 0o600  # the database itself is private all the same


def test_a_purge_without_the_vault_does_not_call_itself_complete(stack):
    """Deleting the rows of sealed items without destroying their keys leaves every other copy readable:
    the report says so rather than counting the data as deleted."""
    _live_image(stack, "tx-1")
    stack.clock.travel(days=2)
    stack.p.retention.vault = None
    report = stack.p.retention.purge()
    assert report.purged == 1 and report.keys_shredded == 0
    assert report.unshredded == 1 and report.complete is False
