"""The enrolment kiosk's composition: the one place that builds a kiosk from configuration.

``smartborder kiosk run`` (real devices or ``--sim``) and the end-to-end tests call :func:`build_kiosk`;
only the :class:`KioskDevices` handed in differ (real adapters from :func:`real_devices`, or the
simulator's, which plug in at the device ports).

Production defaults: a trust store is required (Passive Authentication up to a trusted CSCA, DG1 and
DG2 verified, the DSC's revocation status known, before any record is taken); only
``--dev-without-passive-authentication`` in ``env = "dev"`` relaxes it, and says so on every start. The
outbox is sealed by the privacy vault under a KEK kept outside the data directory in a file only the
kiosk's user can read (created 0600 in dev). The liveness challenge runs.

Consent first: the workflow reads the printed MRZ before consent and the chip only after it. The consent
notice's retention sentence comes from the retention policies the back office's purge enforces
(``privacy.DEFAULT_POLICIES``: the enrolment record and the templates), rendered by
``RetentionPolicy.describe(language)``; its text version, recorded with each consent, is derived from the
text shown (:func:`kiosk.consent_notice`). :attr:`Kiosk.consent` goes to the app.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("smartborder.kiosk")

__all__ = ["KioskConfig", "KioskConfigError", "KioskDevices", "Kiosk", "kiosk_config", "real_devices", "build_kiosk",
           "kiosk_app", "DEV_WITHOUT_PA_BANNER"]

DEV_WITHOUT_PA_BANNER = ("DEVELOPMENT KIOSK: NO TRUST STORE, PASSIVE AUTHENTICATION IS NOT PERFORMED: forged chips "
                         "are enrolled. Never in service.")


class KioskConfigError(ValueError):
    """The kiosk's configuration is unusable or unsafe (the setting is named)."""


@dataclass(frozen=True)
class KioskConfig:
    trust_path: Path | None
    env: str = "prod"  # fail safe: a configuration built by hand is a production one unless it says otherwise
    data_dir: Path = Path("var")
    key_dir: Path = Path("var-keys")
    kiosk_id: str = "kiosk-01"
    dev_without_passive_authentication: bool = False
    backoffice_url: str | None = None
    token: str | None = None
    ledger_public_key: str = ""  # pins the back office's ledger key: heads it did not sign are not kept
    camera: str = "0"
    page_camera: str = ""
    reader: str | None = None
    finger_dir: Path | None = None
    #: "libfprint" (a USB sensor: single flat fingers), "images" (finger_dir's images, dev only) or "auto" (images
    #: when finger_dir is set, else libfprint); ``scanner_device`` names a libfprint driver or device ("" the first)
    scanner: str = "auto"
    scanner_device: str = ""
    #: the MRZ: "camera" (OCR of page_camera's frame), "page_reader" (mrz_reader_device: a serial reader or a
    #: keyboard wedge, mrz_reader_kind) or "both" (the page reader first); see smartborder/compose/_mrz.py
    mrz_reader: str = "camera"
    mrz_reader_device: str = ""
    mrz_reader_kind: str = "serial"
    mrz_reader_baud: int = 9600
    language: str = "vi"
    liveness: str = "active"
    liveness_seed: int | None = None
    kek_file: Path | None = None
    #: where a referred traveller goes, {"vi": ..., "zh": ..., "en": ...} ([kiosk] officer_directions, checked by
    #: the settings); None: the referral screen's generic direction from the kiosk's catalogues
    officer_directions: dict[str, str] | None = field(default=None, hash=False)

    @property
    def outbox_path(self) -> Path:
        """The outbox's SQLite database (payloads sealed by the vault beside it, :attr:`vault_path`)."""
        return self.data_dir / "kiosk" / "outbox.db"

    @property
    def vault_path(self) -> Path:
        """The outbox vault's key store (one data key per record, shredded on delivery): key material, in
        the key directory (0700), out of the data and its backups."""
        return self.key_dir / "kiosk-outbox-vault.db"


def kiosk_config(settings, **overrides: Any) -> KioskConfig:
    """A :class:`KioskConfig` from :class:`smartborder.settings.Settings` (TOML ``[kiosk]`` + env) and
    command-line ``overrides`` (None values ignored); refuses what a deployed kiosk must not run with."""
    values: dict[str, Any] = dict(
        trust_path=settings.kiosk_trust, env=settings.env, data_dir=settings.data_dir, key_dir=settings.key_dir,
        kiosk_id=settings.kiosk_id, backoffice_url=settings.backoffice_url, token=settings.configured("device_token"),
        ledger_public_key=settings.ledger_public_key,
        camera=settings.kiosk_camera, page_camera=settings.kiosk_page_camera,
        reader=None if settings.reader in ("", "virtual", "auto") else settings.reader,
        finger_dir=settings.kiosk_finger_dir, scanner=settings.kiosk_scanner,
        scanner_device=settings.kiosk_scanner_device, mrz_reader=settings.kiosk_mrz_reader,
        mrz_reader_device=settings.kiosk_mrz_reader_device, mrz_reader_kind=settings.kiosk_mrz_reader_kind,
        mrz_reader_baud=settings.kiosk_mrz_reader_baud, language=settings.language, liveness=settings.kiosk_liveness,
        liveness_seed=settings.kiosk_liveness_seed, kek_file=settings.kiosk_kek_file or settings.key_dir / "kiosk.kek",
        officer_directions=settings.kiosk_officer_directions)
    values.update({k: v for k, v in overrides.items() if v is not None})
    if values.get("trust_path") is not None:
        values["trust_path"] = Path(values["trust_path"])
    if not values.get("token"):
        values["backoffice_url"] = None  # no credential: enrolments wait, sealed, in the outbox
    config = KioskConfig(**values)
    validate(config)
    return config


def validate(config: KioskConfig) -> None:
    from smartborder.compose._checks import production_problems

    problems = production_problems(config)
    if problems:
        raise KioskConfigError("; ".join(problems))
    if config.dev_without_passive_authentication and config.env != "dev":
        raise KioskConfigError("--dev-without-passive-authentication is refused outside env = \"dev\"")
    if config.liveness_seed is not None and config.env != "dev":
        raise KioskConfigError("liveness_seed makes the challenges predictable: simulations only (env = \"dev\")")
    if config.liveness not in ("active", "off"):
        raise KioskConfigError(f"liveness must be active or off, not {config.liveness!r}")
    if config.scanner not in ("auto", "libfprint", "images"):
        raise KioskConfigError(f"[kiosk] scanner must be libfprint, images or auto, not {config.scanner!r}")
    from smartborder.compose._mrz import mrz_reader_problems

    problems = mrz_reader_problems("kiosk", config)
    if problems:
        raise KioskConfigError("; ".join(problems))
    if config.ledger_public_key:
        from devicelink import ledger_key

        try:
            ledger_key(config.ledger_public_key)
        except ValueError as e:
            raise KioskConfigError(str(e)) from e


#: the most one camera frame's MRZ read may take before it gives up (issue #25 review item 4)
CAMERA_MRZ_BUDGET_S = 0.4


def camera_mrz_text(frame) -> str:
    """The MRZ text of one document-camera frame, polled every 0.2 s while no document lies there: a read
    bounded by :data:`CAMERA_MRZ_BUDGET_S`, and only a valid MRZ is text; anything else raises
    ``emrtd.MrzNotFoundError`` (no MRZ characters in its message), so the document step polls again instead of
    counting a failed attempt."""
    import emrtd

    lines = emrtd.read_mrz_image(frame, budget_s=CAMERA_MRZ_BUDGET_S).lines
    _, errors = emrtd.check_mrz(list(lines))
    if errors:
        raise emrtd.MrzNotFoundError(f"no valid MRZ in the frame ({len(errors)} field(s) fail)")
    return "".join(lines)


@dataclass
class KioskDevices:
    camera: Any  # frames(); frame_time
    reader: Any  # wait_for_card(timeout), transmit(apdu)
    mrz_source: Any  # read_mrz()
    scanner: Any  # capture() -> FingerCapture; ``slap`` False: single flat fingers (the finger plan follows it)
    closers: list[Callable[[], None]] = field(default_factory=list)


def _source(value: str) -> int | str:
    return int(value) if value.strip().lstrip("-").isdigit() else value


def scanner_kind(config: KioskConfig) -> str:
    """Which fingerprint scanner the configuration asks for: "images" or "libfprint" ("auto": images when
    ``finger_dir`` is set, else libfprint)."""
    if config.scanner == "auto":
        return "images" if config.finger_dir is not None else "libfprint"
    return config.scanner


def real_scanner(config: KioskConfig):
    """The fingerprint scanner of ``[kiosk] scanner``: a libfprint sensor (flat fingers, opened here; a missing
    library or sensor is a :class:`KioskConfigError` naming it), or ``finger_dir``'s images standing in for a
    four-finger slap scanner (env = "dev" only, refused elsewhere by :func:`validate`)."""
    from devices import FingerprintScannerError, ImageFingerprintScanner, LibfprintScanner

    if scanner_kind(config) == "images":
        if config.finger_dir is None:
            raise KioskConfigError("[kiosk] scanner = \"images\" needs finger_dir (fingerprint images standing in for "
                                   "a scanner, env = \"dev\" only) or --finger-dir; a real kiosk uses scanner = "
                                   "\"libfprint\"")
        return ImageFingerprintScanner(config.finger_dir, slap=True)
    try:
        # a sensor's retry-able impression (too short, off centre) is taken again within the capture's time-out
        return LibfprintScanner(config.scanner_device or None, retries=2)
    except FingerprintScannerError as e:
        raise KioskConfigError(f"[kiosk] scanner = \"libfprint\": {e}") from e


def finger_plan(scanner):
    """The enrolment's captures for this scanner: two four-finger slaps (``enrollment.SLAP_PLAN``) from a slap
    scanner, four flat fingers (``enrollment.FLAT_PLAN``: right index and middle, left index and middle) from a
    single-finger one (``scanner.slap`` False: libfprint sensors). A scanner that does not say is a slap
    scanner, as the kiosk always assumed."""
    from enrollment import FLAT_PLAN, SLAP_PLAN

    return FLAT_PLAN if getattr(scanner, "slap", True) is False else SLAP_PLAN


def real_devices(config: KioskConfig) -> KioskDevices:
    """A PC/SC reader, an OpenCV camera for the face (a video file plays at its own rate), the MRZ of ``[kiosk]
    mrz_reader`` (the document scanner's camera read by the MRZ OCR, the face camera when none is configured; a
    page reader; or both, page reader first), and the fingerprint scanner of ``[kiosk] scanner``
    (:func:`real_scanner`: libfprint, or images standing in for one in dev)."""
    from devices import CallableMrzSource, OpenCvCamera, PageReaderThenCamera, PcscReader
    from smartborder.compose._mrz import page_reader as open_page_reader

    scanner = real_scanner(config)  # first: a kiosk without its scanner stops before opening the cameras
    closers = [scanner.close] if hasattr(scanner, "close") else []
    try:
        page_reader = open_page_reader("kiosk", config, KioskConfigError)
    except KioskConfigError:
        for close in closers:
            close()
        raise
    closers += [page_reader.close] if page_reader is not None else []
    camera = OpenCvCamera(_source(config.camera), realtime=True)
    page = OpenCvCamera(_source(config.page_camera)) if config.page_camera else camera

    def mrz_from_page() -> str:
        return camera_mrz_text(next(iter(page.frames())))

    closers += [camera.close] + ([page.close] if page is not camera else [])
    mrz_source: Any = CallableMrzSource(mrz_from_page)
    if page_reader is not None:
        mrz_source = page_reader if config.mrz_reader == "page_reader" else PageReaderThenCamera(page_reader, mrz_source)
    return KioskDevices(camera, PcscReader(config.reader), mrz_source, scanner, closers)


@dataclass
class Kiosk:
    config: KioskConfig
    workflow: Any
    devices: KioskDevices
    outbox: Any
    submitter: Any = None
    #: kiosk.ConsentNotice: the retention sentence in each language and the text version consents record
    consent: Any = None

    def close(self) -> None:
        for close in self.devices.closers:
            try:
                close()
            except Exception as e:  # noqa: BLE001 - closing a device must not hide the kiosk's own exit
                log.warning("closing a device failed: %s", type(e).__name__)


def _outbox(config: KioskConfig):
    """The sealed device outbox (SQLite, :attr:`KioskConfig.outbox_path`): payloads sealed by the privacy
    vault (a data key per record, crypto-shredded on delivery) under the kiosk's KEK, which must lie
    outside the data directory and be readable by the kiosk's user only."""
    from devicelink import Outbox, VaultSealer
    from privacy import FileKek, KekError, Vault, check_key_location

    path = config.kek_file or config.key_dir / "kiosk.kek"
    try:
        check_key_location(path, config.data_dir)
        if not path.exists():
            if config.env != "dev":
                raise KioskConfigError(f"the kiosk's KEK file {path} does not exist (set [kiosk] kek_file)")
            FileKek.generate(path)
        kek = FileKek(path)
    except KekError as e:
        raise KioskConfigError(str(e)) from e
    from smartborder.compose._checks import key_store_path

    try:
        check_key_location(config.vault_path, config.data_dir)
        vault = key_store_path(config.vault_path, config.data_dir / "kiosk" / "outbox-vault.db", config.env,
                               "[kiosk] key_dir")
        return Outbox(config.outbox_path, sealer=VaultSealer(Vault(vault, kek)))
    except (ValueError, KekError) as e:
        raise KioskConfigError(str(e)) from e


def build_kiosk(config: KioskConfig, devices: KioskDevices, *, trust: Any = None, engines: Any = None,
                outbox: Any = None, retention: Any = None) -> Kiosk:
    """The kiosk's object graph: trust store, engines, sealed outbox, back-office client, workflow, consent
    notice. ``trust`` / ``engines`` / ``outbox`` replace what the configuration names (the simulator's own
    trust store for its virtual documents; a photo camera's stand-in liveness, said out loud by the caller);
    ``retention`` (category -> privacy.RetentionPolicy) the retention policies (default
    ``privacy.DEFAULT_POLICIES``, the ones the back office's purge enforces)."""
    import emrtd
    import privacy
    from devicelink import BackofficeClient
    from enrollment import EnrolmentWorkflow, Policy
    from kiosk import ConsentNoticeError, EnginesUnavailable, build_engines, consent_notice

    validate(config)
    try:
        consent = consent_notice(privacy.DEFAULT_POLICIES if retention is None else retention)
    except ConsentNoticeError as e:
        raise KioskConfigError(str(e)) from e
    if trust is None and config.trust_path is not None:
        try:
            trust = emrtd.TrustStore.from_path(config.trust_path)
        except (emrtd.TrustError, OSError) as e:
            raise KioskConfigError(f"trust store {config.trust_path}: {e}") from e
    if trust is None and not config.dev_without_passive_authentication:
        raise KioskConfigError("the kiosk needs a trust store for Passive Authentication: set [kiosk] trust (CSCA "
                               "certificates, CRLs or Master Lists) or pass --trust")
    if config.dev_without_passive_authentication:
        log.warning(DEV_WITHOUT_PA_BANNER)
    if engines is None:
        try:
            engines = build_engines(liveness="auto" if config.liveness == "active" else "off",
                                    seed=config.liveness_seed)
        except EnginesUnavailable as e:
            raise KioskConfigError(str(e)) from e
    outbox = outbox if outbox is not None else _outbox(config)
    # every ledger head goes into the outbox's witness history as it arrives
    submitter = BackofficeClient(config.backoffice_url, config.token, ledger_public_key=config.ledger_public_key,
                                 on_ledger_head=getattr(outbox, "keep_ledger_head", None)) if config.backoffice_url else None
    policy = Policy(require_passive_authentication=not config.dev_without_passive_authentication,
                    consent_text_version=consent.text_version, finger_plan=finger_plan(devices.scanner))
    workflow = EnrolmentWorkflow(engines, outbox, submitter, reader=devices.reader, mrz_source=devices.mrz_source,
                                 trust=trust, policy=policy)
    return Kiosk(config, workflow, devices, outbox, submitter, consent)


def kiosk_app(kiosk: Kiosk, *, sim: Any = None, **kw: Any):
    """The Kivy app over a built :class:`Kiosk` (imports Kivy: configure it first, :func:`kiosk.configure_kivy`):
    its workflow and devices, the consent notice, the default language and where a referred traveller goes
    (:attr:`KioskConfig.officer_directions`). ``kw``: the app's other options (``voice``, ``done_return_s``, ...).
    ``kiosk run`` (real devices or ``--sim``) and the headless tests build the app here."""
    from kiosk import create_app

    kw.setdefault("default_lang", kiosk.config.language)
    return create_app(kiosk.workflow, camera=kiosk.devices.camera, scanner=kiosk.devices.scanner, sim=sim,
                      consent=kiosk.consent, directions=kiosk.config.officer_directions, **kw)
