"""Verification of the audit ledger's hash chain and signed checkpoints.

This module is self-contained (Python standard library + ``cryptography``) so an auditor can copy
this one file and check an export without the rest of the project::

    python _verify_export.py ledger-export.jsonl --public-key BASE64_ED25519_PUBLIC_KEY [--witness FILE ...]

Chain: ``entry_hash = SHA-256(prev_hash_bytes || canonical_json([seq, at, actor, role, action,
record, purpose, legal_basis, subject_id, details]))`` with ``prev_hash`` of the first entry 32 zero bytes.
Checkpoint: Ed25519 signature over ``b"smartborder-ledger-checkpoint/1\\x00" + f"{seq}:{entry_hash}:{at}"``.
The ledger's signed head (after every write) has the same form as a checkpoint. The newest entry must
be covered by a valid signature (the signed head, a checkpoint or a witness head); an unsigned tail is a
failure. A witness head is a head a gate or kiosk received from the back office (``--witness FILE``: one
head as a JSON object, a JSON list of them, or JSON lines): one beyond the end names a truncation, one
whose hash differs from the entry at its seq a rewrite, one inside a range retention pruned is covered.
A ledger starts with its signed creation entry (``ledger_created``): an export or ledger with no entry
fails (wiped). A ``ledger_head_mismatch`` entry (the ledger found, before signing a new head, that its
stored head was ahead of its chain, at another hash, behind it, or deleted) is a failure while it is in
the chain: the truncation or rewrite it records happened before it.
The public key should be pinned out of band (``--public-key``); the key inside the export only
proves the export is self-consistent (a witness signed by the real key still fails against another).
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

__all__ = ["CREATED_ACTION", "EXPORT_FORMAT", "GENESIS", "HEAD_STARTED_ACTION", "MAX_SEQ", "MISMATCH_ACTION",
           "PRUNE_ACTION", "LedgerVerification", "WitnessFileError", "checkpoint_message", "checkpoint_problem",
           "entry_hash", "key_id_of", "load_witnesses", "mismatch_reason", "prune_anchor", "verify_chain",
           "verify_export"]

EXPORT_FORMAT = "smartborder-ledger/1"
GENESIS = "0" * 64
#: the highest sequence number a ledger, a checkpoint or a head may carry (SQLite integers are 64-bit)
MAX_SEQ = 2**62
#: the ledger's first entry, signed when it is created (details: the key id)
CREATED_ACTION = "ledger_created"
#: a chain written before heads were signed: signed heads start at this entry
HEAD_STARTED_ACTION = "ledger_head_started"
#: the ledger found its stored head not at its chain's end before signing a new one (a failure)
MISMATCH_ACTION = "ledger_head_mismatch"
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
    witnesses: int = 0
    signed_through: int = 0  # the newest entry covered by a valid signature (0: none)

    def to_dict(self) -> dict:
        return asdict(self)


def entry_hash(prev_hash: str, entry: Mapping) -> str:
    body = json.dumps([entry[f] for f in _FIELDS], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(bytes.fromhex(prev_hash) + body.encode("utf-8")).hexdigest()


def checkpoint_message(seq: int, entry_hash_hex: str, at: str) -> bytes:
    return b"smartborder-ledger-checkpoint/1\x00" + f"{seq}:{entry_hash_hex}:{at}".encode()


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


_HEX = frozenset("0123456789abcdef")


def checkpoint_problem(cp: object) -> str | None:
    """What is wrong with the form of a checkpoint (or signed head, or witness head) dict, else None:
    ``seq`` an integer in 0..2**62, ``entry_hash`` 64 lowercase hex digits, ``at`` and ``key_id`` non-empty
    strings, ``signature`` base64 of 64 bytes. Other keys are ignored."""
    if not isinstance(cp, Mapping):
        return "not a JSON object"
    missing = [k for k in ("seq", "entry_hash", "at", "key_id", "signature") if k not in cp]
    if missing:
        return f"missing {', '.join(missing)}"
    seq, h, at, kid, sig = cp["seq"], cp["entry_hash"], cp["at"], cp["key_id"], cp["signature"]
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SEQ:
        return f"seq is not an integer in 0..{MAX_SEQ}"
    if not isinstance(h, str) or len(h) != 64 or not set(h) <= _HEX:
        return "entry_hash is not 64 lowercase hex digits"
    if not isinstance(at, str) or not 0 < len(at) <= 64:
        return "at is not a time"
    if not isinstance(kid, str) or not 0 < len(kid) <= 64:
        return "key_id is not a key id"
    try:
        raw = base64.b64decode(sig, validate=True) if isinstance(sig, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 64:
        return "signature is not base64 of an Ed25519 signature"
    return None


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


def mismatch_reason(seq: int, details: Mapping | str | None) -> str:
    """Why a ``ledger_head_mismatch`` entry at ``seq`` fails verification, from its details."""
    try:
        d = json.loads(details) if isinstance(details, str) else dict(details or {})
        found, head, end = d.get("found"), d.get("head_seq"), d.get("chain_end_seq")
    except (ValueError, TypeError):
        found = head = end = None
    what = {
        "ahead": f"its signed head (entry {head}) ahead of its chain (ending at entry {end}): truncated before "
                 f"entry {seq}",
        "rewritten": f"its signed head at entry {head} signing another hash than the chain's entry {end}: "
                     f"rewritten before entry {seq}",
        "behind": f"entries {(head or 0) + 1}..{end} after its signed head (entry {head}): added without the key "
                  f"before entry {seq}",
        "missing": f"no signed head over its chain (ending at entry {end}): the head was deleted before entry {seq} "
                   "(and entries after it possibly truncated)",
        "empty": f"its chain empty (signed head: {'none' if head is None else f'entry {head}'}): wiped before "
                 f"entry {seq}",
    }.get(found, "its signed head not at its chain's end")
    return f"the ledger found {what} ({MISMATCH_ACTION} at entry {seq})"


def _label(cp: Mapping, default: str) -> str:
    return "ledger head" if default == "checkpoint" and cp.get("head") is True else default


def verify_chain(entries: Iterable[Mapping], checkpoints: Iterable[Mapping],
                 public_keys: Mapping[str, Ed25519PublicKey], *, key_pinned: bool = False,
                 prunes: Iterable[tuple[int, str]] = (), witnesses: Iterable[Mapping] = ()) -> LedgerVerification:
    """Walk ``entries`` (ordered by seq) and check links, hashes, sequence and signatures.

    ``checkpoints``: the periodic checkpoints and the signed head (marked ``"head": true``);
    ``witnesses``: heads kept outside the ledger (by gates and kiosks), checked like checkpoints. Every
    one must carry a valid signature of a key in ``public_keys`` and match the entry at its seq; one
    beyond the last entry means the ledger was truncated. The last entry must itself be covered by a
    valid signature: an unsigned tail is a failure (anyone can append or rewrite entries after the last
    signature by recomputing hashes; no secret is needed). A chain with no entry fails (a ledger starts
    with its signed creation entry: wiped), and so does one holding a ``ledger_head_mismatch`` entry
    (named by :func:`mismatch_reason`), after every other check.

    ``prunes``: the (through_seq, through_hash) of every ``ledger_prune`` entry. A ledger whose
    first entries were removed by retention starts after 1 only if such an entry (itself in the
    chain, so signed by the checkpoints after it) covers the gap; the remaining entries up to
    ``through_seq`` must still chain to ``through_hash``. Signatures on pruned entries are accepted.
    """
    signed: dict[int, list[tuple[str, Mapping]]] = {}
    n_cp = n_wit = 0
    for default, items in (("checkpoint", checkpoints), ("witness head", witnesses)):
        for i, cp in enumerate(items, 1):
            problem = checkpoint_problem(cp)
            if problem is not None:
                return LedgerVerification(False, None, f"{default} #{i} is malformed: {problem}",
                                          key_pinned=key_pinned)
            signed.setdefault(cp["seq"], []).append((_label(cp, default), cp))
            if default == "checkpoint":
                n_cp += cp.get("head") is not True
            else:
                n_wit += 1
    anchors = sorted(prunes)
    prev, expected, n, last_good_cp, first_seq = GENESIS, 1, 0, 0, 1
    pending: tuple[int, str] | None = None
    seen_prunes: set[tuple[int, str]] = set()
    mismatch: tuple[int, object] | None = None  # the first ledger_head_mismatch entry

    def result(ok: bool, seq: int | None, reason: str) -> LedgerVerification:
        return LedgerVerification(ok, seq, reason, n, n_cp, expected - 1, prev, key_pinned, n_wit, last_good_cp)

    def bad(seq: int, reason: str) -> LedgerVerification:
        return result(False, seq, reason)

    def outside(seq: int) -> LedgerVerification | None:
        """Check (and drop) the signatures at a ``seq`` that is not in the chain: 0 (the empty ledger) or
        a pruned entry. They cover nothing, but a bad one is still a failure."""
        for label, cp in signed.pop(seq, []):
            if not _signature_ok(cp, public_keys):
                return bad(seq, f"{label} at entry {seq} has an invalid signature or unknown key")
            if seq == 0 and cp["entry_hash"] != GENESIS:
                return bad(seq, f"{label} at entry 0 does not sign the empty ledger")
            if pending is not None and seq == pending[0] and cp["entry_hash"] != pending[1]:
                return bad(seq, f"the {label} signed at entry {seq} does not match the prune record (rewritten)")
        return None

    if (fail := outside(0)) is not None:
        return fail
    for e in entries:
        n += 1
        seq = int(e["seq"])
        if n == 1 and seq > 1:
            cover = [a for a in anchors if a[0] >= seq - 1]
            if not cover:
                return bad(seq, f"entries 1..{seq - 1} missing before entry {seq} (deleted, no prune record)")
            pending, prev, expected, first_seq = cover[-1], e["prev_hash"], seq, seq
            if seq - 1 == pending[0] and prev != pending[1]:
                return bad(seq, f"entry {seq} does not link to the pruned entry {seq - 1}")
            for old in sorted(k for k in signed if k < seq):  # signatures on pruned entries
                if (fail := outside(old)) is not None:
                    return fail
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
        if mismatch is None and e.get("action") == MISMATCH_ACTION:
            mismatch = (seq, e.get("details"))
        for label, cp in signed.pop(seq, []):
            if not _signature_ok(cp, public_keys):
                return bad(seq, f"{label} at entry {seq} has an invalid signature or unknown key")
            if cp["entry_hash"] != h:
                first = max(last_good_cp + 1, first_seq)
                return bad(first, f"entries {first}..{seq} were rewritten: the chain no longer matches the "
                                  f"{label} signed at entry {seq}")
            last_good_cp = seq
        prev, expected = h, seq + 1
    if pending is not None and pending not in seen_prunes:
        return bad(pending[0] + 1, "the prune record that explains the missing first entries is not in the chain")
    for beyond in sorted(signed):
        for label, cp in signed[beyond]:
            if not _signature_ok(cp, public_keys):
                return bad(beyond, f"{label} at entry {beyond} has an invalid signature or unknown key")
        label = signed[beyond][0][0]
        return bad(expected, f"entries {expected}..{beyond} missing: a {label} was signed at entry {beyond} "
                             "(truncated)")
    if n and last_good_cp != expected - 1:
        first = max(last_good_cp + 1, first_seq)
        return bad(first, f"unsigned tail: entries {first}..{expected - 1} are not covered by a signature (no "
                          f"ledger head, checkpoint or witness head signed at entry {expected - 1}: deleted, or "
                          "entries added without the key)")
    if not n:
        return bad(1, "no entries: a ledger starts with its signed creation entry (ledger_created); wiped?")
    if mismatch is not None:
        return bad(mismatch[0], mismatch_reason(*mismatch))
    return result(True, None, "")


def _public_key(raw: bytes | str) -> tuple[str, Ed25519PublicKey]:
    data = base64.b64decode(raw) if isinstance(raw, str) else raw
    return key_id_of(data), Ed25519PublicKey.from_public_bytes(data)


class _ExportError(ValueError):
    pass


class WitnessFileError(ValueError):
    """A witness file that cannot be read, is not JSON, or holds no well-formed head."""


def load_witnesses(path: str | Path) -> list[dict]:
    """The witness heads in a file: one head as a JSON object, a JSON list of heads, or JSON lines
    (what ``smartborder gate witness`` / ``kiosk witness`` write). Raises :class:`WitnessFileError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise WitnessFileError(f"witness file {path}: cannot be read ({type(e).__name__})") from e
    try:
        data = json.loads(text)
        heads = data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        heads = []
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    heads.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise WitnessFileError(f"witness file {path}: line {i} is not JSON") from e
    if not heads:
        raise WitnessFileError(f"witness file {path}: no witness head in it")
    for i, head in enumerate(heads, 1):
        problem = checkpoint_problem(head)
        if problem is not None:
            raise WitnessFileError(f"witness file {path}: head #{i} is malformed: {problem}")
    return [dict(h) for h in heads]


def _records(path: str | Path, kind: str):
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise _ExportError(f"line {i} is not JSON") from e
            if not isinstance(obj, dict):
                raise _ExportError(f"line {i} is not a JSON object")
            if obj.get("type") == kind:
                yield obj


def verify_export(path: str | Path, public_key: bytes | str | None = None,
                  witnesses: Iterable[Mapping] = ()) -> LedgerVerification:
    """Verify an export file (JSON lines), streaming it. ``public_key`` (raw 32 bytes or base64) pins
    the signer; without it the keys listed in the export are used (``key_pinned=False``).
    ``witnesses``: heads kept by devices (:func:`load_witnesses`), checked like checkpoints."""
    try:
        header = next(_records(path, "header"), None)
        if header is None or header.get("format") != EXPORT_FORMAT:
            return LedgerVerification(False, None, f"not a {EXPORT_FORMAT} export")
        checkpoints = list(_records(path, "checkpoint"))
        prunes = [a for a in map(prune_anchor, _records(path, "entry")) if a is not None]
        if public_key is not None:
            try:
                kid, key = _public_key(public_key)
            except ValueError:
                return LedgerVerification(False, None, "the pinned public key is not a base64 Ed25519 public key")
            keys, pinned = {kid: key}, True
        else:
            keys, pinned = dict(_public_key(k) for k in header.get("public_keys", [])), False
        return verify_chain(_records(path, "entry"), checkpoints, keys, key_pinned=pinned, prunes=prunes,
                            witnesses=list(witnesses))
    except (_ExportError, KeyError, TypeError, ValueError) as e:  # a line that is not an entry of the format
        return LedgerVerification(False, None, f"malformed export: {e}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Verify a smartborder audit-ledger export.")
    ap.add_argument("export")
    ap.add_argument("--public-key", help="the ledger's Ed25519 public key (base64), obtained out of band")
    ap.add_argument("--witness", action="append", default=[], metavar="FILE",
                    help="a head kept by a gate or kiosk (JSON object, list or lines); repeatable")
    args = ap.parse_args(argv)
    try:
        witnesses = [w for f in args.witness for w in load_witnesses(f)]
    except WitnessFileError as e:
        result = LedgerVerification(False, None, str(e))
    else:
        result = verify_export(args.export, args.public_key, witnesses)
    print(json.dumps(result.to_dict(), indent=2))
    return 0 if result.ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
