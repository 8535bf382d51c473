"""``smartborder kiosk``: run the enrolment kiosk (Kivy), with real or simulated devices.

    smartborder kiosk run [--sim] [--fullscreen] [--lang vi|zh|en] [--autopilot vi,zh,en --screenshots DIR]
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import click


def _device_key(path: Path) -> bytes:
    """The kiosk's outbox key (32 bytes, file 0600), created on first use. A deployed kiosk keeps it
    in a TPM or a smart card; the file is the development stand-in."""
    if path.exists():
        data = path.read_bytes()
        if len(data) != 32:
            raise click.ClickException(f"{path} does not hold a 32-byte key")
        return data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def _outbox(settings, outbox_cls):
    """The encrypted outbox: on the privacy vault (per-item keys, crypto-shredded on delivery) when the
    privacy library is installed, else AES-GCM under the kiosk's device key."""
    directory = settings.path("kiosk/outbox")
    try:
        from privacy import FileKek, Vault
    except ImportError:
        return outbox_cls(directory, _device_key(settings.path("kiosk/outbox.key")))
    kek_path = settings.path("kiosk/outbox.kek")
    kek = FileKek(kek_path) if kek_path.exists() else FileKek.generate(kek_path)
    return outbox_cls(directory, vault=Vault(settings.path("kiosk/outbox-keys.db"), kek))


def _real_devices(camera: str, reader: str, finger_dir: str | None):
    import devices
    import emrtd

    if finger_dir is None:
        raise click.ClickException("no fingerprint scanner driver is bundled: pass --finger-dir (images) or use --sim")
    cam = devices.OpenCvCamera(int(camera) if camera.isdigit() else 0)
    ocr = getattr(emrtd, "read_mrz_image", None)
    if ocr is None:
        from emrtd._mrz_ocr import read_mrz_image as ocr

    def mrz_from_page() -> str:
        frame = next(cam.frames())
        return "".join(ocr(frame).lines)

    return (cam, devices.PcscReader(None if reader in ("", "virtual", "auto") else reader),
            devices.CallableMrzSource(mrz_from_page), devices.ImageFingerprintScanner(finger_dir, slap=True))


@click.group()
def kiosk() -> None:
    """The enrolment kiosk (Tiếng Việt / 中文 / English)."""


@kiosk.command()
@click.option("--sim", is_flag=True, help="Simulated devices: a virtual passport, photos as camera, FVC fingerprints.")
@click.option("--sim-data", type=click.Path(file_okay=False), default=None, help="Development data (../shared/data).")
@click.option("--fullscreen", is_flag=True, help="Full screen (the kiosk's touch display).")
@click.option("--lang", type=click.Choice(["vi", "zh", "en"]), default=None, help="Default language.")
@click.option("--finger-dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Without --sim: fingerprint images standing in for a scanner.")
@click.option("--autopilot", default=None, help="Drive the app by taps through these scenarios (vi,zh,en,timeout,"
              "abandon), then exit; prints the result as JSON.")
@click.option("--screenshots", type=click.Path(file_okay=False), default=None, help="Autopilot screenshots.")
def run(sim, sim_data, fullscreen, lang, finger_dir, autopilot, screenshots) -> None:
    """Run the kiosk; the back office is reached at SMARTBORDER_BACKOFFICE_URL with SMARTBORDER_DEVICE_TOKEN."""
    from smartborder.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as e:
        raise click.ClickException(str(e)) from e
    from enrollment import BackofficeHttpClient, EnrolmentWorkflow, Outbox, Policy
    from kiosk import EnginesUnavailable, SimDataMissing, build_engines, build_sim, configure_kivy, create_app

    lang = lang or settings.language
    sim_world = None
    if sim:
        try:
            sim_world = build_sim(sim_data, place_document=False)
        except SimDataMissing as e:
            raise click.ClickException(f"{e}. The simulator needs ../shared/data (faces, fingerprints).") from e
        camera, reader, mrz_source, scanner, trust = (sim_world.camera, sim_world.reader, sim_world.mrz_source,
                                                      sim_world.scanner, sim_world.trust)
    else:
        camera, reader, mrz_source, scanner = _real_devices(settings.camera, settings.reader, finger_dir)
        trust = None  # TODO(deploy): the CSCA master list; without it Passive Authentication is not performed
    outbox = _outbox(settings, Outbox)
    token = settings.device_token if "SMARTBORDER_DEVICE_TOKEN" in os.environ else ""
    submitter = BackofficeHttpClient(settings.backoffice_url, token) if token else None
    if submitter is None:
        click.echo("kiosk: no SMARTBORDER_DEVICE_TOKEN; enrolments wait in the encrypted outbox", err=True)
    try:
        engines = build_engines()
    except EnginesUnavailable as e:
        raise click.ClickException(str(e)) from e
    if sim and not sim_world.follows_instructions:
        # the simulated traveller performs the real liveness challenges; a camera playing still
        # photographs cannot: the simulator's head-movement check instead, said out loud
        from kiosk.testing import with_head_movement_liveness

        engines = with_head_movement_liveness(engines)
        click.echo("kiosk --sim: this camera plays still photographs; liveness is the simulator's head-movement "
                   "check, NOT a presentation-attack check", err=True)
    workflow = EnrolmentWorkflow(engines, outbox, submitter, reader=reader, mrz_source=mrz_source, trust=trust,
                                 policy=Policy())
    configure_kivy(fullscreen=fullscreen)
    app = create_app(workflow, camera=camera, scanner=scanner, sim=sim_world, default_lang=lang)
    if autopilot:
        from kiosk import run_autopilot

        result = run_autopilot(app, autopilot.split(","), screenshots)
        click.echo(json.dumps(result, indent=2, ensure_ascii=False, default=str))
        if not result.get("ok"):
            raise SystemExit(1)
        return
    app.run()
