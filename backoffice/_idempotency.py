"""Idempotent ingestion (draft-ietf-httpapi-idempotency-key-header).

Each device request carries an ``Idempotency-Key``. The first request with a key runs and its
response is stored with a hash of the request body, inside the same transaction as the record
it created; a retry with the same key and body gets the stored response back (and the header
``Idempotent-Replayed: true``), a retry with the same key and another body gets 422. So an
outbox may resend forever without creating duplicates, even across a server crash.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import text

from backoffice._errors import IdempotencyKeyMissing, IdempotencyKeyReused
from backoffice._store import Store, now_iso
from storage import lock

__all__ = ["IdempotentResult", "run_idempotent", "check_key"]

#: 1-200 visible ASCII characters other than the double quote, bare or as a structured-field string
#: (``"..."``, draft-ietf-httpapi-idempotency-key-header); the OpenAPI document gives the same pattern
KEY_PATTERN = r'^(?:[\x21\x23-\x7e]{1,200}|"[\x21\x23-\x7e]{1,200}")$'
_KEY = re.compile(KEY_PATTERN)


def check_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise IdempotencyKeyMissing("send an Idempotency-Key header (1-200 visible ASCII characters)")
    key = key.strip()  # optional whitespace around a header value is not part of it (RFC 9110 5.5)
    if not _KEY.match(key):
        raise IdempotencyKeyMissing("Idempotency-Key must be 1-200 visible ASCII characters other than '\"', "
                                    'bare or in double quotes')
    return key.removeprefix('"').removesuffix('"')


class IdempotentResult:
    def __init__(self, status_code: int, body: dict, replayed: bool) -> None:
        self.status_code = status_code
        self.body = body
        self.replayed = replayed


def run_idempotent(store: Store, principal: str, key: str | None, request_fingerprint: Any,
                   create: Callable[[Any], tuple[int, dict]], public: type[BaseModel] | None = None) -> IdempotentResult:
    """Run ``create(db)`` once per (principal, key); replay its stored response afterwards.

    The key is recorded with the final answer only, in the transaction of the record: the answer is
    validated against ``public`` (the response model) and encoded as strict JSON (no NaN, no Infinity)
    before the commit, so an answer that cannot be sent rolls the record back instead of committing it
    and failing afterwards (which would make every retry fail too)."""
    key = check_key(key)
    digest = hashlib.sha256(json.dumps(request_fingerprint, sort_keys=True, default=str).encode()).hexdigest()
    with store.tx() as db:
        # two workers given the same key at once: the second waits here for the first's commit, then replays
        # its answer (without the lock both would run create() and the second INSERT would fail on the key)
        lock(db.connection, f"idempotency {principal} {key}")
        row = db.first(text("SELECT request_hash, status_code, response FROM idempotency "
                            "WHERE principal = :principal AND key = :key"), {"principal": principal, "key": key})
        if row is not None:
            if row["request_hash"] != digest:
                raise IdempotencyKeyReused(f"Idempotency-Key {key!r} was used for a different request")
            if db.dialect == "postgresql":
                # the first answer may have been a 503 because the synchronous standby never confirmed the record's
                # commit (storage.commit_unconfirmed): a replay is an acknowledgement too, so this transaction
                # writes (a row version of the key: WAL; a transaction id alone writes none and its COMMIT would not
                # wait), and its COMMIT waits for the standby to confirm the WAL up to here, the record included,
                # or ends in the same 503 again
                db.execute(text("UPDATE idempotency SET request_hash = request_hash "
                                "WHERE principal = :principal AND key = :key"), {"principal": principal, "key": key})
            return IdempotentResult(row["status_code"], json.loads(row["response"]), True)
        status_code, body = create(db)
        if public is not None:
            body = public.model_validate(body).model_dump(mode="json")
        encoded = json.dumps(body, allow_nan=False)
        db.execute(text("INSERT INTO idempotency (principal, key, request_hash, status_code, response, created_at) "
                        "VALUES (:principal, :key, :digest, :status, :response, :at)"),
                   {"principal": principal, "key": key, "digest": digest, "status": status_code, "response": encoded,
                    "at": now_iso()})
        return IdempotentResult(status_code, body, False)
