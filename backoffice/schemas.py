"""Request (``XCreate``) and response (``XPublic``) schemas of the HTTP API.

Rule: biometric data (face images, templates, fingerprints) never appears in a ``*Public``
schema. Face images are served only as image bytes by the review endpoints (each access
ledgered); templates are never served at all.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from watchlist import LATIN_LETTER_CLASS, WatchlistError, parse_partial_date

# -- strict input (backoffice/API.md, "Strict input") ----------------------------------------
#: control characters (C0, DEL, C1), bidirectional overrides and line/paragraph separators: never in a name
_CONTROL = r"\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
_NAME_CHARS = rf"^[^{_CONTROL}]*$"
#: free text (messages, notes) may also hold tab, line feed and carriage return
_TEXT_CHARS = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]*$"
#: invisible format characters (Unicode Cf) on top of ``_CONTROL``: the Arabic letter mark (a bidi mark like
#: U+200E/U+200F), zero width space / non-joiner / joiner, word joiner and the invisible operators, the deprecated
#: format characters and the BOM. Refused in machine-made codes (``liveness_reason``) only: a name may need
#: ZWNJ/ZWJ (Persian, Indic scripts) and Khmer/Thai input methods insert ZWSP; backoffice._watchlist mirrors
#: ``_CONTROL`` for imported names
_INVISIBLE = r"\u061c\u200b-\u200f\u2060-\u2064\u206a-\u206f\ufeff"
#: a one-line code or reason a device composes: not empty, nothing invisible
_CODE_TEXT = rf"^[^{_CONTROL}{_INVISIBLE}]+$"


def Name(max_length: int, min_length: int = 0) -> type[str]:  # noqa: N802 (a type factory)
    """A single-line string: no control characters, no bidi overrides."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length, pattern=_NAME_CHARS)]


def Text(max_length: int) -> type[str]:  # noqa: N802
    """Free text: tab and line breaks allowed, other control characters not."""
    return Annotated[str, StringConstraints(max_length=max_length, pattern=_TEXT_CHARS)]


#: earliest year of a timestamp a device may send (in the sender's own time zone: the schema's pattern says
#: so); the latest is the server's clock plus ``MAX_CLOCK_AHEAD``, which JSON Schema cannot express
EARLIEST_YEAR = 2020
MAX_CLOCK_AHEAD = dt.timedelta(days=1)
#: RFC 3339 date-time with an offset (the OpenAPI ``date-time`` format), nothing looser
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_YEAR_2020_ON = "^(?:202[0-9]|20[3-9][0-9]|2[1-9][0-9]{2}|[3-9][0-9]{3})-"
_YEAR_1900_2100 = "^(?:19[0-9]{2}|20[0-9]{2}|2100)-"


def _timestamp_text(value: object) -> object:
    if isinstance(value, dt.datetime):  # a model built in code
        return value
    if not isinstance(value, str) or not _ISO_DATETIME.match(value):
        raise ValueError("a timestamp is an RFC 3339 date-time string with a UTC offset, e.g. 2026-11-22T08:00:00Z")
    return value


def _plausible(value: dt.datetime) -> dt.datetime:
    if value.year < EARLIEST_YEAR:
        raise ValueError(f"a timestamp before {EARLIEST_YEAR} is not plausible")
    if value > dt.datetime.now(dt.UTC) + MAX_CLOCK_AHEAD:
        raise ValueError("a timestamp more than a day ahead of the server's clock is not plausible")
    return value


def _date_text(value: object) -> object:
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("a date is an ISO 8601 string YYYY-MM-DD")
    return value


def _date_range(value: dt.date) -> dt.date:
    if not 1900 <= value.year <= 2100:
        raise ValueError("a date between 1900 and 2100")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_timestamp_text), AfterValidator(_plausible), Field(
    description=f"RFC 3339 date-time with a UTC offset (naive times and numbers are refused), from {EARLIEST_YEAR} "
                "(the pattern) to one day past the server's clock (refused with 422: JSON Schema cannot say it)",
    json_schema_extra={"pattern": _YEAR_2020_ON})]
Date = Annotated[dt.date, BeforeValidator(_date_text), AfterValidator(_date_range),
                 Field(json_schema_extra={"pattern": _YEAR_1900_2100})]
def _integral(value: object) -> object:
    if isinstance(value, float) and value.is_integer():  # JSON Schema's integer: 3.0 is 3
        return int(value)
    return value


#: a JSON integer: a number without a fractional part (``3`` or ``3.0``); not ``true``, not ``"3"``
Integer = Annotated[int, BeforeValidator(_integral), Field(strict=True)]
#: a device's score: finite, on the engines' scales. Fingerprint (MCC), liveness and quality scores are in
#: [0, 1]; a face score is a cosine in [-1, 1], or the fused dlib+SFace score on the dlib cosine scale, which
#: can reach about 1.12; so [-1, 1.5]. ``true`` is not a number.
Score = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-1.0, le=1.5)]
UnitScore = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0.0, le=1.0)]

Code3 = Annotated[str, StringConstraints(pattern=r"^[A-Za-z<]{1,3}$")]
ShortText = Name(200)
ScoreKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,40}$")]
Base64 = Annotated[str, StringConstraints(max_length=4 * 1024 * 1024, pattern=r"^[A-Za-z0-9+/=\s]*$")]
EntryId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
Name40 = Name(40)
Name80 = Name(80)
DocNumber = Name(40, min_length=1)
Notes = Text(2000)
DocNumber20 = Name(20, min_length=1)
PurposeText = Name(200, min_length=3)

# -- watchlist values: the schema says all the matcher needs, so a schema-valid entry or query is never
# refused for its content (the OpenAPI document is the contract; tests/backoffice/test_openapi_contract.py)
#: a Latin-script name with a letter to match on (the matcher's folding keeps it as a-z)
UsableName = Annotated[str, StringConstraints(max_length=200, pattern=rf"^[^{_CONTROL}]*[{LATIN_LETTER_CLASS}][^{_CONTROL}]*$")]
#: a name in Hanzi: at least one CJK unified ideograph (basic block, extension A or compatibility)
HanziName = Annotated[str, StringConstraints(
    max_length=40, pattern=rf"^[^{_CONTROL}]*[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff][^{_CONTROL}]*$")]
#: 1-20 letters or digits with spaces or the MRZ filler and separators ``< . / -`` anywhere (removed)
WatchlistDocNumber = Annotated[str, StringConstraints(max_length=40, pattern=r"^[ <./-]*(?:[A-Za-z0-9][ <./-]*){1,20}$")]


def _icao_state(value: str) -> str:
    return value.upper().rstrip("<")


#: an ICAO three-letter code (any case), or Germany's ``D`` as the MRZ writes it (``D<<``)
IcaoState = Annotated[str, StringConstraints(pattern=r"^(?:[A-Za-z]{3}|[Dd]<{0,2})$"), AfterValidator(_icao_state)]


def _partial_date(value: str) -> str:
    try:
        parse_partial_date(value)
    except WatchlistError as e:
        raise ValueError(str(e)) from None
    return value


_YEAR = "(?:19|20)[0-9]{2}"
#: a date of birth, partly unknown as an MRZ may give it: YYYY, YYYY-MM or YYYY-MM-DD, 1900-2099
PartialDate = Annotated[str, StringConstraints(pattern=rf"^{_YEAR}(?:-(?:0[1-9]|1[0-2])(?:-[0-9]{{2}})?)?$"),
                        AfterValidator(_partial_date), WithJsonSchema({"anyOf": [
                            {"type": "string", "pattern": rf"^{_YEAR}(?:-(?:0[1-9]|1[0-2]))?$"},
                            {"type": "string", "format": "date", "pattern": rf"^{_YEAR}-"}]})]


def _one_of_present(*fields: str) -> dict:
    """JSON Schema: at least one of ``fields`` is present as a string (not null)."""
    return {"anyOf": [{"required": [f], "properties": {f: {"type": "string"}}} for f in fields]}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReasonCode(StrEnum):
    """Why a device raised an exception (shared with the gate's decision policy)."""

    face_mismatch = "face_mismatch"
    fingerprint_mismatch = "fingerprint_mismatch"
    fingerprint_unavailable = "fingerprint_unavailable"
    liveness_failed = "liveness_failed"
    failure_to_acquire = "failure_to_acquire"
    chip_read_failed = "chip_read_failed"
    chip_pa_failed = "chip_pa_failed"
    chip_aa_failed = "chip_aa_failed"
    chip_ca_failed = "chip_ca_failed"
    chip_cloned = "chip_cloned"
    chip_key_unusable = "chip_key_unusable"
    mrz_mismatch = "mrz_mismatch"
    document_unreadable = "document_unreadable"
    document_expired = "document_expired"
    not_eligible = "not_eligible"
    watchlist_hit = "watchlist_hit"
    watchlist_stale = "watchlist_stale"
    crl_stale = "crl_stale"
    tailgating = "tailgating"
    minor = "minor"
    timeout = "timeout"
    duplicate_enrolment = "duplicate_enrolment"
    hardware_fault = "hardware_fault"
    evidence_missing = "evidence_missing"
    other = "other"


class Role(StrEnum):
    border_guard = "border_guard"
    supervisor = "supervisor"
    privacy_officer = "privacy_officer"
    admin = "admin"


# -- auth, users, devices -------------------------------------------------------------------
class TokenCreate(Strict):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_NAME_CHARS)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class TokenPublic(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the OAuth 2 token type, not a secret)
    expires_in: int
    role: Role


class UserCreate(Strict):
    username: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]
    password: Annotated[str, StringConstraints(min_length=10, max_length=256)]
    role: Role
    display_name: ShortText = ""


class UserUpdate(Strict):
    role: Role | None = None
    active: StrictBool | None = None
    password: Annotated[str, StringConstraints(min_length=10, max_length=256)] | None = None
    display_name: ShortText | None = None


class UserPublic(BaseModel):
    id: int
    username: str
    role: Role
    display_name: str
    active: bool
    created_at: str


class MePublic(BaseModel):
    kind: Literal["user", "device"]
    id: str
    role: str


class DeviceCreate(Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]
    kind: Literal["gate", "kiosk"]
    name: ShortText = ""
    location: ShortText = ""


class DevicePublic(BaseModel):
    id: str
    kind: Literal["gate", "kiosk"]
    name: str
    location: str
    created_at: str
    rotated_at: str | None
    revoked_at: str | None
    last_seen_at: str | None
    active: bool


class DeviceCredentialPublic(BaseModel):
    device: DevicePublic
    token: str = Field(description="Shown once; only its SHA-256 is stored.")


# -- watchlist ------------------------------------------------------------------------------
#: the agency that asked for the listing (Interpol, a ministry, a court...)
SourceAgency = Name(100)
#: the last day an entry is in force (it no longer matches from the next day on); a past date is accepted
ExpiryDate = Annotated[Date, Field(description="The last day the entry is in force (YYYY-MM-DD); "
                                               "from the next day on it no longer matches")]


class PersonUpdate(Strict):
    """A watchlisted person: a Latin-script ``name`` or a ``name_hanzi`` (or both). A Hanzi name also
    matches by its pinyin (the MRZ's spelling), so a Hanzi-only entry matches ``ZHANG<<WEI``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_of_present("name", "name_hanzi"))
    name: UsableName | None = None
    aliases: list[ShortText] = Field(default_factory=list, max_length=20)
    name_hanzi: HanziName | None = None
    name_pinyin: ShortText | None = None
    date_of_birth: PartialDate | None = None
    nationality: IcaoState | None = None
    reason: ShortText = Field("", description="Why the person is listed (also the ledgered reason of the change)")
    source: SourceAgency | None = None
    expires_on: ExpiryDate | None = None

    @model_validator(mode="after")
    def _named(self) -> PersonUpdate:
        if self.name is None and self.name_hanzi is None:
            raise ValueError("give a name (Latin letters) or a name in Hanzi")
        return self


class PersonCreate(PersonUpdate):
    id: EntryId | None = None


class DocumentUpdate(Strict):
    document_number: WatchlistDocNumber
    issuing_state: IcaoState | None = None
    document_type: Annotated[str, StringConstraints(pattern=r"^[A-Za-z<]{0,2}$")] | None = None
    reason: Literal["lost", "stolen", "revoked", "invalidated", "blank_stolen"] = "stolen"
    source: SourceAgency | None = None
    expires_on: ExpiryDate | None = None


class DocumentCreate(DocumentUpdate):
    id: EntryId | None = None


class DeactivateCreate(Strict):
    reason: Annotated[str, StringConstraints(max_length=200, pattern=rf"^[^{_CONTROL}]*[^\s{_CONTROL}][^{_CONTROL}]*$")] = \
        Field(description="Why the entry is deactivated (ledgered)")


class PendingDecisionCreate(Strict):
    reason: ShortText = ""


class WatchlistPendingPublic(BaseModel):
    """A change waiting for a second supervisor (four-eyes), or one decided."""

    id: str
    op: Literal["upsert", "edit", "deactivate", "delete"]
    entry_id: str | None
    kind: Literal["person", "document"]
    data: dict[str, str | list[str]] | None
    reason: str
    requested_by: str
    requested_at: str
    status: Literal["pending", "approved", "rejected"]
    decided_by: str | None = None
    decided_at: str | None = None


class WatchlistEntryPublic(BaseModel):
    id: str
    kind: Literal["person", "document"]
    version: int
    created_at: str
    updated_at: str
    name: str | None = None
    aliases: list[str] | None = None
    name_hanzi: str | None = None
    name_pinyin: str | None = None
    date_of_birth: str | None = None
    nationality: str | None = None
    document_number: str | None = None
    issuing_state: str | None = None
    document_type: str | None = None
    reason: str | None = None
    source: str | None = None
    expires_on: str | None = None
    active: bool = True
    expired: bool = False
    deactivated: dict[str, str] | None = Field(None, description="{at, by, reason} of a deactivated entry")


class WatchlistPagePublic(BaseModel):
    total: int
    offset: int
    items: list[WatchlistEntryPublic]


class WatchlistChangePublic(BaseModel):
    version: int
    id: str = Field(description="The watchlist entry's id")
    kind: Literal["person", "document"]
    op: Literal["upsert", "delete"]
    at: str
    data: dict[str, str | list[str]] | None


class WatchlistChangesPublic(BaseModel):
    since: int
    version: int = Field(description="Apply the changes, then ask again with since=version.")
    latest: int
    more: bool
    reset: bool = Field(description="True when `since` is ahead of the server: drop the local copy, restart at 0.")
    changes: list[WatchlistChangePublic]


class ImportRowPublic(BaseModel):
    row: int
    status: Literal["accepted", "rejected"]
    entry_id: str | None = None
    errors: list[str]


class ImportReportPublic(BaseModel):
    id: str
    kind: Literal["person", "document"]
    dry_run: bool
    rows: int
    accepted: int
    rejected: int
    accepted_rows_listed: bool = Field(description="Accepted rows are listed only for files of up to 1000 rows")
    version: int
    report: list[ImportRowPublic]


class WatchlistCheckCreate(Strict):
    """Who to check: a Latin-script ``name``, a ``name_hanzi`` or a ``document_number`` (any of them)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_of_present("name", "name_hanzi", "document_number"))
    name: UsableName | None = None
    name_hanzi: HanziName | None = None
    date_of_birth: PartialDate | None = None
    nationality: IcaoState | None = None
    document_number: WatchlistDocNumber | None = None
    issuing_state: IcaoState | None = None

    @model_validator(mode="after")
    def _someone(self) -> WatchlistCheckCreate:
        if self.name is None and self.name_hanzi is None and self.document_number is None:
            raise ValueError("give a name, a name in Hanzi or a document number")
        return self


class MatchCreate(Strict):
    """A watchlist match as a device reports it with an exception."""

    entry_id: EntryId
    kind: Literal["person", "document"]
    score: UnitScore
    reasons: list[Name40] = Field(default_factory=list, max_length=10)
    hit: StrictBool


class MatchPublic(BaseModel):
    entry_id: str
    kind: Literal["person", "document"]
    score: float
    reasons: list[str]
    hit: bool
    near_miss: bool = Field(False, description="Below the hit threshold but at or above the near-miss threshold")
    band: Literal["hit", "near_miss", "low"] = "low"
    name: str | None = Field(None, description="The listed name (a document: its number)")
    name_hanzi: str | None = None
    listed_reason: str | None = Field(None, description="Why the entry is listed")
    source: str | None = None
    expires_on: str | None = None


class WatchlistCheckPublic(BaseModel):
    hit: bool
    version: int
    matches: list[MatchPublic]


# -- exceptions, events ---------------------------------------------------------------------
class DocumentData(Strict):
    """Data read from the document (MRZ / DG1): personal data, stored encrypted."""

    document_number: DocNumber
    issuing_state: Code3
    document_type: Annotated[str, StringConstraints(pattern=r"^[A-Za-z<]{0,2}$")] = "P"
    surname: ShortText = ""
    given_names: ShortText = ""
    name_hanzi: Name40 | None = None
    nationality: Code3 | None = None
    date_of_birth: Date | None = None
    date_of_expiry: Date | None = None
    sex: Literal["F", "M", "X", "<"] | None = None


#: the liveness path a gate ran (gate._face ``LIVENESS_PATHS``) and its passive PAD's verdict (``error``: the PAD
#: engine failed; a gate reports that as ``unknown``, the value stays accepted); no biometric data
LivenessPath = Literal["off", "passive", "challenge", "passive+challenge"]
PassiveDecision = Literal["live", "doubt", "attack", "unknown", "error"]


class ExceptionCreate(Strict):
    occurred_at: Timestamp
    direction: Literal["entry", "exit"] = "entry"
    reason_codes: list[ReasonCode] = Field(min_length=1, max_length=20)
    scores: dict[ScoreKey, Score] = Field(default_factory=dict, max_length=20, json_schema_extra={
        "additionalProperties": False}, description=(
        "finite numbers in [-1, 1.5]: fingerprint, liveness and quality scores in [0, 1], face scores on the "
        "dlib cosine scale (a cosine in [-1, 1]; the fused score reaches about 1.12)"))
    transaction_id: Name80 | None = None
    document: DocumentData | None = None
    watchlist_matches: list[MatchCreate] = Field(default_factory=list, max_length=20)
    live_image: Base64 | None = Field(default=None, description="JPEG or PNG, base64")
    chip_image: Base64 | None = Field(default=None, description="DG2 image (JPEG or JPEG 2000), base64")
    message: Notes = ""
    # the gate's liveness check as data (issue #23): which path ran, the passive verdict and score, why it failed
    liveness_path: LivenessPath | None = Field(default=None, description=(
        "The liveness path the gate ran: `passive` (passive PAD alone), `passive+challenge` (the active challenge "
        "after a passive doubt, or on a challenge-all lane), `challenge` (the challenge alone), `off`"))
    passive_decision: PassiveDecision | None = Field(default=None, description="The passive PAD's verdict")
    passive_score: UnitScore | None = Field(default=None, description="The passive PAD's score in [0, 1], higher = live")
    liveness_reason: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_CODE_TEXT)] | None = Field(
        default=None, description=("Why liveness failed, e.g. `timeout: blink`, `passive_attack: moire` (no biometric "
                                   "data; one line, not empty, no control, bidi or invisible format characters)"))


class ExceptionPublic(BaseModel):
    """An exception as listed in the queue: no personal data, no images."""

    id: str
    device_id: str
    occurred_at: str
    received_at: str
    direction: str
    reason_codes: list[str]
    scores: dict[str, float]
    status: Literal["open", "referred", "resolved"]
    decision: Literal["admit", "refuse", "refer"] | None
    decided_by: str | None
    decided_at: str | None
    has_live_image: bool
    has_chip_image: bool
    liveness_path: LivenessPath | None = None
    passive_decision: PassiveDecision | None = None
    passive_score: float | None = None
    liveness_reason: str | None = None


class ExceptionDetailPublic(ExceptionPublic):
    """The review view: adds the document data and notes (access is ledgered); images are separate."""

    document: DocumentData | None
    watchlist_matches: list[MatchPublic]
    message: str
    notes: str | None


class DecisionCreate(Strict):
    decision: Literal["admit", "refuse", "refer"]
    notes: Notes = ""


class ExceptionPagePublic(BaseModel):
    total: int
    items: list[ExceptionPublic]


class EventCreate(Strict):
    """A gate transaction or device event: no personal data."""

    # the rule of _partner_reasons_not_here in the schema too (a contract client may rely on it)
    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"properties": {"outcome": {"not": {"const": "partner_referred"}}}},
        {"properties": {"reason_codes": {"maxItems": 0}}},
    ]})
    occurred_at: Timestamp
    kind: Literal["transaction", "door", "heartbeat", "tamper", "error"] = "transaction"
    outcome: Literal["admitted", "referred", "refused", "aborted", "ok", "fault", "partner_referred"] = Field(
        default="admitted", description=(
            "partner_referred: a joint lane's side that admitted while the other administration referred (the lane "
            "stayed shut); such an event carries no reason codes, the partner's reasons are not this side's"))
    reason_codes: list[ReasonCode] = Field(default_factory=list, max_length=20)
    duration_ms: Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=3_600_000)] | None = None
    trust_store_version: Annotated[int, Field(strict=True, ge=0, le=2**53 - 1), BeforeValidator(_integral)] | None = Field(
        default=None, description=(
        "The version of the back office's trust store that decided the transaction (gates)"))
    # EAC (gates): Terminal Authentication, why the chip's fingers (DG3) were not obtained, the fingerprint path
    terminal_authentication: Literal["passed", "failed", "not_performed"] | None = None
    eac_code: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")] | None = Field(
        default=None, description="Terminal Authentication's named cause, e.g. no_terminal_chain_for_cvca")
    dg3_error: Text(300) | None = None
    fingerprint_source: Literal["chip", "backoffice"] | None = None
    liveness_path: LivenessPath | None = Field(default=None, description=(
        "The liveness path the gate ran (as in an exception): the share of travellers challenged per gate"))

    @model_validator(mode="after")
    def _partner_reasons_not_here(self) -> EventCreate:
        if self.outcome == "partner_referred" and self.reason_codes:
            raise ValueError("a partner_referred event carries no reason codes: the partner's reasons are its own")
        return self


class EventPublic(BaseModel):
    id: str
    device_id: str
    occurred_at: str
    received_at: str
    kind: str
    outcome: str
    reason_codes: list[str]
    duration_ms: float | None
    trust_store_version: int | None = None
    terminal_authentication: str | None = None
    eac_code: str | None = None
    dg3_error: str | None = None
    fingerprint_source: str | None = None
    liveness_path: str | None = None


# -- enrolments -----------------------------------------------------------------------------
class FingerTemplate(Strict):
    position: Integer = Field(ge=0, le=10, description="ISO/IEC 19794-2 finger position")
    format: Literal["iso19794_2"] = Field(default="iso19794_2", description="ISO/IEC 19794-2:2005, the only format")
    # 8,192 base64 characters (6 KiB): a 19794-2 record of one finger is at most 1,560 bytes without extended
    # data (255 minutiae); the 4 MiB of an image here only made every schema-driven client (schemathesis's
    # coverage phase among them) build a regular expression of four million repetitions
    data: Annotated[str, StringConstraints(min_length=1, max_length=8192, pattern=r"^[A-Za-z0-9+/=\s]*$")] = Field(
        description="An ISO/IEC 19794-2:2005 finger minutiae record, base64 (at most 8,192 characters)")


def _consent_given(value: bool) -> bool:
    if value is not True:
        raise ValueError("consent was not given: an enrolment cannot be stored without it")
    return value


class Consent(Strict):
    given: Annotated[StrictBool, AfterValidator(_consent_given), WithJsonSchema({"type": "boolean", "const": True})] = Field(
        description="Always true: without the traveller's consent nothing is collected, let alone sent")
    purposes: list[Name80] = Field(min_length=1, max_length=10)
    text_version: Name40
    language: Literal["vi", "zh", "en"] = "vi"
    at: Timestamp


class EnrolmentCreate(Strict):
    captured_at: Timestamp
    document: DocumentData
    face_template: Annotated[str, StringConstraints(min_length=1, max_length=8192,
                                                    pattern=r"^[A-Za-z0-9+/=\s]*$")] = Field(
        description="The face engine's template bytes (biometrics.face FaceTemplate.to_bytes: `SBFT`, "
                    "version 1-3; version 3 = dlib + SFace), base64")
    finger_templates: list[FingerTemplate] = Field(default_factory=list, max_length=10)
    consent: Consent


class FingerVerifyCreate(Strict):
    """A gate's 1:1 fingerprint check: the probe templates captured at the gate for one document."""

    document_number: DocNumber20
    issuing_state: Code3
    finger_templates: list[FingerTemplate] = Field(default_factory=list, max_length=10,
                                                   description="empty: only ask whether fingerprints are enrolled")


class FingerVerifyPublic(BaseModel):
    """The answer: no template leaves the back office, only whether and how well they matched."""

    enrolled: bool
    fingerprint_check: Literal["done", "not_enrolled", "no_templates", "not_configured", "no_probe",
                               "templates_unreadable"]
    score: float | None = Field(default=None, description="The fingerprint engine's score in [0, 1], fused over "
                                                          "the probes (mean of each probe's best)")
    threshold: float | None = Field(default=None, description="The engine's calibrated threshold: matched = "
                                                              "score >= threshold")
    threshold_name: str | None = Field(default=None, description="Its calibration point, e.g. fmr_5e-4")
    matched: bool | None = None


class DuplicateCandidate(BaseModel):
    enrolment_id: str
    modality: Literal["face", "fingerprint", "document"] = Field(
        description="`document`: that enrolment is of the same document (a re-enrolment waits for an officer)")
    score: float


class EnrolmentPublic(BaseModel):
    id: str
    device_id: str
    received_at: str
    status: Literal["accepted", "duplicate_suspected", "rejected"]
    checks: list[Literal["face", "fingerprint"]]
    fingerprint_check: Literal["done", "no_templates", "not_configured"] = Field(
        description="`not_configured` only on records made before every back office compared fingerprints")
    duplicates: list[DuplicateCandidate]
    decided_by: str | None = None
    decided_at: str | None = None


class EnrolmentDecisionCreate(Strict):
    decision: Literal["accept", "reject"]
    notes: Notes = ""


# -- privacy --------------------------------------------------------------------------------
class SubjectLookup(Strict):
    document_number: DocNumber
    issuing_state: Code3
    purpose: PurposeText = "subject_access_request"


class ProblemPublic(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


class RetentionRowPublic(BaseModel):
    category: str
    records: int
    due: int = Field(description="Items past their retention period (purged by the next run)")
    oldest: str | None
    policy: str
    rule: str = Field(description="the rule in words (the policy's own sentence, as the kiosk's consent notice)")
    basis: list[str] = Field(description="its legal basis: the EU model's provision, Vietnam's Decree 13/2023/ND-CP")


class PurgeResultPublic(BaseModel):
    dry_run: bool
    at: str
    purged: int
    by_category: dict[str, int]
    ids_sha256: str = Field(description="SHA-256 over the purged item references, for the auditor")
    keys_shredded: int = Field(0, description="data keys destroyed (every copy of those items is unreadable)")
    wal_truncated: bool = Field(True, description="the WAL files were truncated (false: retry the purge later)")


class PurgeRunPublic(BaseModel):
    at: str
    actor: str
    dry_run: bool
    purged: int
    by_category: dict[str, int]
    summary: str


class LedgerVerifyPublic(BaseModel):
    ok: bool
    entries: int
    first_bad: int | None
    detail: str


class LedgerEntryPublic(BaseModel):
    seq: int
    at: str
    actor: str
    role: str
    action: str
    record: str
    purpose: str


class PurposePublic(BaseModel):
    name: str
    legal_basis: str
    categories: str
    retention: str


class SubjectItem(BaseModel):
    """One item held about the subject, decrypted for the subject access request. Deliberately not
    a ``*Public`` schema: it is the one response that carries biometric data (images, templates),
    because the data subject has the right to a copy; only a privacy officer gets it, ledgered."""

    ref: str
    category: str
    record: str
    created_at: str
    expires_at: str | None
    data: dict | None = None
    data_base64: str | None = None


class SubjectRecordsPublic(BaseModel):
    exceptions: list[str]
    enrolments: list[str]


class SubjectAccessExport(BaseModel):
    subject_id: str
    exported_at: str
    items: list[SubjectItem]
    records: SubjectRecordsPublic


class SubjectErasurePublic(BaseModel):
    subject_id: str
    key_shredded: bool
    items_removed: int
    records: dict[str, int]
    wal_truncated: bool = Field(description="the data database's and the key store's WAL files were truncated "
                                "(false: another reader held them; old pages may remain until the next checkpoint)")


# -- officer calls (backoffice/_calls.py) -----------------------------------------------------
class CallReason(StrEnum):
    """Why a device calls an officer: the traveller pressed the button, the device referred the traveller,
    a device fault, or anything else."""

    traveller_request = "traveller_request"
    referral = "referral"
    device_fault = "device_fault"
    other = "other"


#: the screen (kiosk) or transaction state (gate) a device was in: a lower-case code, never free text
CallState = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class CallCreate(Strict):
    """A gate or kiosk calls an officer. No personal data: the device, its kind and location come from its
    credential and its record; the body says only where in its flow it was and why."""

    state: CallState = Field(description="the screen (kiosk) or transaction state (gate) the device was in, "
                             "a lower-case code of 1-32 characters a-z 0-9 _ (e.g. `review`, `face`)")
    reason: CallReason = CallReason.traveller_request


class CallPublic(BaseModel):
    id: str
    device_id: str
    device_kind: Literal["gate", "kiosk"]
    location: str
    state: str
    reason: str
    status: Literal["open", "acknowledged", "closed"]
    created_at: str
    acknowledged_by: str | None
    acknowledged_at: str | None
    closed_by: str | None
    closed_at: str | None


class CallPagePublic(BaseModel):
    total: int
    items: list[CallPublic]
