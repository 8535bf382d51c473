import base64
import shutil
import sqlite3

import pytest

from privacy import (
    EnvKek,
    FileKek,
    IntegrityError,
    KekError,
    KeyNotFoundError,
    RawKek,
    SubjectShreddedError,
    Vault,
    envelope_key_id,
)
from storage import open_database
from tests.privacy.conftest import raw

IMAGE = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 400  # a ~100 KB "JPEG"


@pytest.fixture()
def vault(tmp_path, kek, clock):
    return Vault(tmp_path / "keys.db", kek, clock=clock)


def test_envelope_round_trip_and_format(vault):
    env = vault.seal("subj_a", "live_image", "tx-1", IMAGE)
    assert env[:3] == b"SBV" and env[3] == 1 and env[4] == 1
    assert envelope_key_id(env).startswith("dek_")
    assert len(env) == len(IMAGE) + 6 + len(envelope_key_id(env)) + 12 + 16
    assert IMAGE[:64] not in env
    assert vault.open("subj_a", "live_image", "tx-1", env) == IMAGE
    # every envelope has a data key of its own, also within one subject
    assert envelope_key_id(vault.seal("subj_a", "template", "e-1", b"x")) != envelope_key_id(env)
    assert envelope_key_id(vault.seal("subj_b", "template", "e-2", b"x")) != envelope_key_id(env)
    # fresh nonce each time
    assert vault.seal("subj_a", "live_image", "tx-1", IMAGE) != env


@pytest.mark.parametrize("subject, category, record", [
    ("subj_a", "live_image", "tx-2"),   # another record
    ("subj_a", "chip_image", "tx-1"),   # another category
])
def test_aad_binds_record_and_category(vault, subject, category, record):
    env = vault.seal("subj_a", "live_image", "tx-1", b"face bytes")
    with pytest.raises(IntegrityError):
        vault.open(subject, category, record, env)


def test_swapped_envelopes_between_subjects_and_records_fail(vault):
    a = vault.seal("subj_a", "exception", "exc-1", b'{"surname": "NGUYEN"}')
    b = vault.seal("subj_b", "exception", "exc-2", b'{"surname": "WANG"}')
    with pytest.raises(IntegrityError, match="another data subject"):
        vault.open("subj_b", "exception", "exc-2", a)
    with pytest.raises(IntegrityError):
        vault.open("subj_a", "exception", "exc-1", b[:-1] + bytes([b[-1] ^ 1]))
    with pytest.raises(IntegrityError):
        vault.open("subj_a", "exception", "exc-1", a[:20])
    with pytest.raises(IntegrityError, match="not a vault envelope"):
        vault.open("subj_a", "exception", "exc-1", b"plain text")
    flipped = bytearray(a)
    flipped[-20] ^= 0x80
    with pytest.raises(IntegrityError):
        vault.open("subj_a", "exception", "exc-1", bytes(flipped))


def test_unknown_key(vault, tmp_path, kek):
    env = vault.seal("subj_a", "template", "e-1", b"t")
    other = Vault(tmp_path / "other.db", kek)
    with pytest.raises(KeyNotFoundError):
        other.open("subj_a", "template", "e-1", env)


def test_shred_makes_every_copy_unreadable(tmp_path, kek, clock):
    keys = tmp_path / "keys.db"
    vault = Vault(keys, kek, clock=clock)
    data = open_database(tmp_path / "data.db")
    data.execute("CREATE TABLE items (subject TEXT, record TEXT, env BLOB)")
    name = "NGUYỄN VĂN AN".encode()
    for subject, record, plain in (("subj_a", "enr-1", b'{"name": "' + name + b'"}'), ("subj_a", "img-1", IMAGE),
                                   ("subj_b", "enr-2", b'{"name": "WANG"}')):
        data.execute("INSERT INTO items VALUES (?, ?, ?)", [subject, record, vault.seal(subject, "x", record, plain)])
    data.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    backup = tmp_path / "backup-data.db"
    shutil.copyfile(tmp_path / "data.db", backup)
    key_row = raw(vault.db, "SELECT wrapped FROM vault_keys WHERE subject_id = 'subj_a'").fetchone()[0]

    assert vault.shred("subj_a") is True
    assert vault.shred("subj_a") is False  # idempotent
    for path in (tmp_path / "data.db", backup):
        data_bytes = path.read_bytes()
        assert name not in data_bytes and IMAGE[:64] not in data_bytes
        conn = sqlite3.connect(path)
        rows = conn.execute("SELECT subject, record, env FROM items").fetchall()
        conn.close()
        for subject, record, env in rows:
            if subject == "subj_a":
                with pytest.raises(SubjectShreddedError):
                    vault.open(subject, "x", record, env)
            else:
                assert vault.open(subject, "x", record, env) == b'{"name": "WANG"}'
    # the wrapped key is overwritten in the key store file (secure_delete + checkpoint), WAL included
    raw_keys = keys.read_bytes() + (keys.with_name("keys.db-wal").read_bytes()
                                    if keys.with_name("keys.db-wal").exists() else b"")
    assert bytes(key_row) not in raw_keys
    # a fresh vault on the same store (another process) agrees
    again = Vault(keys, kek)
    assert again.is_shredded("subj_a") and not again.is_shredded("subj_b")
    # the subject can come back (a new enrolment) with a new key; the old envelopes stay dead
    env = vault.seal("subj_a", "x", "enr-9", b"new")
    assert vault.open("subj_a", "x", "enr-9", env) == b"new"
    with pytest.raises(SubjectShreddedError):
        vault.open("subj_a", "x", "img-1", rows[1][2] if rows[1][0] == "subj_a" else rows[0][2])


def test_kek_rotation_rewraps_keys_only(tmp_path, kek, clock):
    vault = Vault(tmp_path / "keys.db", kek, clock=clock)
    envs = {f"subj_{i}": vault.seal(f"subj_{i}", "template", f"e-{i}", f"template {i}".encode()) for i in range(20)}
    snapshot = {k: bytes(v) for k, v in envs.items()}
    pseudonym = vault.pseudonym("C1234567", "VNM")
    before = dict(raw(vault.db, "SELECT key_id, wrapped FROM vault_keys").fetchall())
    new = RawKek(bytes(range(1, 33)))
    assert vault.rotate_kek(new) == 20 + 1  # 20 data keys + the pseudonymisation secret
    after = dict(raw(vault.db, "SELECT key_id, wrapped FROM vault_keys").fetchall())
    assert before.keys() == after.keys() and all(before[k] != after[k] for k in before)
    assert envs == snapshot  # ciphertexts unchanged
    fresh = Vault(tmp_path / "keys.db", new)
    for subject, env in envs.items():
        assert fresh.open(subject, "template", "e-" + subject[5:], env) == f"template {subject[5:]}".encode()
    assert fresh.pseudonym("C1234567", "VNM") == pseudonym
    with pytest.raises(KekError):
        Vault(tmp_path / "keys.db", kek).open("subj_1", "template", "e-1", envs["subj_1"])


def test_file_and_env_keks(tmp_path):
    path = tmp_path / "kek.b64"
    k = FileKek.generate(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert FileKek(path).key_id == k.key_id and "file:" in k.key_id
    wrapped = k.wrap(b"k" * 32, b"aad")
    assert FileKek(path).unwrap(wrapped, b"aad") == b"k" * 32
    with pytest.raises(KekError):
        k.unwrap(wrapped, b"other aad")
    key = bytes(range(32))
    env = EnvKek("SB_KEK", {"SB_KEK": key.hex()})
    assert env.unwrap(RawKek(base64.b64encode(key).decode()).wrap(b"x" * 32, b""), b"") == b"x" * 32
    assert key.hex() not in repr(env)
    with pytest.raises(KekError):
        EnvKek("SB_KEK", {})
    with pytest.raises(KekError):
        RawKek("too short")
    with pytest.raises(KekError):
        FileKek(tmp_path / "missing")


def test_pseudonyms(vault):
    a = vault.pseudonym("C1234567", "VNM")
    assert a == vault.pseudonym("c123 4567", "vnm") and a != vault.pseudonym("C1234567", "CHN")
    assert "1234567" not in a and a.startswith("subj_")
    assert vault.db.checkpoint_truncate()
    with open(vault.db.url.database, "rb") as f:
        assert b"C1234567" not in f.read()


def test_prune_tombstones(vault, clock):
    import datetime as dt

    env = vault.seal("outbox:1", "outbox", "1", b"payload")
    vault.shred("outbox:1")
    clock.travel(days=40)
    assert vault.prune_tombstones(clock() - dt.timedelta(days=30)) == 2  # subject + key records
    assert not vault.is_shredded("outbox:1")
    with pytest.raises(KeyNotFoundError):
        vault.open("outbox:1", "outbox", "1", env)
