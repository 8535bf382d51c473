"""A signature over the ledger's state at one entry: a periodic checkpoint, the signed head, a witness head."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import asdict, dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from privacy._errors import LedgerError
from privacy._verify_export import MAX_SEQ, checkpoint_message, checkpoint_problem, key_id_of

__all__ = ["Checkpoint", "raw_public"]

_MAX_TOKEN = 2048


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Checkpoint:
    """A signature over the ledger's state at ``seq``: a periodic checkpoint, the signed head, or a
    witness head (the head as a gate or kiosk received it); all verify the same way."""

    seq: int
    entry_hash: str
    at: str
    key_id: str
    signature: str

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> Checkpoint:
        """From a dict with the five fields (others are ignored); :class:`LedgerError` names what is wrong."""
        problem = checkpoint_problem(data)
        if problem is not None:
            raise LedgerError(f"not a ledger checkpoint: {problem}")
        return cls(*(data[k] for k in ("seq", "entry_hash", "at", "key_id", "signature")))  # type: ignore[index]

    def to_token(self) -> str:
        """base64url (unpadded) of the compact JSON object: the ``X-Ledger-Head`` header's value."""
        body = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(body).rstrip(b"=").decode("ascii")

    @classmethod
    def from_token(cls, token: str) -> Checkpoint:
        """The inverse of :meth:`to_token` (padding optional); :class:`LedgerError` when malformed. A
        head is stricter than a checkpoint: ``seq`` in 1..2**62, ``at`` an ISO 8601 time, ``key_id`` 16
        lowercase hex digits (what a device receives is never trusted to be well formed)."""
        if not isinstance(token, str) or not 0 < len(token) <= _MAX_TOKEN:
            raise LedgerError("not a ledger head token: empty or too long")
        try:
            raw = base64.b64decode(token.strip() + "=" * (-len(token.strip()) % 4), altchars=b"-_", validate=True)
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise LedgerError(f"not a ledger head token: {type(e).__name__}") from e
        head = cls.from_dict(data)
        problem = head.head_problem()
        if problem is not None:
            raise LedgerError(f"not a ledger head: {problem}")
        return head

    def head_problem(self) -> str | None:
        """What keeps this from being a signed head a device may keep (beyond :func:`checkpoint_problem`),
        else None: ``seq`` 1..2**62, ``at`` an ISO 8601 time, ``key_id`` 16 lowercase hex digits."""
        problem = checkpoint_problem(self.to_dict())
        if problem is not None:
            return problem
        if not 1 <= self.seq <= MAX_SEQ:
            return f"seq is not in 1..{MAX_SEQ}"
        try:
            dt.datetime.fromisoformat(self.at)
        except ValueError:
            return "at is not an ISO 8601 time"
        if len(self.key_id) != 16 or not set(self.key_id) <= set("0123456789abcdef"):
            return "key_id is not 16 lowercase hex digits"
        return None

    def signed_by(self, public_key: Ed25519PublicKey | bytes | str) -> bool:
        """Whether ``public_key`` (an Ed25519 key, its 32 raw bytes or their base64) signed this head: the
        key id must be that key's and the signature valid. Never raises for a bad signature."""
        try:
            if isinstance(public_key, str):
                public_key = base64.b64decode(public_key, validate=True)
            if isinstance(public_key, bytes):
                public_key = Ed25519PublicKey.from_public_bytes(public_key)
            if key_id_of(raw_public(public_key)) != self.key_id:
                return False
            public_key.verify(base64.b64decode(self.signature, validate=True),
                              checkpoint_message(self.seq, self.entry_hash, self.at))
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True
