"""``smartborder kiosk``: run the enrolment kiosk (Kivy), with real or simulated devices.

    smartborder kiosk run [--sim] [--fullscreen] [--lang vi|zh|en] [--autopilot vi,zh,en --screenshots DIR]
    smartborder kiosk witness [--db PATH] [--out FILE]
"""

from __future__ import annotations

import json

import click


@click.group()
def kiosk() -> None:
    """The enrolment kiosk (Tiếng Việt / 中文 / English)."""


@kiosk.command()
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The kiosk's TOML file (default: SMARTBORDER_CONFIG); settings under [kiosk].")
@click.option("--sim", is_flag=True, help="Simulated devices: a virtual passport, photos as camera, FVC fingerprints.")
@click.option("--sim-data", type=click.Path(file_okay=False), default=None, help="Development data (../shared/data).")
@click.option("--fullscreen", is_flag=True, help="Full screen (the kiosk's touch display).")
@click.option("--lang", type=click.Choice(["vi", "zh", "en"]), default=None, help="Default language.")
@click.option("--trust", "trust_path", type=click.Path(exists=True), default=None,
              help="CSCA certificates / CRLs / Master Lists ([kiosk] trust); required.")
@click.option("--camera", default=None, help="Face camera: OpenCV device index or a video file ([kiosk] camera).")
@click.option("--page-camera", default=None, help="The document scanner's camera for the MRZ ([kiosk] page_camera).")
@click.option("--reader", "reader_name", default=None, help="PC/SC reader name prefix (default: the first reader).")
@click.option("--finger-dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Without --sim: fingerprint images standing in for a scanner ([kiosk] finger_dir).")
@click.option("--dev-without-passive-authentication", "no_pa", is_flag=True,
              help="DEVELOPMENT ONLY (env = dev): run without a trust store; chips are NOT verified.")
@click.option("--autopilot", default=None, help="Drive the app by taps through these scenarios (vi,zh,en,timeout,"
              "abandon), then exit; prints the result as JSON.")
@click.option("--screenshots", type=click.Path(file_okay=False), default=None, help="Autopilot screenshots.")
def run(config_path, sim, sim_data, fullscreen, lang, trust_path, camera, page_camera, reader_name, finger_dir, no_pa,
        autopilot, screenshots) -> None:
    """Run the kiosk; the back office is reached at backoffice_url with the device_token of the settings."""
    from smartborder.compose.kiosk import (
        DEV_WITHOUT_PA_BANNER,
        KioskConfigError,
        KioskDevices,
        build_kiosk,
        kiosk_config,
        real_devices,
    )
    from smartborder.settings import SettingsError, load_settings

    try:
        settings = load_settings(config_path)
        sim_world, engines, trust = None, None, None
        if sim and settings.env != "dev":
            raise click.ClickException("kiosk run --sim: simulated travellers, documents and liveness are test "
                                       "material: env = \"dev\" only")
        if sim:
            from kiosk.sim import SimDataMissing, build_sim

            try:
                sim_world = build_sim(sim_data, place_document=False)
            except SimDataMissing as e:
                raise click.ClickException(f"{e}. The simulator needs ../shared/data (faces, fingerprints).") from e
            trust = sim_world.trust  # the simulator's test PKI
        config = kiosk_config(settings, trust_path=trust_path, camera=camera, page_camera=page_camera,
                              reader=reader_name, finger_dir=finger_dir, language=lang,
                              dev_without_passive_authentication=no_pa or None)
        if sim:
            devices = KioskDevices(sim_world.camera, sim_world.reader, sim_world.mrz_source, sim_world.scanner,
                                   [sim_world.close])
            if not sim_world.follows_instructions:
                # the simulated traveller performs the real liveness challenges; a camera playing still
                # photographs cannot: the simulator's head-movement check instead, said out loud
                from kiosk import build_engines
                from kiosk.testing import with_head_movement_liveness

                engines = with_head_movement_liveness(build_engines())
                click.echo("kiosk --sim: this camera plays still photographs; liveness is the simulator's "
                           "head-movement check, NOT a presentation-attack check", err=True)
        else:
            devices = real_devices(config)
        kiosk_ = build_kiosk(config, devices, trust=trust, engines=engines)
    except (SettingsError, KioskConfigError) as e:
        raise click.ClickException(str(e)) from e
    if config.dev_without_passive_authentication:
        click.echo(DEV_WITHOUT_PA_BANNER, err=True)
    if kiosk_.submitter is None:
        click.echo("kiosk: no device token configured; enrolments wait in the encrypted outbox", err=True)
    from kiosk import configure_kivy
    from kiosk.fonts import ChineseFontMissing
    from smartborder.compose.kiosk import kiosk_app

    configure_kivy(fullscreen=fullscreen)
    try:
        app = kiosk_app(kiosk_, sim=sim_world, voice=settings.kiosk_voice)
    except ChineseFontMissing as e:  # one line that says what to do, not a traceback
        raise click.ClickException(str(e)) from e
    try:
        if autopilot:
            from kiosk.sim import run_autopilot

            result = run_autopilot(app, autopilot.split(","), screenshots)
            click.echo(json.dumps(result, indent=2, ensure_ascii=False, default=str))
            if not result.get("ok"):
                raise SystemExit(1)
            return
        app.run()
    finally:
        kiosk_.close()


@kiosk.command()
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The kiosk's TOML file (default: SMARTBORDER_CONFIG).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
              help="The kiosk's outbox database (default: DATA_DIR/kiosk/outbox.db).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the JSON here (default: print it).")
def witness(config_path, db_path, out) -> None:
    """Every signed ledger head this kiosk kept from the back office's answers (a JSON list: its witness
    history), for an auditor's ``smartborder privacy verify-ledger --witness FILE``. Reads the database only;
    needs no key."""
    from smartborder.commands.gate import write_witness

    if db_path is None:
        from smartborder.compose.kiosk import KioskConfig
        from smartborder.settings import SettingsError, load_paths

        try:
            settings = load_paths(config_path)  # the paths only: an auditor needs no secret for this
        except SettingsError as e:
            raise click.ClickException(str(e)) from e
        db_path = KioskConfig(trust_path=None, data_dir=settings.data_dir).outbox_path
    write_witness(db_path, out, "kiosk")
