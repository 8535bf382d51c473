"""Privacy: an encrypted vault with crypto-shredding, enforced retention, a tamper-evident ledger,
and data-subject requests — the library the gate, kiosk and back office all use.

- :class:`Vault`: AES-256-GCM envelopes under one data key per sealed item, wrapped by a KEK
  (:class:`FileKek`, :class:`EnvKek`, or any :class:`KeyEncryptionKeyProvider`, e.g. PKCS#11);
  :meth:`Vault.shred` crypto-shreds a subject, :meth:`Vault.shred_keys` single items (the purge),
  :meth:`Vault.rotate_kek` rewraps keys only.
- :class:`RetentionStore` with :data:`DEFAULT_POLICIES` (EES Art. 34/46 modelled): register held
  items, :meth:`RetentionStore.purge` (batched, idempotent, resumable, ledgered),
  :meth:`RetentionStore.retention_report`.
- :class:`Ledger`: hash-chained audit log with Ed25519-signed checkpoints and a signed head after every
  write (:meth:`Ledger.head`, a :class:`Checkpoint`); :meth:`Ledger.verify` (with witness heads kept by
  devices), :meth:`Ledger.export` and the standalone :func:`verify_export`; :func:`load_witnesses` reads
  a witness file.
- :class:`DataSubjectRequests`: export and erasure of everything held about a document number,
  consent records. :func:`open_privacy` wires the four together.
- Key files: :func:`check_key_file` (a regular file, not a symlink, owned by the effective user,
  mode 0600 or stricter), :func:`check_key_location` (never inside the data directory),
  :func:`read_key_file`; all raise :class:`KeyFileError`. :class:`FileKek` uses them.

Depends only on ``storage`` (a :class:`storage.Database`: SQLite or PostgreSQL through SQLAlchemy), ``sqlalchemy``
and ``cryptography``.
"""

from privacy._errors import (
    IntegrityError,
    KekError,
    KeyFileError,
    KeyNotFoundError,
    LedgerError,
    PrivacyError,
    PrivacySchemaError,
    RetentionError,
    SubjectShreddedError,
    UnknownCategoryError,
)
from privacy._kek import (
    EnvKek,
    FileKek,
    KeyEncryptionKeyProvider,
    RawKek,
    check_key_file,
    check_key_location,
    read_key_file,
)
from privacy._ledger import Checkpoint, Ledger, LedgerEntry
from privacy._policy import ANCHORS, DEFAULT_POLICIES, Period, RetentionPolicy
from privacy._retention import CategoryReport, Item, PurgedItem, PurgeReport, RetentionStore
from privacy._schema import MIGRATIONS
from privacy._service import Privacy, open_privacy
from privacy._signed_list import (
    SIGNED_LIST_FORMAT,
    SignedList,
    SignedListBadSignature,
    SignedListError,
    SignedListMalformed,
    SignedListRollback,
    SignedListUnknownKey,
    SignedListWrongList,
    list_key_id,
    load_public_key,
    public_key_b64,
    sign_list,
    verify_list,
)
from privacy._subjects import DataSubjectRequests, media_type
from privacy._vault import Vault, envelope_key_id
from privacy._verify_export import LedgerVerification, WitnessFileError, load_witnesses, verify_export

__all__ = [
    # signed lists (the back office's lists for devices: trust store, ...): privacy/_signed_list.py
    "SIGNED_LIST_FORMAT", "SignedList", "SignedListError", "SignedListMalformed", "SignedListWrongList",
    "SignedListUnknownKey", "SignedListBadSignature", "SignedListRollback", "sign_list", "verify_list",
    "list_key_id", "load_public_key", "public_key_b64",
    "ANCHORS",
    "DEFAULT_POLICIES",
    "MIGRATIONS",
    "CategoryReport",
    "Checkpoint",
    "DataSubjectRequests",
    "EnvKek",
    "FileKek",
    "IntegrityError",
    "Item",
    "KekError",
    "KeyEncryptionKeyProvider",
    "KeyFileError",
    "KeyNotFoundError",
    "Ledger",
    "LedgerEntry",
    "LedgerError",
    "LedgerVerification",
    "Period",
    "Privacy",
    "PrivacyError",
    "PrivacySchemaError",
    "PurgeReport",
    "PurgedItem",
    "RawKek",
    "RetentionError",
    "RetentionPolicy",
    "RetentionStore",
    "SubjectShreddedError",
    "UnknownCategoryError",
    "Vault",
    "WitnessFileError",
    "check_key_file",
    "check_key_location",
    "envelope_key_id",
    "load_witnesses",
    "media_type",
    "open_privacy",
    "read_key_file",
    "verify_export",
]
