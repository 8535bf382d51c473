"""The e-gate's composition: the one place that builds a running gate from configuration.

``smartborder gate run`` (real devices or ``--sim``), the demo, the benches and the end-to-end tests
all call :func:`build_gate`; what differs between them is only the :class:`GateDevices` handed in
(real adapters from :func:`real_devices`, or simulators, which plug in at the device ports) and the
back-office client (HTTP, or the simulation's own).

    Settings (TOML [gate] + env) -> gate_config() -> GateConfig
    GateConfig + GateDevices (+ client) -> build_gate() -> Gate (workflow, store, sync)
    Gate -> serve() : wait for a document, process, wait for it to be taken, repeat

Production defaults, none of which a default relaxes: the trust store is required; the gate's
outbox is sealed by the privacy vault under a KEK that lives outside the data directory in a file
no one else can read (or comes from ``SMARTBORDER_GATE_KEK``); passive PAD runs on every traveller
and the liveness challenge for everyone (``challenge-all``; opening on a passive "live" alone is an explicit lane
choice, logged as a warning at start-up); the fingerprint check goes to the back office and refers when it cannot be made; a DSC whose
revocation status is unknown refers; the watchlist copy may be at most ``watchlist_max_staleness_s``
old; the real devices include a real door controller (no logging stand-in).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("smartborder.gate")

__all__ = ["GateConfig", "GateConfigError", "GateDevices", "Gate", "gate_config", "real_devices", "build_gate",
           "serve", "gate_sealer"]


class GateConfigError(ValueError):
    """The gate's configuration is unusable or unsafe (the setting is named)."""


@dataclass(frozen=True)
class GateConfig:
    """Everything :func:`build_gate` needs, validated (see :func:`gate_config`)."""

    trust_path: Path
    gate_id: str = "gate-01"
    direction: str = "entry"
    env: str = "prod"  # fail safe: a configuration built by hand is a production one unless it says otherwise
    data_dir: Path = Path("var")
    db_path: Path | None = None  # None: in memory (simulations, benches)
    key_dir: Path = Path("var-keys")  # key material: the outbox vault's key store (and the KEK by default)
    kek_file: Path | None = None
    backoffice_url: str | None = None
    token: str | None = None
    ledger_public_key: str = ""  # pins the back office's ledger key: heads it did not sign are not kept
    #: gate._face.LIVENESS_POLICIES: "passive+challenge-on-doubt" | "challenge-all" | "active" (challenge only) | "off"
    #: default "challenge-all" (fail closed): the passive PAD is evaluated only on simulated attacks, so a lane opens on
    #: a passive "live" alone only where it says so, once an ISO 30107-3 evaluation on real attack material supports it
    liveness: str = "challenge-all"
    liveness_seed: int | None = None
    #: extended-length APDUs to the chip: an explicit opt-in per reader (default False). The reader AND the chip must
    #: both support them: real chips answer a plain 6700/6987/6988 and drop the SM session, and readers without
    #: extended support fail in SCardTransmit, either of which refers every traveller
    extended_length: bool = False
    fingerprints: str = "backoffice"
    fingerprint_offline: str = "refer"
    revocation: str = "require"
    stale_crl: str = "refer"  # "refer" (crl_stale) | "accept" (an explicit relaxation)
    #: the back office's signed-list public key (base64), pinned: trust stores it signed are installed from the
    #: back office into ``trust_store_dir``; "" none is fetched (the configured ``trust_path`` stays in use)
    trust_list_key: str = ""
    trust_store_dir: Path | None = None  # where an installed trust store is kept (default DATA_DIR/gate-trust-store)
    trust_list_max_age_h: float = 72.0  # older signed confirmation of the store in use: trust_list_stale (reported)
    max_watchlist_age_s: float = 6 * 3600
    reader: str | None = None  # PC/SC reader name prefix (None: the first reader)
    camera: str = "0"
    page_camera: str = ""
    door_port: str = ""
    finger_dir: Path | None = None
    #: "libfprint" (a USB sensor), "images" (finger_dir's images, dev only) or "auto" (images when finger_dir is
    #: set; no scanner with fingerprints = "off"; else libfprint); ``scanner_device`` names a libfprint driver
    scanner: str = "auto"
    scanner_device: str = ""
    #: the MRZ: "camera" (OCR of page_camera), "page_reader" (mrz_reader_device) or "both" (smartborder/compose/_mrz.py)
    mrz_reader: str = "camera"
    mrz_reader_device: str = ""
    mrz_reader_kind: str = "serial"
    mrz_reader_baud: int = 9600
    #: EAC: the inspection system's key and CV certificate chain (DV, IS); with both, Terminal Authentication
    #: follows Chip Authentication and a chip's DG3 fingers are matched on the device (offline)
    eac_key: Path | None = None
    eac_chain: Path | None = None
    sync_interval_s: float = 30.0
    face_threshold: str = "fmr_5e-4"
    #: the back office's ([backoffice] fingerprint_threshold): the on-device DG3 1:1 applies the stricter of it and
    #: the lane's own, as the back-office path does with the threshold the back office answers
    fingerprint_threshold: str = "fmr_5e-4"

    def policy(self):
        """The lane's decision policy: each relaxation only where this configuration names it."""
        from gate import PolicyConfig

        return PolicyConfig(max_watchlist_age_s=float(self.max_watchlist_age_s),
                            require_liveness=self.liveness != "off",
                            liveness_policy=self.liveness if self.liveness != "off" else "challenge-all",
                            require_revocation_status=self.revocation == "require",
                            accept_stale_crl=self.stale_crl == "accept",
                            require_fingerprint_when_enrolled=self.fingerprints != "off",
                            refer_when_fingerprint_unavailable=self.fingerprint_offline == "refer")

    @property
    def vault_path(self) -> Path:
        """The outbox vault's key store (a data key per outbox item, shredded on delivery): key material, in
        the key directory (0700), out of the data and its backups."""
        return self.key_dir / "gate-vault.db"

    def relaxations(self) -> list[str]:
        """What this lane relaxes, for the start-up log and the operator."""
        out = []
        if self.liveness == "off":
            out.append("liveness=off")
        if self.fingerprints == "off":
            out.append("fingerprints=off")
        if self.fingerprint_offline == "skip":
            out.append("fingerprint_offline=skip")
        if self.revocation == "accept_unknown":
            out.append("revocation=accept_unknown")
        if self.stale_crl == "accept":
            out.append("stale_crl=accept")
        return out


def gate_config(settings, **overrides: Any) -> GateConfig:
    """A :class:`GateConfig` from :class:`smartborder.settings.Settings` (TOML ``[gate]`` + env), with
    command-line ``overrides`` (None values ignored). Refuses unsafe production settings."""
    values: dict[str, Any] = dict(
        trust_path=settings.gate_trust, gate_id=settings.gate_id, direction=settings.gate_direction,
        env=settings.env, data_dir=settings.data_dir,
        db_path=settings.gate_db or settings.path("gate.db"),
        key_dir=settings.key_dir, kek_file=settings.gate_kek_file or (settings.key_dir / "gate.kek"),
        backoffice_url=settings.backoffice_url, token=settings.configured("device_token"),
        ledger_public_key=settings.ledger_public_key, liveness=settings.gate_liveness, liveness_seed=settings.gate_liveness_seed,
        fingerprints=settings.gate_fingerprints, fingerprint_offline=settings.gate_fingerprint_offline,
        revocation=settings.gate_revocation, stale_crl=settings.gate_stale_crl,
        trust_list_key=settings.gate_trust_list_key, trust_store_dir=settings.path("gate-trust-store"),
        max_watchlist_age_s=float(settings.watchlist_max_staleness_s),
        reader=None if settings.reader in ("", "virtual", "auto") else settings.reader,
        camera=settings.gate_camera, page_camera=settings.gate_page_camera, door_port=settings.gate_door_port,
        finger_dir=settings.gate_finger_dir, scanner=settings.gate_scanner, scanner_device=settings.gate_scanner_device,
        sync_interval_s=float(settings.gate_sync_interval_s))
    values.update(eac_key=settings.gate_eac_key, eac_chain=settings.gate_eac_chain,
                  fingerprint_threshold=settings.backoffice_fingerprint_threshold)
    values.update(extended_length=bool(settings.gate_extended_length))
    values.update(trust_list_max_age_h=float(settings.gate_trust_list_max_age_h))
    values.update(mrz_reader=settings.gate_mrz_reader, mrz_reader_device=settings.gate_mrz_reader_device,
                  mrz_reader_kind=settings.gate_mrz_reader_kind, mrz_reader_baud=settings.gate_mrz_reader_baud)
    values.update({k: v for k, v in overrides.items() if v is not None})
    if values.get("trust_path") is None:
        raise GateConfigError("the gate needs a trust store: set [gate] trust (CSCA certificates, CRLs or "
                              "Master Lists) or pass --trust")
    values["trust_path"] = Path(values["trust_path"])
    if not values.get("token"):
        values["backoffice_url"] = None  # no credential: the gate runs offline (fingerprint checks refer)
    config = GateConfig(**values)
    validate(config)
    return config


def validate(config: GateConfig) -> None:
    from smartborder.compose._checks import production_problems

    problems = production_problems(config)
    if problems:
        raise GateConfigError("; ".join(problems))
    if config.direction not in ("entry", "exit"):
        raise GateConfigError(f"direction must be entry or exit, not {config.direction!r}")
    if config.liveness_seed is not None and config.env != "dev":
        raise GateConfigError("liveness_seed makes the challenges predictable: simulations only (env = \"dev\")")
    if config.trust_list_key:
        from privacy import load_public_key

        try:
            load_public_key(config.trust_list_key)
        except ValueError as e:
            raise GateConfigError(f"[gate] trust_list_key: {e}") from e
    if not config.trust_list_max_age_h > 0:
        raise GateConfigError(f"[gate] trust_list_max_age_h must be positive, not {config.trust_list_max_age_h!r}")
    if config.stale_crl not in ("refer", "accept"):
        raise GateConfigError(f"[gate] stale_crl must be refer or accept, not {config.stale_crl!r}")
    from gate import LIVENESS_POLICIES

    if config.liveness not in LIVENESS_POLICIES:
        raise GateConfigError(f"[gate] liveness must be one of {', '.join(LIVENESS_POLICIES)}, not {config.liveness!r}")
    if (config.eac_key is None) != (config.eac_chain is None):
        raise GateConfigError("[gate] eac_key and eac_chain go together: the inspection system's key and its CV "
                              "certificate chain (or neither: no Extended Access Control, DG3 is not read)")
    if config.scanner not in ("auto", "libfprint", "images"):
        raise GateConfigError(f"[gate] scanner must be libfprint, images or auto, not {config.scanner!r}")
    from smartborder.compose._mrz import mrz_reader_problems

    problems = mrz_reader_problems("gate", config)
    if problems:
        raise GateConfigError("; ".join(problems))
    if config.ledger_public_key:
        from devicelink import ledger_key

        try:
            ledger_key(config.ledger_public_key)
        except ValueError as e:
            raise GateConfigError(str(e)) from e


def gate_sealer(config: GateConfig):
    """The privacy vault that seals the outbox: in memory under an ephemeral key for an in-memory gate;
    otherwise beside the database under the gate's KEK (``SMARTBORDER_GATE_KEK``, else the key file,
    which must lie outside the data directory and be readable by the gate's user only; in dev it is
    created 0600 on first use)."""
    from devicelink import VaultSealer, ephemeral_sealer
    from privacy import EnvKek, FileKek, KekError, Vault, check_key_location

    if config.db_path is None:
        return ephemeral_sealer()
    try:
        if os.environ.get("SMARTBORDER_GATE_KEK"):
            kek = EnvKek("SMARTBORDER_GATE_KEK")
        else:
            path = config.kek_file or config.key_dir / "gate.kek"
            check_key_location(path, config.data_dir)
            check_key_location(path, Path(config.db_path).parent)  # not beside the vault it protects either
            if not path.exists():
                if config.env != "dev":
                    raise GateConfigError(f"the gate's KEK file {path} does not exist (set [gate] kek_file or "
                                          "SMARTBORDER_GATE_KEK)")
                FileKek.generate(path)
            kek = FileKek(path)
    except KekError as e:
        raise GateConfigError(str(e)) from e
    from smartborder.compose._checks import key_store_path

    try:
        check_key_location(config.vault_path, config.data_dir)
        vault = key_store_path(config.vault_path, Path(f"{config.db_path}.vault"), config.env, "[gate] key_dir")
        return VaultSealer(Vault(vault, kek))
    except (ValueError, KekError) as e:
        raise GateConfigError(str(e)) from e


@dataclass
class GateDevices:
    """The device ports a gate uses; real adapters or simulators."""

    reader: Any  # wait_for_card(timeout), transmit(apdu); wait_for_removal(timeout) where it can
    camera: Any  # frames(); frame_time; follow(key) for a simulated traveller
    door: Any  # open()
    mrz_source: Any = None  # read_mrz()
    page_camera: Any = None  # capture_page()
    qr_source: Any = None  # read_qr()
    scanner: Any = None  # capture() -> FingerCapture
    display: Callable[[str | None], None] | None = None  # the lane display (instruction keys)
    persons_in_lane: Callable[[], int] | None = None  # a lane sensor, where fitted
    closers: list[Callable[[], None]] = field(default_factory=list)


class _PageCamera:
    """``capture_page()`` from a camera looking at the page reader's glass."""

    def __init__(self, camera) -> None:
        self.camera = camera

    def capture_page(self):
        return next(iter(self.camera.frames()))


def _camera_source(value: str) -> int | str:
    return int(value) if value.strip().lstrip("-").isdigit() else value


def real_scanner(config: GateConfig):
    """The lane's fingerprint scanner (``[gate] scanner``): a libfprint sensor (one flat finger per capture,
    opened here; a missing library or sensor is a :class:`GateConfigError` naming it), ``finger_dir``'s images
    standing in for one (env = "dev" only), or none when the lane checks no fingerprints (``fingerprints =
    "off"``, scanner "auto")."""
    from devices import FingerprintScannerError, ImageFingerprintScanner, LibfprintScanner

    kind = config.scanner
    if kind == "auto":
        kind = "images" if config.finger_dir is not None else ("none" if config.fingerprints == "off" else "libfprint")
    if kind == "none":
        return None
    if kind == "images":
        if config.finger_dir is None:
            raise GateConfigError("[gate] scanner = \"images\" needs finger_dir (fingerprint images standing in for a "
                                  "scanner, env = \"dev\" only) or --finger-dir; a real gate uses scanner = "
                                  "\"libfprint\"")
        return ImageFingerprintScanner(config.finger_dir)
    try:
        return LibfprintScanner(config.scanner_device or None, retries=2)
    except FingerprintScannerError as e:
        raise GateConfigError(f"[gate] scanner = \"libfprint\": {e} (a lane that checks no fingerprints sets "
                              "fingerprints = \"off\")") from e


def real_devices(config: GateConfig) -> GateDevices:
    """The real adapters: a PC/SC reader, OpenCV cameras (face; the page reader's glass), the page reader of
    ``[gate] mrz_reader`` (smartborder/compose/_mrz.py), a serial door controller, the fingerprint scanner of
    ``[gate] scanner`` (:func:`real_scanner`)."""
    from devices import OpenCvCamera, PcscReader, SerialDoor
    from smartborder.compose._mrz import page_reader

    if not config.door_port:  # no stand-in door on the real path: simulations use --sim
        raise GateConfigError("a gate on real devices needs its door controller: set [gate] door_port or pass "
                              "--door-port")
    scanner = real_scanner(config)  # first: a lane without its scanner stops before opening the door and cameras
    mrz = page_reader("gate", config, GateConfigError)  # the document step asks it before the page camera
    camera = OpenCvCamera(_camera_source(config.camera))
    page = (_PageCamera(OpenCvCamera(_camera_source(config.page_camera)))
            if config.page_camera and config.mrz_reader != "page_reader" else None)
    door = SerialDoor(config.door_port)

    def display(key: str | None) -> None:
        if key:
            log.info("lane display: %s", key)

    reader = PcscReader(config.reader)
    closers = [c for c in (reader.close, getattr(camera, "close", None),
                           getattr(getattr(page, "camera", None), "close", None), getattr(door, "release", None))
               if c is not None]
    closers += [scanner.close] if hasattr(scanner, "close") else []
    closers += [mrz.close] if mrz is not None else []
    return GateDevices(reader, camera, door, mrz_source=mrz, page_camera=page, scanner=scanner, display=display,
                       closers=closers)


@dataclass
class Gate:
    """A gate built by :func:`build_gate`."""

    config: GateConfig
    workflow: Any
    store: Any
    devices: GateDevices
    client: Any = None
    trust_sync: Any = None  # gate.TrustSync: the back office's signed trust store, installed when it verifies

    def sync(self):
        from gate import sync_once

        return sync_once(self.store, self.client, trust=self.trust_sync) if self.client is not None else None

    def close(self) -> None:
        self.workflow.close()
        for close in self.devices.closers:
            try:
                close()
            except Exception as e:  # noqa: BLE001 - closing a device must not hide the gate's own exit
                log.warning("closing a device failed: %s", type(e).__name__)


def _face_engine(config: GateConfig):
    from gate import FaceEngine

    # passive PAD on every traveller (but on an "active" or "off" lane); the challenge where the policy may run it
    engine = FaceEngine.default(threshold=config.face_threshold, active_liveness=config.liveness != "off",
                                passive_liveness=config.liveness in ("passive+challenge-on-doubt", "challenge-all"))
    if engine.passive is not None:
        log.info("gate %s: liveness %s, passive PAD bands %s", config.gate_id, config.liveness,
                 engine.passive_thresholds)
    if engine.session is not None and config.liveness_seed is not None:
        from biometrics.face import LivenessSession

        counter = itertools.count(config.liveness_seed)
        engine.session = lambda: LivenessSession(rng=next(counter))
    return engine


def terminal_credentials(config: GateConfig):
    """The inspection system's EAC credentials of ``[gate] eac_key`` / ``eac_chain`` (None when not configured);
    an unreadable or mismatched pair is a :class:`GateConfigError`, certificates out of force a warning (the chips
    refuse them: DG3 is not read and enrolled travellers go to the back office path)."""
    import datetime as dt

    import emrtd
    from privacy import KeyFileError, check_key_file

    if config.eac_key is None or config.eac_chain is None:
        return None
    try:
        check_key_file(config.eac_key)  # the IS private key: the owner's alone, as every key file of the gate
        terminal = emrtd.TerminalCredentials.load(config.eac_key, config.eac_chain)
    except (emrtd.TerminalCredentialsError, KeyFileError) as e:
        raise GateConfigError(f"[gate] eac_key / eac_chain: {e}") from e
    stale = terminal.expired(dt.date.today())
    if stale:
        log.warning("gate %s: EAC certificates not in force: %s", config.gate_id, "; ".join(stale))
    return terminal


def build_gate(config: GateConfig, devices: GateDevices, *, client: Any = None, clock=None,
               face_engine: Any = None, finger_engine: Any = None, trust: Any = None) -> Gate:
    """The gate's object graph: trust store, sealed store, steps over the devices, policy, workflow.
    ``client`` replaces the HTTP back-office client (a simulation's own); ``face_engine`` /
    ``finger_engine`` / ``trust`` replace what the configuration names (benches that time an engine)."""
    import emrtd
    from devicelink import BackofficeClient
    from gate import (
        ChipStep,
        DocumentStep,
        FaceStep,
        FingerEngine,
        FingerStep,
        GateSteps,
        GateStore,
        GateWorkflow,
        LocalWatchlist,
    )

    validate(config)
    if trust is None:
        try:
            trust = emrtd.TrustStore.from_path(config.trust_path)
        except (emrtd.TrustError, OSError) as e:
            raise GateConfigError(f"trust store {config.trust_path}: {e}") from e
    trust, trust_sync = _trust_sync(config, trust)
    if client is None and config.backoffice_url and config.token:
        client = BackofficeClient(config.backoffice_url, config.token, ledger_public_key=config.ledger_public_key)
    kw = {"clock": clock} if clock else {}
    store = GateStore(config.db_path, sealer=gate_sealer(config), **kw)
    if client is not None and getattr(client, "on_ledger_head", False) is None:
        client.on_ledger_head = store.outbox.keep_ledger_head  # every head kept as it arrives (the witnesses)
    terminal = terminal_credentials(config)
    try:
        finger_engine = finger_engine or FingerEngine.default(at_least=config.fingerprint_threshold)
    except ValueError as e:
        raise GateConfigError(f"[backoffice] fingerprint_threshold: {e}") from e
    finger = FingerStep(devices.scanner, finger_engine,
                        remote=getattr(client, "verify_fingers", None) if config.fingerprints != "off" else None)
    face = FaceStep(devices.camera, face_engine or _face_engine(config), display=devices.display,
                    liveness=config.liveness)
    chip = ChipStep(devices.reader, trust, terminal=terminal, extended_length=config.extended_length)
    if trust_sync is not None:  # a verified new store replaces the one the chip step uses, between travellers
        trust_sync.on_install = lambda new: setattr(chip, "trust", new)
        trust_sync.keep_floor(store)  # the rollback floor survives a damaged installed store
    steps = GateSteps(document=DocumentStep(mrz_source=devices.mrz_source, page_camera=devices.page_camera,
                                            qr_source=devices.qr_source),
                      chip=chip, face=face, finger=finger,
                      watchlist=LocalWatchlist(store))
    if devices.persons_in_lane is not None:
        steps.persons_in_lane = devices.persons_in_lane
    workflow = GateWorkflow(steps, devices.door, store, gate_id=config.gate_id, policy=config.policy(),
                            direction=config.direction, call_officer=getattr(client, "raise_call", None), **kw)
    relaxed = config.relaxations()
    if relaxed:
        log.warning("gate %s runs with explicit relaxations: %s", config.gate_id, ", ".join(relaxed))
    if config.liveness == "passive+challenge-on-doubt":
        log.warning("gate %s opens on passive liveness evidence alone (liveness = passive+challenge-on-doubt): the "
                    "passive PAD must be supported by an ISO 30107-3 evaluation on real attack material",
                    config.gate_id)
    if client is not None and trust_sync is None:
        log.info("gate %s: no [gate] trust_list_key pinned: the trust store is not updated from the back office",
                 config.gate_id)
    log.info("gate %s: trust store version %s (%s)", config.gate_id, getattr(trust, "version", None),
             getattr(trust, "digest", None) or "files")
    return Gate(config, workflow, store, devices, client, trust_sync)


def _trust_sync(config: GateConfig, trust):
    """The trust store to start with and its :class:`gate.TrustSync`: with a pinned ``trust_list_key``, the store
    installed from the back office earlier is used when it is newer than the configured one (and verifies)."""
    if not config.trust_list_key or config.trust_store_dir is None:
        return trust, None
    from gate import TrustSync
    from privacy import load_public_key

    sync = TrustSync(config.trust_store_dir, [load_public_key(config.trust_list_key)],
                     version=getattr(trust, "version", None) or 0, digest=getattr(trust, "digest", None),
                     max_age=dt.timedelta(hours=config.trust_list_max_age_h))
    installed = sync.installed()
    if installed is not None and (installed.version or 0) > sync.version:
        trust, sync.version, sync.digest = installed, installed.version, installed.digest
    return trust, sync


def serve(gate: Gate, *, max_travellers: int | None = None, card_wait_s: float = 60.0,
          removal_wait_s: float = 30.0, reader_retry_s: float = 5.0, stop: threading.Event | None = None,
          on_result: Callable[[Any], None] | None = None) -> int:
    """Serve travellers one at a time until ``stop`` is set or ``max_travellers`` are served; a
    background thread syncs with the back office every ``sync_interval_s`` and never blocks a decision.
    After each traveller the gate waits for the document to leave the reader before the next."""
    from devices.ports import NoCardError, ReaderError

    stop = stop or threading.Event()
    reader = gate.devices.reader
    syncer = None
    if gate.client is not None:
        def sync_loop() -> None:
            while not stop.is_set():
                try:
                    report = gate.sync()
                    log.info("sync reachable=%s pending=%d version=%d trust_store=%s (%s%s)", report.reachable,
                             report.pending, report.watchlist_version, report.trust_version, report.trust_status,
                             f", {report.trust_warning}" if report.trust_warning else "")
                except Exception as e:  # noqa: BLE001 - a failed round is retried at the next interval
                    log.warning("sync failed: %s", type(e).__name__)
                stop.wait(gate.config.sync_interval_s)

        syncer = threading.Thread(target=sync_loop, name="gate-sync", daemon=True)
        syncer.start()
    served = 0
    try:
        while not stop.is_set() and (max_travellers is None or served < max_travellers):
            try:
                reader.wait_for_card(card_wait_s)
            except NoCardError:
                continue
            except ReaderError as e:  # pcscd restarting, the reader unplugged: out of service, keep trying
                log.error("gate %s: chip reader unavailable (%s); retrying", gate.config.gate_id, e)
                stop.wait(reader_retry_s)
                continue
            result = gate.workflow.process()
            served += 1
            if on_result is not None:
                on_result(result)
            wait = getattr(reader, "wait_for_removal", None)
            # the next transaction starts only once this document has left the reader (never read twice)
            while wait is not None and not stop.is_set() and not wait(removal_wait_s):
                log.warning("gate %s: the document has not been taken after %.0f s", gate.config.gate_id,
                            removal_wait_s)
    finally:
        stop.set()
        if syncer is not None:
            syncer.join(timeout=5)
            try:  # a gate shutting down hands what it holds to the back office if it can
                gate.sync()
            except Exception as e:  # noqa: BLE001 - the outbox keeps it for the next start
                log.warning("final sync failed: %s", type(e).__name__)
    return served
