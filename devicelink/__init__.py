"""devicelink: the device side of the back office's HTTP API (backoffice/API.md), for gates and kiosks.

Public API:
- :class:`BackofficeClient`: one httpx client for every device endpoint: records (``deliver`` by kind,
  ``post_event``, ``post_exception``, ``submit_enrolment`` -> :class:`EnrolmentAnswer`), each POST with
  its outbox item id as ``Idempotency-Key``; the watchlist change feed (``watchlist_changes`` ->
  :class:`WatchlistDelta`, ETag/304, ``reset``); ``verify_fingers`` (the gate's 1:1 in the back office);
  ``raise_call`` (an officer call: the call id only once the back office stored it, an error otherwise);
  the back office's signed ledger head from every answer (:data:`LEDGER_HEAD_HEADER`, ``ledger_head``).
- One error vocabulary: :class:`BackofficeUnavailable` (retry later), :class:`BackofficeAuthError` (the
  credential is refused; a BackofficeUnavailable), :class:`RecordRejected` (refused for good: parked).
- :class:`Outbox`: records waiting for the back office in SQLite, sealed by a :class:`Sealer`
  (:class:`VaultSealer`: the privacy vault, each item its own data subject, crypto-shredded once
  delivered), delivered in order; usable on a connection its host owns (:data:`MIGRATIONS`). It also
  keeps the device's witnesses, a bounded history of the signed ledger heads seen (never overwritten; thinned
  to one a minute, then an hour; every conflicting head kept: ``keep_ledger_head``, ``ledger_heads`` ->
  :class:`KeptHead`, ``ledger_head`` the highest seq; :func:`stored_ledger_heads` reads them from a database
  file without a key). ``BackofficeClient(ledger_public_key=...)`` drops heads the ledger's key did not sign.
- :func:`document_record`: the API's ``document`` object from an :class:`emrtd.Mrz`.

It imports no workflow, no entry point, no UI or web framework (an import-linter contract).
"""

from devicelink._client import (
    CALLS_ENDPOINT,
    ENDPOINTS,
    LATER_FIELDS,
    LEDGER_HEAD_HEADER,
    BackofficeClient,
    EnrolmentAnswer,
    TrustStoreAnswer,
    WatchlistDelta,
    ledger_key,
)
from devicelink._errors import (
    BackofficeAuthError,
    BackofficeError,
    BackofficeUnavailable,
    OutboxCorrupted,
    OutboxError,
    RecordRejected,
)
from devicelink._outbox import (
    KINDS,
    MAX_LEDGER_CONFLICTS,
    MAX_LEDGER_HEADS,
    MIGRATIONS,
    Deliverer,
    DeliveryReport,
    KeptHead,
    Outbox,
    OutboxItem,
    ParkedItem,
    stored_ledger_head,
    stored_ledger_heads,
)
from devicelink._records import document_record
from devicelink._sealer import Sealer, VaultSealer, ephemeral_sealer

__all__ = [
    "CALLS_ENDPOINT",
    "ENDPOINTS",
    "LATER_FIELDS",
    "KINDS",
    "LEDGER_HEAD_HEADER",
    "MAX_LEDGER_CONFLICTS",
    "MAX_LEDGER_HEADS",
    "MIGRATIONS",
    "BackofficeAuthError",
    "BackofficeClient",
    "BackofficeError",
    "BackofficeUnavailable",
    "Deliverer",
    "DeliveryReport",
    "EnrolmentAnswer",
    "KeptHead",
    "Outbox",
    "OutboxCorrupted",
    "OutboxError",
    "OutboxItem",
    "ParkedItem",
    "RecordRejected",
    "Sealer",
    "VaultSealer",
    "TrustStoreAnswer",
    "WatchlistDelta",
    "document_record",
    "ephemeral_sealer",
    "ledger_key",
    "stored_ledger_head",
    "stored_ledger_heads",
]
