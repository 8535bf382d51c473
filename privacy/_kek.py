"""Key-encryption keys (KEK): the root keys that wrap each data subject's data key.

A provider only wraps and unwraps; where the key lives is its own business, so a PKCS#11/HSM
backend fills the same :class:`KeyEncryptionKeyProvider` protocol (``C_WrapKey``/``C_UnwrapKey``
with ``CKM_AES_GCM``) without the vault changing. The software providers here use AES-256-GCM
key wrapping (NIST SP 800-38D; a random 96-bit nonce per wrap, the associated data binds the
wrapped key to its owner).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privacy._errors import KekError

__all__ = ["EnvKek", "FileKek", "KeyEncryptionKeyProvider", "RawKek", "parse_key"]

_NONCE = 12


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
    """A KEK read from a file holding 32 raw bytes, or hex/base64 text. The file should be 0600."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            raw = self.path.read_bytes()
        except OSError as e:
            raise KekError(f"cannot read the KEK file {self.path}: {e}") from e
        super().__init__(raw if len(raw) == 32 else raw.strip(), label="file")

    @staticmethod
    def generate(path: str | Path) -> FileKek:
        """Write a new random KEK (base64) to ``path`` with mode 0600 and return its provider."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
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
