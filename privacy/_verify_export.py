"""Verification of the audit ledger's hash chain and signed checkpoints.

This module is self-contained (Python standard library + ``cryptography``) so an auditor can copy
this one file and check an export without the rest of the project::

    python _verify_export.py ledger-export.jsonl --public-key BASE64_ED25519_PUBLIC_KEY

Chain: ``entry_hash = SHA-256(prev_hash_bytes || canonical_json([seq, at, actor, role, action,
record, purpose, legal_basis, subject_id, details]))`` with ``prev_hash`` of the first entry 32 zero bytes.
Checkpoint: Ed25519 signature over ``b"smartborder-ledger-checkpoint/1\\x00" + f"{seq}:{entry_hash}:{at}"``.
The public key should be pinned out of band (``--public-key``); the key inside the export only
proves the export is self-consistent.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["EXPORT_FORMAT", "GENESIS", "PRUNE_ACTION", "LedgerVerification", "checkpoint_message", "entry_hash",
           "key_id_of", "prune_anchor", "verify_chain", "verify_export"]

EXPORT_FORMAT = "smartborder-ledger/1"
GENESIS = "0" * 64
_FIELDS = ("seq", "at", "actor", "role", "action", "record", "purpose", "legal_basis", "subject_id", "details")


@dataclass(frozen=True)
class LedgerVerification:
    """``first_bad_index`` is the ``seq`` of the first entry that fails (None when ok)."""

    ok: bool
    first_bad_index: int | None
    reason: str
    entries: int = 0
    checkpoints: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    key_pinned: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def entry_hash(prev_hash: str, entry: Mapping) -> str:
    body = json.dumps([entry[f] for f in _FIELDS], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(bytes.fromhex(prev_hash) + body.encode("utf-8")).hexdigest()


def checkpoint_message(seq: int, entry_hash_hex: str, at: str) -> bytes:
    return b"smartborder-ledger-checkpoint/1\x00" + f"{seq}:{entry_hash_hex}:{at}".encode()


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def _signature_ok(cp: Mapping, keys: Mapping[str, Ed25519PublicKey]) -> bool:
    key = keys.get(cp["key_id"])
    if key is None:
        return False
    try:
        key.verify(base64.b64decode(cp["signature"]), checkpoint_message(cp["seq"], cp["entry_hash"], cp["at"]))
    except (InvalidSignature, ValueError):
        return False
    return True


PRUNE_ACTION = "ledger_prune"


def prune_anchor(entry: Mapping) -> tuple[int, str] | None:
    """(through_seq, through_hash) of a ``ledger_prune`` entry, else None."""
    if entry.get("action") != PRUNE_ACTION or not entry.get("details"):
        return None
    try:
        d = json.loads(entry["details"])
        return int(d["through_seq"]), str(d["through_hash"])
    except (ValueError, KeyError, TypeError):
        return None


def verify_chain(entries: Iterable[Mapping], checkpoints: Iterable[Mapping],
                 public_keys: Mapping[str, Ed25519PublicKey], *, key_pinned: bool = False,
                 prunes: Iterable[tuple[int, str]] = ()) -> LedgerVerification:
    """Walk ``entries`` (ordered by seq) and check links, hashes, sequence and signed checkpoints.

    ``prunes``: the (through_seq, through_hash) of every ``ledger_prune`` entry. A ledger whose
    first entries were removed by retention starts after 1 only if such an entry (itself in the
    chain, so signed by the checkpoints after it) covers the gap; the remaining entries up to
    ``through_seq`` must still chain to ``through_hash``.
    """
    cps: dict[int, list[Mapping]] = {}
    n_cp = 0
    for cp in checkpoints:
        cps.setdefault(int(cp["seq"]), []).append(cp)
        n_cp += 1
    anchors = sorted(prunes)
    prev, expected, n, last_good_cp = GENESIS, 1, 0, 0
    pending: tuple[int, str] | None = None
    seen_prunes: set[tuple[int, str]] = set()

    def bad(seq: int, reason: str) -> LedgerVerification:
        return LedgerVerification(False, seq, reason, n, n_cp, expected - 1, prev, key_pinned)

    for e in entries:
        n += 1
        seq = int(e["seq"])
        if n == 1 and seq > 1:
            cover = [a for a in anchors if a[0] >= seq - 1]
            if not cover:
                return bad(seq, f"entries 1..{seq - 1} missing before entry {seq} (deleted, no prune record)")
            pending, prev, expected = cover[-1], e["prev_hash"], seq
            if seq - 1 == pending[0] and prev != pending[1]:
                return bad(seq, f"entry {seq} does not link to the pruned entry {seq - 1}")
            for old in [k for k in cps if k < seq]:
                del cps[old]  # checkpoints of pruned entries
        if seq != expected:
            if seq > expected:
                missing = f"entry {expected}" if seq == expected + 1 else f"entries {expected}..{seq - 1}"
                return bad(seq, f"{missing} missing before entry {seq} (deleted)")
            return bad(seq, f"entry {seq} out of order after entry {expected - 1}")
        if e["prev_hash"] != prev:
            return bad(seq, f"entry {seq} does not link to entry {seq - 1} (reordered, inserted or edited)")
        h = entry_hash(prev, e)
        if h != e["entry_hash"]:
            return bad(seq, f"entry {seq} does not match its hash (edited)")
        if pending is not None and seq == pending[0] and h != pending[1]:
            return bad(seq, f"entries up to {seq} do not match the prune record (edited after pruning)")
        anchor = prune_anchor(e)
        if anchor is not None:
            seen_prunes.add(anchor)
        for cp in cps.pop(seq, []):
            if not _signature_ok(cp, public_keys):
                return bad(seq, f"checkpoint at entry {seq} has an invalid signature or unknown key")
            if cp["entry_hash"] != h:
                first = last_good_cp + 1
                return bad(first, f"entries {first}..{seq} were rewritten: the chain no longer matches the "
                                  f"checkpoint signed at entry {seq}")
            last_good_cp = seq
        prev, expected = h, seq + 1
    if pending is not None and pending not in seen_prunes:
        return LedgerVerification(False, pending[0] + 1, "the prune record that explains the missing first entries "
                                  "is not in the chain", n, n_cp, expected - 1, prev, key_pinned)
    if cps:
        beyond = min(cps)
        return LedgerVerification(False, expected, f"entries {expected}..{beyond} missing: a checkpoint was signed "
                                  f"at entry {beyond} (truncated)", n, n_cp, expected - 1, prev, key_pinned)
    return LedgerVerification(True, None, "", n, n_cp, expected - 1, prev, key_pinned)


def _public_key(raw: bytes | str) -> tuple[str, Ed25519PublicKey]:
    data = base64.b64decode(raw) if isinstance(raw, str) else raw
    return key_id_of(data), Ed25519PublicKey.from_public_bytes(data)


class _ExportError(ValueError):
    pass


def _records(path: str | Path, kind: str):
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise _ExportError(f"line {i} is not JSON") from e
            if obj.get("type") == kind:
                yield obj


def verify_export(path: str | Path, public_key: bytes | str | None = None) -> LedgerVerification:
    """Verify an export file (JSON lines), streaming it. ``public_key`` (raw 32 bytes or base64) pins
    the signer; without it the keys listed in the export are used (``key_pinned=False``)."""
    try:
        header = next(_records(path, "header"), None)
        if header is None or header.get("format") != EXPORT_FORMAT:
            return LedgerVerification(False, None, f"not a {EXPORT_FORMAT} export")
        checkpoints = list(_records(path, "checkpoint"))
        prunes = [a for a in map(prune_anchor, _records(path, "entry")) if a is not None]
        if public_key is not None:
            kid, key = _public_key(public_key)
            keys, pinned = {kid: key}, True
        else:
            keys, pinned = dict(_public_key(k) for k in header.get("public_keys", [])), False
        if not checkpoints:
            return LedgerVerification(False, None, "the export has no signed checkpoint")
        result = verify_chain(_records(path, "entry"), checkpoints, keys, key_pinned=pinned, prunes=prunes)
    except _ExportError as e:
        return LedgerVerification(False, None, str(e))
    last_cp = max(int(c["seq"]) for c in checkpoints)
    if result.ok and result.head_seq != last_cp:
        return LedgerVerification(False, last_cp + 1, "entries after the last signed checkpoint are not covered by "
                                  "a signature", result.entries, result.checkpoints, result.head_seq,
                                  result.head_hash, pinned)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Verify a smartborder audit-ledger export.")
    ap.add_argument("export")
    ap.add_argument("--public-key", help="the ledger's Ed25519 public key (base64), obtained out of band")
    args = ap.parse_args(argv)
    result = verify_export(args.export, args.public_key)
    print(json.dumps(result.to_dict(), indent=2))
    return 0 if result.ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
