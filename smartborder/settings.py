"""The one configuration object of the application: environment variables over a TOML file.

Precedence (highest first): ``SMARTBORDER_*`` environment variables, the TOML file named by
``SMARTBORDER_CONFIG`` (or passed explicitly), the defaults below. Entry points (the CLI, the
back office, the kiosk) build a :class:`Settings` and hand plain values to the workflows; domain
packages never read configuration themselves.

Secrets (``secret_key``, ``kek``, ``device_token``) are refused when empty or a known placeholder
unless ``env = "dev"``; in dev a missing secret is replaced by a per-process random value, so a
developer can run everything with no configuration and nothing weak reaches production.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

__all__ = ["Settings", "SettingsError", "load_settings", "PLACEHOLDER_SECRETS"]

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "change_me", "secret", "password", "placeholder", "xxx", "todo",
     "insecure", "dev", "test", "example", "default"}
)
_SECRET_FIELDS = ("secret_key", "kek", "device_token")
_ENVIRONMENTS = ("dev", "test", "prod")
_DATABASE_SCHEMES = ("postgresql", "postgresql+psycopg")
_CHOICES = {
    "gate_direction": ("entry", "exit"),
    "gate_liveness": ("passive+challenge-on-doubt", "challenge-all", "active", "off"),
    "gate_fingerprints": ("backoffice", "off"),
    "gate_fingerprint_offline": ("refer", "skip"),
    "gate_revocation": ("require", "accept_unknown"),
    "kiosk_liveness": ("active", "off"),
    "gate_scanner": ("auto", "libfprint", "images"),
    "kiosk_scanner": ("auto", "libfprint", "images"),
    "gate_mrz_reader": ("camera", "page_reader", "both"),
    "kiosk_mrz_reader": ("camera", "page_reader", "both"),
    "gate_mrz_reader_kind": ("serial", "keyboard"),
    "kiosk_mrz_reader_kind": ("serial", "keyboard"),
}


class SettingsError(ValueError):
    """Configuration is missing, malformed, or uses a placeholder secret outside dev."""


@dataclass(frozen=True)
class Settings:
    env: str = "dev"
    data_dir: Path = Path("var")
    # back office
    backoffice_url: str = "http://127.0.0.1:8080"
    backoffice_host: str = "127.0.0.1"
    backoffice_port: int = 8080
    backoffice_db: Path | None = None
    #: the central back office on PostgreSQL (issue #24): ``SMARTBORDER_DATABASE_URL=postgresql://...`` for the
    #: data and ``SMARTBORDER_KEYS_DATABASE_URL`` for the vault's key store (another database and role); unset,
    #: the back office keeps its SQLite file (``backoffice_db``). URLs may hold a password: never in a repr
    database_url: str | None = field(default=None, repr=False)
    keys_database_url: str | None = field(default=None, repr=False)
    #: uvicorn worker processes of ``backoffice serve`` ([backoffice] workers; ``--workers``)
    backoffice_workers: int = 1
    #: reverse proxies whose X-Forwarded-For / X-Forwarded-Proto uvicorn believes: comma-separated IP
    #: addresses or CIDR networks ([backoffice] trusted_proxies, a TOML list also works). "" (the default)
    #: trusts no header: the client address is the socket's peer. "*" (trust anyone) only in env = "dev"
    backoffice_trusted_proxies: str = ""
    #: the time zone the back office's web UI shows times in ([backoffice] ui_timezone, an IANA name)
    backoffice_ui_timezone: str = "Asia/Ho_Chi_Minh"
    #: four-eyes on the watchlist ([backoffice] watchlist_four_eyes): a supervisor's change waits for a second
    #: supervisor's approval (backoffice/API.md, "Watchlist")
    backoffice_watchlist_four_eyes: bool = False
    secret_key: str = field(default="", repr=False)
    # privacy: key-encryption key (base64 or hex, 32 bytes) or a key file
    kek: str = field(default="", repr=False)
    kek_file: Path | None = None
    # devices (gates and kiosks)
    device_id: str = "gate-dev-01"
    device_token: str = field(default="", repr=False)
    language: str = "vi"
    watchlist_max_staleness_s: int = 6 * 3600
    #: the back office's ledger key (base64 Ed25519, `smartborder privacy public-key`), pinned on gates and
    #: kiosks: a ledger head it did not sign is dropped, never kept as a witness. "" keeps heads unverified
    ledger_public_key: str = ""
    # hardware
    reader: str = "virtual"
    camera: str = "sim"
    #: where key material lives (KEKs, the vaults' key stores, dev secrets): never inside data_dir, which
    #: is backed up with the data. Default: a sibling of data_dir named "<data_dir>-keys" (var -> var-keys)
    key_dir: Path | None = None
    # the e-gate ([gate] in its TOML file); see smartborder/compose/gate.py and docs/ARCHITECTURE.md
    #: the trust store the back office distributes to gates (a versioned store, `smartborder trust import`);
    #: default data_dir/trust-store
    backoffice_trust_store: Path | None = None
    gate_id: str = "gate-01"
    gate_direction: str = "entry"
    gate_db: Path | None = None  # default: data_dir/gate.db
    gate_kek_file: Path | None = None  # default: key_dir/gate.kek (created 0600 in dev only)
    gate_trust: Path | None = None  # CSCA certificates, CRLs, Master Lists (file or directory): required
    gate_camera: str = "0"  # OpenCV device index or a video file
    gate_page_camera: str = ""  # the page reader's camera for the MRZ (index or file); "" none
    gate_door_port: str = ""  # the door controller's serial port (or a pyserial URL); required outside dev
    gate_finger_dir: Path | None = None  # fingerprint images standing in for a scanner (env = "dev" only)
    #: the fingerprint scanner: "libfprint" (a USB sensor through libfprint), "images" (finger_dir's, dev only),
    #: "auto" (images when finger_dir is set; none with fingerprints = "off"; else libfprint)
    gate_scanner: str = "auto"
    gate_scanner_device: str = ""  # libfprint: a driver id ("elan", ...) or device id; "" the first imaging sensor
    #: where the MRZ comes from: "camera" (OCR of page_camera's frame), "page_reader" (a full-page or swipe reader
    #: that sends the MRZ as text) or "both" (the page reader first, the camera when it reads nothing in time)
    gate_mrz_reader: str = "camera"
    gate_mrz_reader_device: str = ""  # the page reader: /dev/ttyACM0 (serial) or /dev/input/by-id/...-event-kbd
    gate_mrz_reader_kind: str = "serial"  # "serial" (USB CDC / serial line) | "keyboard" (a keyboard wedge)
    gate_mrz_reader_baud: int = 9600  # a serial page reader's speed (8N1)
    #: Extended Access Control: the inspection system's private key (PEM) and its CV certificate chain (DV then IS,
    #: concatenated), issued under the CVCAs of the states whose DG3 fingerprints the gate matches on the device
    gate_eac_key: Path | None = None
    gate_eac_chain: Path | None = None
    #: "challenge-all" (the default: passive PAD and the challenge for everyone; an attack refers at once) |
    #: "passive+challenge-on-doubt" (passive PAD on everyone, the blink + turn challenge only when it doubts: an
    #: explicit lane choice, once an ISO 30107-3 evaluation on real attack material supports it) | "active" (the
    #: challenge alone) | "off" (an explicit relaxation)
    gate_liveness: str = "challenge-all"
    #: extended-length APDUs to the chip (DG2 in a few reads): an explicit opt-in per reader, only where the reader
    #: AND the chips it reads support them (else every traveller is referred); default false (short APDUs)
    gate_extended_length: bool = False
    gate_liveness_seed: int | None = None  # reproducible challenges: simulations only, refused outside dev
    gate_fingerprints: str = "backoffice"  # "backoffice" (1:1 there) | "off" (an explicit relaxation)
    gate_fingerprint_offline: str = "refer"  # back office unreachable: "refer" | "skip" (offline-first lane)
    gate_revocation: str = "require"  # DSC revocation status unknown: "require" (refer) | "accept_unknown"
    gate_stale_crl: str = "refer"  # the CSCA's CRL is past its next update: "refer" (crl_stale) | "accept"
    #: the back office's signed-list public key (base64 Ed25519, `smartborder trust signing-key`): pinned,
    #: the gate installs a trust store from the back office only when this key signed it; "" none is installed
    gate_trust_list_key: str = ""
    #: hours the newest signed trust list confirming the gate's store may age before it reports trust_list_stale
    gate_trust_list_max_age_h: float = 72.0
    gate_sync_interval_s: int = 30
    # the enrolment kiosk ([kiosk]); see smartborder/compose/kiosk.py
    kiosk_id: str = "kiosk-01"
    kiosk_trust: Path | None = None  # CSCA certificates, CRLs, Master Lists: required (Passive Authentication)
    kiosk_camera: str = "0"  # OpenCV device index or a video file
    kiosk_page_camera: str = ""  # the document scanner's camera for the MRZ (index or file); "" the face camera
    kiosk_finger_dir: Path | None = None  # fingerprint images standing in for a scanner (env = "dev" only)
    #: the fingerprint scanner: "libfprint" (a USB sensor through libfprint: single flat fingers), "images"
    #: (finger_dir's images, dev only), "auto" (images when finger_dir is set, else libfprint)
    kiosk_scanner: str = "auto"
    kiosk_scanner_device: str = ""  # libfprint: a driver id ("elan", ...) or device id; "" the first imaging sensor
    #: where the MRZ comes from: "camera" (OCR of page_camera's frame), "page_reader" (a full-page or swipe reader
    #: that sends the MRZ as text) or "both" (the page reader first, the camera when it reads nothing in time)
    kiosk_mrz_reader: str = "camera"
    kiosk_mrz_reader_device: str = ""  # the page reader: /dev/ttyACM0 (serial) or /dev/input/by-id/...-event-kbd
    kiosk_mrz_reader_kind: str = "serial"  # "serial" (USB CDC / serial line) | "keyboard" (a keyboard wedge)
    kiosk_mrz_reader_baud: int = 9600  # a serial page reader's speed (8N1)
    kiosk_liveness: str = "active"  # "active" | "off" (an explicit relaxation)
    kiosk_liveness_seed: int | None = None  # reproducible challenges: simulations only, refused outside dev
    kiosk_kek_file: Path | None = None  # the outbox vault's KEK; default key_dir/kiosk.kek
    kiosk_voice: bool = True  # spoken instructions and capture beeps (kiosk/voice.py); false: the staff's mute
    #: where a referred traveller goes, in the three languages ([kiosk] officer_directions = { vi = "Quầy số 3, bên
    #: trái bạn", zh = "请到左手边3号柜台", en = "Counter 3, on your left" }; SMARTBORDER_KIOSK_OFFICER_DIRECTIONS as a
    #: JSON object); all three or none. None: the referral screen's generic direction (doctor warns)
    kiosk_officer_directions: dict[str, str] | None = field(default=None, hash=False)
    # the back office's matchers: names in the engines' calibrated THRESHOLDS
    backoffice_face_threshold: str = "fmr_5e-4"
    backoffice_fingerprint_threshold: str = "fmr_5e-4"
    #: secrets this object generated (env = "dev" with none configured): not real credentials
    generated_secrets: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.key_dir is None:
            base = self.data_dir if self.data_dir.name else self.data_dir.resolve()
            object.__setattr__(self, "key_dir", base.with_name(base.name + "-keys"))
        key, data = Path(self.key_dir).resolve(), Path(self.data_dir).resolve()
        if key == data or key.is_relative_to(data):
            raise SettingsError(f"key_dir {self.key_dir} lies inside data_dir {self.data_dir}: data backups would "
                                "carry the keys that make purged and erased data unreadable; move it out")
        if self.env not in _ENVIRONMENTS:
            raise SettingsError(f"env must be one of {', '.join(_ENVIRONMENTS)}, not {self.env!r}")
        if self.language not in ("vi", "zh", "en"):
            raise SettingsError(f"language must be vi, zh or en, not {self.language!r}")
        if self.ledger_public_key:
            try:
                raw = base64.b64decode(self.ledger_public_key.strip(), validate=True)
            except ValueError:
                raw = b""
            if len(raw) != 32:
                raise SettingsError("ledger_public_key must be the ledger's Ed25519 public key in base64 (32 bytes), "
                                    "as `smartborder privacy public-key` prints it")
        object.__setattr__(self, "backoffice_trusted_proxies", _trusted_proxies(self.backoffice_trusted_proxies,
                                                                                  dev=self.env == "dev"))
        object.__setattr__(self, "kiosk_officer_directions", _officer_directions(self.kiosk_officer_directions))
        for name in ("database_url", "keys_database_url"):
            value = getattr(self, name)
            if value is not None and not value.strip():
                object.__setattr__(self, name, None)
            elif value is not None and value.split("://", 1)[0] not in _DATABASE_SCHEMES:
                scheme = value.split("://", 1)[0] if "://" in value else "no scheme"
                raise SettingsError(f"{name} must be a PostgreSQL URL ({', '.join(_DATABASE_SCHEMES)}), not {scheme!r} "
                                    "(the SQLite default is backoffice_db, a file path)")
        if self.database_url and not self.keys_database_url:
            raise SettingsError("database_url (PostgreSQL) needs keys_database_url: the vault's key store is a "
                                "database and role of its own (SMARTBORDER_KEYS_DATABASE_URL)")
        if self.database_url and self.database_url == self.keys_database_url:
            raise SettingsError("keys_database_url must not be database_url: the key store is a database of its own")
        if not 1 <= self.backoffice_workers <= 64:
            raise SettingsError(f"backoffice_workers must be 1-64, not {self.backoffice_workers}")
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise SettingsError(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
        for name in _SECRET_FIELDS:
            value = getattr(self, name)
            if value.strip().lower() in PLACEHOLDER_SECRETS or len(value) < 16:
                if self.env == "dev":
                    object.__setattr__(self, name, secrets.token_urlsafe(32))
                    object.__setattr__(self, "generated_secrets", self.generated_secrets | {name})
                elif not (name == "kek" and self.kek_file):
                    raise SettingsError(
                        f"{name} is empty, too short or a placeholder; set SMARTBORDER_{name.upper()} "
                        f"(refused outside env=dev, here env={self.env})"
                    )
        if self.env != "dev":  # a relative path would follow the working directory the service was started from
            for name in ("data_dir", "key_dir", "backoffice_db", "gate_db"):
                value = getattr(self, name)
                if value is not None and not Path(value).is_absolute():
                    raise SettingsError(f"{name} {str(value)!r} is relative: outside env = \"dev\" give an absolute "
                                        "path (a service started from another directory would otherwise open, or "
                                        "create, another data set)")

    def configured(self, name: str) -> str | None:
        """A secret's value when it was configured (TOML or environment), None when generated for dev."""
        return None if name in self.generated_secrets else getattr(self, name)

    @property
    def is_dev(self) -> bool:
        return self.env == "dev"

    def path(self, name: str) -> Path:
        """A file under ``data_dir`` (created on demand by whoever writes it)."""
        return self.data_dir / name


def _trusted_proxies(raw: str, *, dev: bool) -> str:
    """The trusted proxies normalised (``"10.0.0.1,10.1.0.0/16"``); bad entries and "*" outside dev refused."""
    entries = [e.strip() for e in raw.split(",") if e.strip()]
    for entry in entries:
        if entry == "*":
            if not dev:
                raise SettingsError('backoffice_trusted_proxies = "*" trusts X-Forwarded-For from anyone, so any '
                                    "client could choose its address (and dodge the login limits): refused outside "
                                    'env = "dev"; name the proxies\' addresses')
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError as e:
            raise SettingsError(f"backoffice_trusted_proxies: {entry!r} is not an IP address or CIDR network") from e
    return ",".join(entries)


_DIRECTION_LANGUAGES = ("vi", "zh", "en")


def _officer_directions(raw: Any) -> dict[str, str] | None:
    """``[kiosk] officer_directions`` checked: a table with a non-empty text for each of vi, zh and en (a
    traveller must never be sent somewhere in another language only), or nothing (None)."""
    if raw is None or raw == {}:
        return None
    where = "[kiosk] officer_directions (SMARTBORDER_KIOSK_OFFICER_DIRECTIONS)"
    if not isinstance(raw, dict):
        raise SettingsError(f"{where} must be a table of vi, zh and en texts (in the environment a JSON object), "
                            f"e.g. {{ vi = \"Quầy số 3, bên trái bạn\", zh = \"请到左手边3号柜台\", en = \"Counter 3, on "
                            f"your left\" }}, not {raw!r}")
    unknown = sorted(str(k) for k in raw if k not in _DIRECTION_LANGUAGES)
    if unknown:
        raise SettingsError(f"{where}: unknown language(s) {', '.join(unknown)}; give vi, zh and en")
    texts = {lang: raw.get(lang) for lang in _DIRECTION_LANGUAGES}
    bad = [lang for lang, text in texts.items() if not isinstance(text, str) or not text.strip()]
    if bad:
        raise SettingsError(f"{where}: missing or empty for {', '.join(bad)}; a referred traveller reads them in "
                            "their own language: give all three (vi, zh, en) or none")
    return {lang: " ".join(text.split()) for lang, text in texts.items()}


def _coerce(name: str, raw: Any) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    if raw is None:
        return None
    if name == "backoffice_trusted_proxies" and isinstance(raw, list):
        return ",".join(str(v) for v in raw)
    if name == "kiosk_officer_directions":  # a TOML table, or a JSON object in the environment
        if isinstance(raw, str) and raw.strip().startswith("{"):
            import json

            try:
                raw = json.loads(raw)
            except ValueError as e:
                raise SettingsError("[kiosk] officer_directions: SMARTBORDER_KIOSK_OFFICER_DIRECTIONS must be a JSON "
                                    f"object of vi, zh and en texts: {e}") from e
        return None if isinstance(raw, str) and not raw.strip() else raw
    if "bool" in str(kind):
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off", ""):
            return False
        raise SettingsError(f"{name} must be true or false, not {raw!r}")
    if "int" in str(kind):
        try:
            return int(raw)
        except (TypeError, ValueError) as e:
            raise SettingsError(f"{name} must be an integer, not {raw!r}") from e
    if "Path" in str(kind):
        return Path(raw)
    return str(raw)


def load_settings(config: str | Path | None = None, environ: dict[str, str] | None = None,
                  **overrides: Any) -> Settings:
    """Build Settings from a TOML file, then the environment, then explicit overrides."""
    environ = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    known = {f.name for f in fields(Settings)} - {"generated_secrets"}
    config = config or environ.get("SMARTBORDER_CONFIG")
    if config:
        path = Path(config)
        try:
            with path.open("rb") as f:
                raw = tomllib.load(f)
        except FileNotFoundError as e:
            raise SettingsError(f"config file {path} not found") from e
        except tomllib.TOMLDecodeError as e:
            raise SettingsError(f"config file {path} is not valid TOML: {e}") from e
        flat = {**{k: v for k, v in raw.items() if not isinstance(v, dict)}}
        for section, table in raw.items():
            if isinstance(table, dict):
                flat.update({f"{section}_{k}": v for k, v in table.items()})
        unknown = sorted(set(flat) - known)
        if unknown:
            raise SettingsError(f"unknown settings in {path}: {', '.join(unknown)}")
        values.update({k: _coerce(k, v) for k, v in flat.items()})
    for name in known:
        key = f"SMARTBORDER_{name.upper()}"
        if key in environ:
            values[name] = _coerce(name, environ[key])
    values.update({k: _coerce(k, v) for k, v in overrides.items() if v is not None})
    return Settings(**values)


def load_paths(config: str | Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """The configuration's paths (data_dir, key_dir, the roles' databases) for a read-only tool that needs no
    secret (an auditor exporting a device's witness heads): the secrets are not checked, and the returned
    object must not be used to run a service (its secrets are generated placeholders)."""
    return load_settings(config, environ, env="dev")


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    """A copy with some fields changed (validation runs again)."""
    return replace(settings, **changes)
