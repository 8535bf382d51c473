"""Key-file checks on real files: only a private regular file of ours, kept out of the data directory, is read."""

from __future__ import annotations

import base64
import os

import pytest

from privacy import FileKek, KekError, KeyFileError, check_key_file, check_key_location, read_key_file

KEY = base64.b64encode(bytes(range(32))).decode() + "\n"


def _key_file(path, mode):
    path.write_text(KEY)
    os.chmod(path, mode)
    return path


def test_a_0600_key_file_loads(tmp_path):
    path = _key_file(tmp_path / "kek.b64", 0o600)
    check_key_file(path)
    assert FileKek(path).key_id.startswith("file:")
    assert read_key_file(path) == KEY.encode()


def test_a_0400_key_file_loads(tmp_path):
    path = _key_file(tmp_path / "kek.b64", 0o400)
    assert FileKek(path).key_id == FileKek(_key_file(tmp_path / "copy.b64", 0o600)).key_id


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o601, 0o610, 0o700 | 0o044])
def test_group_or_world_access_is_refused(tmp_path, mode):
    path = _key_file(tmp_path / "kek.b64", mode)
    with pytest.raises(KeyFileError) as e:
        FileKek(path)
    message = str(e.value)
    assert str(path) in message and f"{mode:04o}" in message and f"chmod 600 {path}" in message
    with pytest.raises(KeyFileError):
        check_key_file(path)
    with pytest.raises(KekError):  # KeyFileError is a KekError: existing handlers still catch it
        read_key_file(path)
    os.chmod(path, 0o600)  # the fix the message names works
    FileKek(path)


def test_a_symlink_is_refused_even_to_a_private_file(tmp_path):
    target = _key_file(tmp_path / "real.b64", 0o600)
    link = tmp_path / "link.b64"
    link.symlink_to(target)
    with pytest.raises(KeyFileError, match="symbolic link"):
        FileKek(link)
    with pytest.raises(KeyFileError, match="symbolic link"):
        check_key_file(link)
    FileKek(target)


def test_a_directory_or_a_fifo_is_refused(tmp_path):
    d = tmp_path / "kek.d"
    d.mkdir(mode=0o700)
    with pytest.raises(KeyFileError, match="not a regular file"):
        FileKek(d)
    fifo = tmp_path / "kek.fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(KeyFileError, match="not a regular file"):
        FileKek(fifo)  # refused, and never blocks opening the pipe


def test_a_missing_key_file_is_a_key_file_error(tmp_path):
    with pytest.raises(KeyFileError, match="No such file"):
        FileKek(tmp_path / "missing")


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_key_file_owned_by_another_user_is_refused(tmp_path):
    path = _key_file(tmp_path / "kek.b64", 0o600)
    os.chown(path, 65534, 65534)
    with pytest.raises(KeyFileError, match="owned by uid 65534"):
        FileKek(path)


def test_generate_writes_0600_and_creates_the_directory_0700(tmp_path):
    path = tmp_path / "keys" / "gate.kek"
    k = FileKek.generate(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    assert FileKek(path).key_id == k.key_id
    with pytest.raises(KekError):
        FileKek.generate(path)  # never overwrites a key
    existing = tmp_path / "shared"
    existing.mkdir(mode=0o755)
    FileKek.generate(existing / "k.kek")
    assert oct(existing.stat().st_mode & 0o777) == "0o755"  # an existing directory is left alone


def test_generate_keeps_0600_under_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        FileKek.generate(tmp_path / "k.kek")
    finally:
        os.umask(old)
    assert (tmp_path / "k.kek").stat().st_mode & 0o777 == 0o600


def test_key_inside_the_data_directory_is_refused(tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    keys = tmp_path / "keys"
    keys.mkdir()
    with pytest.raises(KeyFileError) as e:
        check_key_location(data / "gate.kek", data)
    assert "gate.kek" in str(e.value) and str(data) in str(e.value)
    with pytest.raises(KeyFileError):
        check_key_location(data / "sub" / "gate.kek", data)
    with pytest.raises(KeyFileError):
        check_key_location(keys / ".." / "data" / "gate.kek", data)  # resolved, '..' does not hide it
    (tmp_path / "alias").symlink_to(data)
    with pytest.raises(KeyFileError):
        check_key_location(tmp_path / "alias" / "gate.kek", data)  # nor does a symlinked directory
    check_key_location(keys / "gate.kek", data)
    check_key_location(tmp_path / "data-keys" / "gate.kek", data)  # a sibling with a common prefix is outside


def test_a_key_file_with_a_second_hard_link_is_refused(tmp_path):
    key = tmp_path / "keys" / "k.kek"
    key.parent.mkdir()
    key.write_text("x" * 44)
    key.chmod(0o600)
    check_key_file(key)
    (tmp_path / "data").mkdir()
    os.link(key, tmp_path / "data" / "copy.kek")  # the same inode inside the data directory
    with pytest.raises(KeyFileError, match="hard links"):
        check_key_file(key)
