"""Key-encryption keys (KEK): the root keys that wrap each data subject's data key.

A provider only wraps and unwraps; where the key lives is its own business, so a PKCS#11/HSM
backend fills the same :class:`KeyEncryptionKeyProvider` protocol (``C_WrapKey``/``C_UnwrapKey``
with ``CKM_AES_GCM``) without the vault changing. The software providers here use AES-256-GCM
key wrapping (NIST SP 800-38D; a random 96-bit nonce per wrap, the associated data binds the
wrapped key to its owner).

Key files (a KEK, a signing key, a device secret) are checked by :func:`check_key_file` before
they are read, and kept out of the data directory (:func:`check_key_location`), so a key that
other users can read, or that data backups would carry, is refused rather than used: a backup
that holds the KEK beside the wrapped data keys defeats crypto-shredding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privacy._errors import KekError, KeyFileError

__all__ = ["EnvKek", "FileKek", "KeyEncryptionKeyProvider", "RawKek", "check_key_file", "check_key_location",
           "parse_key"]

_NONCE = 12


def _check_stat(path: Path, st: os.stat_result) -> None:
    """Refuse ``st`` (an lstat/fstat of ``path``) unless it is a regular file private to the effective user."""
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        raise KeyFileError(f"the key file {path} is a symbolic link; point the setting at the file itself")
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"the key file {path} is not a regular file (mode {stat.filemode(st.st_mode)})")
    euid = os.geteuid()
    if st.st_uid != euid:
        raise KeyFileError(f"the key file {path} is owned by uid {st.st_uid}, not by the user running this "
                           f"process (uid {euid}); fix: chown {euid} {path} && chmod 600 {path}")
    if mode & 0o077:
        raise KeyFileError(f"the key file {path} has mode {mode:04o}: group or others can access it; "
                           f"fix: chmod 600 {path}")
    if st.st_nlink > 1:  # another name for the same key, e.g. a hard link inside the data directory
        raise KeyFileError(f"the key file {path} has {st.st_nlink} hard links: another path (inside the data, or a "
                           "backup) reaches the same key; keep one link")


def check_key_file(path: str | Path) -> None:
    """Raise :class:`KeyFileError` unless ``path`` is a regular file (not a symlink), owned by the
    effective user, with no permission for group or others (``mode & 0o077 == 0``, e.g. 0600 or 0400).

    The message names the path, the mode found and the fix (``chmod 600 PATH``).
    """
    path = Path(path)
    try:
        st = os.lstat(path)
    except OSError as e:
        raise KeyFileError(f"cannot read the key file {path}: {e.strerror or e}") from e
    _check_stat(path, st)


def check_key_location(key_path: str | Path, data_dir: str | Path) -> None:
    """Raise :class:`KeyFileError` when ``key_path`` lies inside ``data_dir`` (both resolved, so
    symlinks and ``..`` do not hide it): the key must stay out of the data and its backups."""
    key, data = Path(key_path).resolve(), Path(data_dir).resolve()
    if key == data or key.is_relative_to(data):
        raise KeyFileError(f"the key file {key_path} lies inside the data directory {data_dir}: data backups "
                           f"would carry it (and crypto-shredding would not reach them); move it out of {data}")


def read_key_file(path: str | Path) -> bytes:
    """The bytes of a key file after :func:`check_key_file`; the open descriptor is checked again
    (``O_NOFOLLOW`` + ``fstat``) so the file cannot be swapped between the check and the read."""
    path = Path(path)
    check_key_file(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise KeyFileError(f"cannot read the key file {path}: {e.strerror or e}") from e
    try:
        _check_stat(path, os.fstat(fd))
        with os.fdopen(fd, "rb") as f:
            fd = -1
            return f.read()
    except OSError as e:
        raise KeyFileError(f"cannot read the key file {path}: {e.strerror or e}") from e
    finally:
        if fd >= 0:
            os.close(fd)


@runtime_checkable
class KeyEncryptionKeyProvider(Protocol):
    """What the vault needs from a KEK: a stable id and authenticated wrap/unwrap of small keys."""

    @property
    def key_id(self) -> str:
        """A stable identifier of this KEK (never the key itself)."""
        ...

    def wrap(self, key: bytes, aad: bytes) -> bytes:
        """Encrypt ``key`` (a data key or secret), binding ``aad``."""
        ...

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        """Reverse :meth:`wrap`; raise :class:`KekError` if ``wrapped`` or ``aad`` do not match."""
        ...


def parse_key(raw: bytes | str) -> bytes:
    """A 32-byte key from raw bytes, hex or base64 (standard or URL-safe) text."""
    if isinstance(raw, bytes) and len(raw) == 32:
        return raw
    try:
        text = (raw.decode("ascii") if isinstance(raw, bytes) else raw).strip()
    except UnicodeDecodeError as e:
        raise KekError("the KEK must be 32 bytes, or 32 bytes in hex or base64") from e
    decoders = (bytes.fromhex, lambda t: base64.b64decode(t, validate=True),
                lambda t: base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)))
    for decode in decoders:
        try:
            key = decode(text)
        except (ValueError, binascii.Error):
            continue
        if len(key) == 32:
            return key
    raise KekError("the KEK must be 32 bytes, or 32 bytes in hex or base64")


class RawKek:
    """A software AES-256 KEK held in memory (the base of :class:`FileKek` and :class:`EnvKek`)."""

    def __init__(self, key: bytes | str, *, label: str = "raw") -> None:
        key = parse_key(key)
        self._aead = AESGCM(key)
        # an identifier derived one-way from the key: tells keys apart, reveals nothing
        self._key_id = f"{label}:" + hashlib.sha256(b"smartborder-kek-id\x00" + key).hexdigest()[:16]

    @property
    def key_id(self) -> str:
        return self._key_id

    def wrap(self, key: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, key, aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        if len(wrapped) < _NONCE + 16:
            raise KekError("wrapped key is truncated")
        try:
            return self._aead.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], aad)
        except InvalidTag as e:
            raise KekError(f"the KEK {self._key_id} cannot unwrap this key (wrong KEK or tampered)") from e

    def __repr__(self) -> str:  # never show the key
        return f"{type(self).__name__}({self._key_id})"


class FileKek(RawKek):
    """A KEK read from a file holding 32 raw bytes, or hex/base64 text.

    The file is checked first (:func:`check_key_file`): a symlink, a non-regular file, a file open to
    group or others, or one owned by another user is refused with :class:`KeyFileError`.
    """

    def __init__(self, path: str | Path, *, target: str | Path | None = None) -> None:
        self.path = Path(path)
        #: a successor's (:meth:`successor`) file name once promoted; None for the configured file itself
        self.target = None if target is None else Path(target)
        raw = read_key_file(self.path)
        super().__init__(raw if len(raw) == 32 else raw.strip(), label="file")

    def next_path(self) -> Path:
        """Where :meth:`successor` writes the next KEK: ``<file>.next`` beside it (same directory, same checks)."""
        base = self.target or self.path
        return base.with_name(base.name + ".next")

    def successor(self) -> FileKek:
        """The KEK the vault rotates to (PostgreSQL's shredding rule): a new random key in :meth:`next_path`, 0600,
        or the one a rotation interrupted before :meth:`promote` left there. Not in use until promoted."""
        nxt = self.next_path()
        if not nxt.exists():
            try:
                FileKek.generate(nxt)
            except KekError:
                if not nxt.exists():
                    raise
        return FileKek(nxt, target=self.target or self.path)

    def promote(self) -> None:
        """After the key store was rewrapped under this successor: it replaces the configured file (an atomic
        rename; the old key's file is unlinked), so the old KEK is gone from the key directory."""
        if self.target is None:
            return
        try:
            os.replace(self.path, self.target)
        except OSError as e:
            raise KekError(f"cannot move the new KEK {self.path} over {self.target}: {e.strerror or e}") from e
        self.path, self.target = self.target, None

    def reloaded(self, want: str) -> FileKek | None:
        """The KEK with id ``want`` from the configured file, or from a successor another process rotated the key
        store to and did not promote yet; None when neither holds it. A successor found here is used, not promoted:
        only a rotation whose commit was confirmed promotes (the vault's scrub). A rotation PostgreSQL committed on
        the primary alone (its standby's confirmation cancelled) leaves the standby's key store under the old KEK,
        so the old KEK's file stays until a later rotation to this successor is confirmed and promotes it."""
        base = self.target or self.path
        for path in (base, base.with_name(base.name + ".next")):
            try:
                kek = FileKek(path, target=None if path == base else base)
            except (KekError, KeyFileError):
                continue
            if kek.key_id == want:
                return kek
        return None

    @staticmethod
    def generate(path: str | Path) -> FileKek:
        """Write a new random KEK (base64) to ``path`` with mode 0600 and return its provider; a
        missing parent directory is created 0700. An existing file is never overwritten."""
        path = Path(path)
        if not path.parent.exists():
            try:
                path.parent.mkdir(parents=True, mode=0o700)
            except FileExistsError:
                pass  # created meanwhile by someone else: keep its mode
            except OSError as e:
                raise KekError(f"cannot create the key directory {path.parent}: {e.strerror or e}") from e
            else:
                os.chmod(path.parent, 0o700)  # the umask may have removed bits only, but be explicit
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except OSError as e:
            raise KekError(f"cannot create the KEK file {path}: {e.strerror or e}") from e
        with os.fdopen(fd, "w") as f:
            f.write(base64.b64encode(os.urandom(32)).decode() + "\n")
        return FileKek(path)


class EnvKek(RawKek):
    """A KEK from an environment variable (hex or base64 text)."""

    def __init__(self, var: str, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        value = env.get(var)
        if not value:
            raise KekError(f"environment variable {var} holds no KEK")
        self.var = var
        super().__init__(value, label="env")
