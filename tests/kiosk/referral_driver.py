"""Run the kiosk built by its composition (settings -> kiosk_config -> build_kiosk -> kiosk_app, as `kiosk run
--sim` builds it) with simulated devices and the autopilot through referral scenarios (a subprocess of the
tests: Kivy runs one app per process). Writes the autopilot's JSON result.

    python -m tests.kiosk.referral_driver --result FILE [--shots DIR] [--directions JSON | --no-directions]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from kiosk import configure_kivy

DIRECTIONS = {"vi": "Quầy số 3, bên trái bạn", "zh": "请到左手边3号柜台", "en": "Counter 3, on your left"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--scenarios", default="referral:vi,referral:zh,referral:en,return")
    p.add_argument("--shots", default=None)
    p.add_argument("--result", required=True)
    p.add_argument("--directions", default=json.dumps(DIRECTIONS, ensure_ascii=False))
    p.add_argument("--no-directions", action="store_true")
    p.add_argument("--done-return-s", type=float, default=1.0)
    args = p.parse_args(argv)
    configure_kivy(width=1280, height=800)
    from devicelink import Outbox
    from enrollment import Engines
    from kiosk.sim import build_sim
    from kiosk.sim._autopilot import Autopilot
    from smartborder.compose.kiosk import KioskDevices, build_kiosk, kiosk_app, kiosk_config
    from smartborder.settings import load_settings

    work = Path(tempfile.mkdtemp(prefix="kiosk-referral-"))
    environ = {} if args.no_directions else {"SMARTBORDER_KIOSK_OFFICER_DIRECTIONS": args.directions}
    settings = load_settings(environ=environ, data_dir=work / "data", key_dir=work / "keys")
    sim = build_sim(place_document=False, camera="sequence")
    devices = KioskDevices(sim.camera, sim.reader, sim.mrz_source, sim.scanner, [sim.close])
    # the referrals here happen on the printed page (an expired passport): no engine is asked
    kiosk = build_kiosk(kiosk_config(settings), devices, trust=sim.trust, engines=Engines(None, None, None, None),
                        outbox=Outbox())
    app = kiosk_app(kiosk, sim=sim, voice=settings.kiosk_voice, done_return_s=args.done_return_s)
    pilot = Autopilot(app, args.scenarios.split(","), args.shots, result_path=args.result)
    from kivy.clock import Clock

    Clock.schedule_once(lambda _dt: pilot.start(), 0.5)
    app.run()
    result = json.loads(Path(args.result).read_text())
    result.update(order=args.scenarios.split(","), configured=kiosk.config.officer_directions,
                  session_left=kiosk.workflow.session is not None, voice_available=app.voice.available)
    Path(args.result).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    raise SystemExit(main())
