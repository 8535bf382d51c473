"""The kiosk's outbox: enrolment records waiting for the back office, encrypted at rest.

Each item is one file ``<id>.sealed``. With a device key: a fresh data key (AES-256-GCM) encrypts
the JSON record, and the device key wraps that data key (AES-256-GCM, the item id as associated data, so files
cannot be swapped). Writes are atomic (temporary file, fsync, rename). When the back office has
the record the file is overwritten and deleted: the data key goes with it (crypto-shredding).
A record the back office refuses for good is moved to ``parked/`` (still encrypted) for an officer.
The item id is the ``Idempotency-Key``, so a retry after a lost answer cannot enrol twice.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from enrollment._errors import (
    BackofficeAuthError,
    BackofficeUnavailable,
    OutboxCorrupted,
    OutboxError,
    RecordRejected,
)

__all__ = ["EnrolmentAnswer", "EnrolmentSubmitter", "Outbox", "DeliveryReport", "MAGIC", "MAGIC_VAULT"]

MAGIC = b"SBOX1"
MAGIC_VAULT = b"SBOXV"
VAULT_CATEGORY = "enrolment_outbox"
_AAD = b"smartborder/enrolment-outbox/1|"
_SUFFIX = ".sealed"
_PREFIX = {"enrolment": "enr", "event": "evt"}


@dataclass(frozen=True)
class EnrolmentAnswer:
    """The back office's answer: ``status`` accepted / duplicate_suspected (/ rejected)."""

    enrolment_id: str
    status: str
    duplicates: tuple[dict, ...] = ()
    checks: tuple[str, ...] = ()
    replayed: bool = False

    @property
    def duplicate(self) -> bool:
        return self.status == "duplicate_suspected"


class EnrolmentSubmitter(Protocol):
    def submit_enrolment(self, payload: dict[str, Any], idempotency_key: str) -> EnrolmentAnswer: ...


@dataclass
class DeliveryReport:
    delivered: dict[str, EnrolmentAnswer] = field(default_factory=dict)
    parked: dict[str, str] = field(default_factory=dict)
    events: int = 0  # device events delivered
    pending: int = 0
    reachable: bool = True
    error: str = ""


class Outbox:
    """``Outbox(directory, device_key)`` with a 32-byte device key (or a callable returning it, e.g.
    from a TPM), or ``Outbox(directory, vault=privacy.Vault(...))``: then each item is sealed under its
    own data key in the vault's key store (kept apart from the outbox files) and delivery shreds that
    key with :meth:`privacy.Vault.shred`, so the record is unrecoverable even if the flash keeps old
    blocks of the file."""

    def __init__(self, directory: str | Path, device_key: bytes | Callable[[], bytes] | None = None, *,
                 vault=None) -> None:
        self.dir = Path(directory)
        self.parked_dir = self.dir / "parked"
        self.parked_dir.mkdir(parents=True, exist_ok=True)
        self.vault = vault
        self._delivering = threading.Lock()  # one delivery round at a time (the UI's and the periodic one)
        if (vault is None) == (device_key is None):
            raise OutboxError("give the outbox either a device key or a vault")
        if vault is None:
            key = device_key() if callable(device_key) else device_key
            if not isinstance(key, bytes | bytearray) or len(key) != 32:
                raise OutboxError("the outbox device key must be 32 bytes")
            self._kek = AESGCM(bytes(key))

    # -- sealing ---------------------------------------------------------------------------------
    def _seal(self, item_id: str, data: bytes) -> bytes:
        if self.vault is not None:
            return MAGIC_VAULT + self.vault.seal(item_id, VAULT_CATEGORY, item_id, data)
        dek = AESGCM.generate_key(256)
        aad = _AAD + item_id.encode()
        n1, n2 = os.urandom(12), os.urandom(12)
        wrapped = self._kek.encrypt(n1, dek, aad)
        return MAGIC + n1 + wrapped + n2 + AESGCM(dek).encrypt(n2, data, aad)

    def _open(self, item_id: str, blob: bytes) -> bytes:
        if self.vault is not None:
            if not blob.startswith(MAGIC_VAULT):
                raise OutboxCorrupted(f"outbox item {item_id} is not a vault-sealed record")
            try:
                return self.vault.open(item_id, VAULT_CATEGORY, item_id, blob[len(MAGIC_VAULT):])
            except Exception as e:  # privacy's IntegrityError / KeyNotFoundError / SubjectShreddedError
                raise OutboxCorrupted(f"outbox item {item_id} cannot be opened: {type(e).__name__}") from e
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 12 + 48 + 12 + 16:
            raise OutboxCorrupted(f"outbox item {item_id} is not a sealed record")
        aad = _AAD + item_id.encode()
        p = len(MAGIC)
        n1, wrapped, n2, ct = blob[p:p + 12], blob[p + 12:p + 60], blob[p + 60:p + 72], blob[p + 72:]
        try:
            dek = self._kek.decrypt(n1, wrapped, aad)
            return AESGCM(dek).decrypt(n2, ct, aad)
        except InvalidTag as e:
            raise OutboxCorrupted(f"outbox item {item_id} failed authentication (wrong key or tampered)") from e

    # -- items -----------------------------------------------------------------------------------
    @staticmethod
    def new_id(kind: str = "enrolment") -> str:
        """Sortable by time; the prefix names the kind (``enr-`` enrolment, ``evt-`` event)."""
        return f"{_PREFIX[kind]}-{time.time_ns():x}-{secrets.token_hex(6)}"

    def _path(self, item_id: str, parked: bool = False) -> Path:
        if not item_id or "/" in item_id or item_id.startswith("."):
            raise OutboxError(f"bad outbox item id {item_id!r}")
        return (self.parked_dir if parked else self.dir) / f"{item_id}{_SUFFIX}"

    def put(self, record: dict[str, Any], item_id: str | None = None, *, kind: str = "enrolment") -> str:
        """Store an enrolment record, or an ``event`` (``POST /api/v1/events`` body: no personal data)."""
        if kind not in _PREFIX:
            raise OutboxError(f"unknown outbox item kind {kind!r}")
        item_id = item_id or self.new_id(kind)
        data = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()
        path = self._path(item_id)
        tmp = path.with_suffix(".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(self._seal(item_id, data))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            dfd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as e:
            raise OutboxError(f"cannot store outbox item: {e}") from e
        return item_id

    def pending(self, kind: str | None = None) -> list[str]:
        """Waiting item ids in order; ``kind`` "enrolment" or "event" filters."""
        pattern = f"{_PREFIX[kind]}-*{_SUFFIX}" if kind else f"*{_SUFFIX}"
        return sorted(p.name[: -len(_SUFFIX)] for p in self.dir.glob(pattern))

    def parked(self) -> list[str]:
        return sorted(p.name[: -len(_SUFFIX)] for p in self.parked_dir.glob(f"*{_SUFFIX}"))

    def load(self, item_id: str, *, parked: bool = False) -> dict[str, Any]:
        path = self._path(item_id, parked)
        try:
            blob = path.read_bytes()
        except OSError as e:
            raise OutboxError(f"no outbox item {item_id}") from e
        return json.loads(self._open(item_id, blob))

    @staticmethod
    def _shred(path: Path) -> None:
        try:
            size = path.stat().st_size
            with open(path, "r+b") as f:
                f.write(b"\x00" * size)
                f.flush()
                os.fsync(f.fileno())
            path.unlink()
        except FileNotFoundError:
            pass

    def remove(self, item_id: str, *, parked: bool = False) -> None:
        self._shred(self._path(item_id, parked))
        if self.vault is not None:
            self.vault.shred(item_id)  # crypto-shredding: the item's data key is destroyed

    def park(self, item_id: str) -> None:
        os.replace(self._path(item_id), self._path(item_id, parked=True))

    def __len__(self) -> int:
        return len(self.pending())

    # -- delivery --------------------------------------------------------------------------------
    def deliver(self, client: EnrolmentSubmitter, *, only: str | None = None) -> DeliveryReport:
        """Send pending items in order. Delivered -> shredded; refused for good -> parked;
        back office unreachable or credential refused -> stop, everything else waits."""
        with self._delivering:
            return self._deliver(client, only)

    def _deliver(self, client: EnrolmentSubmitter, only: str | None) -> DeliveryReport:
        report = DeliveryReport()
        ids = [only] if only is not None else self.pending()
        for item_id in ids:
            if not self._path(item_id).exists():
                continue  # delivered meanwhile by another round
            try:
                record = self.load(item_id)
            except OutboxCorrupted as e:
                self.park(item_id)
                report.parked[item_id] = str(e)
                continue
            is_event = item_id.startswith(_PREFIX["event"] + "-")
            try:
                if is_event:
                    if not hasattr(client, "post_event"):
                        continue
                    client.post_event(record, idempotency_key=item_id)
                    answer = None
                else:
                    answer = client.submit_enrolment(record, idempotency_key=item_id)
            except (BackofficeUnavailable, BackofficeAuthError) as e:
                report.reachable = isinstance(e, BackofficeAuthError)
                report.error = type(e).__name__
                break
            except RecordRejected as e:
                self.park(item_id)
                report.parked[item_id] = str(e)
                continue
            finally:
                record = None  # noqa: F841 - drop the decrypted record at once
            self.remove(item_id)
            if is_event:
                report.events += 1
            else:
                report.delivered[item_id] = answer
        report.pending = len(self.pending())
        return report
