"""Run the kiosk app once with simulated devices and an autopilot traveller (a subprocess of the tests:
Kivy runs one app per process). Writes the autopilot's JSON result.

    python -m tests.kiosk.flow_driver --scenarios vi,zh,en,timeout --shots DIR --result FILE [--backoffice inproc|down]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings

from kiosk import build_engines, configure_kivy
from kiosk.sim import build_sim


def _submitter(mode: str):
    from devicelink import BackofficeClient

    if mode == "down":
        return BackofficeClient("http://127.0.0.1:9", "sbd_none", timeout_s=0.5)
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

    from smartborder.compose.backoffice import build_backoffice
    from smartborder.settings import load_settings

    data = tempfile.mkdtemp(prefix="kiosk-backoffice-")
    app = build_backoffice(load_settings(environ={}, data_dir=data), environ={}, db_path=os.path.join(data, "bo.db"),
                           argon2_time_cost=1, argon2_memory_kib=1024)
    _, token = app.state.ctx.auth.issue_device("kiosk-01", "kiosk", "Kiosk 1", "Hall")
    return BackofficeClient(token=token, http=TestClient(app))


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--scenarios", default="vi,zh,en,timeout,abandon")
    p.add_argument("--shots", default=None)
    p.add_argument("--result", required=True)
    p.add_argument("--backoffice", default="inproc", choices=["inproc", "down"])
    p.add_argument("--no-officer", action="store_true")
    p.add_argument("--camera-fps", type=float, default=15.0)
    p.add_argument("--camera", default="sequence", choices=["sequence", "traveller", "auto"])
    args = p.parse_args(argv)
    configure_kivy(width=1280, height=800)
    from devicelink import Outbox
    from enrollment import SLAP_PLAN, EnrolmentWorkflow, Policy
    from kiosk import create_app
    from kiosk.sim._autopilot import Autopilot

    sim = build_sim(place_document=False, fps=args.camera_fps, camera=args.camera)
    outbox = Outbox()  # in memory, sealed under an ephemeral key
    engines = build_engines()
    if not sim.follows_instructions:  # photos played in turn cannot follow the liveness instructions
        from kiosk.testing import with_head_movement_liveness

        engines = with_head_movement_liveness(engines)
    workflow = EnrolmentWorkflow(engines, outbox,
                                 _submitter(args.backoffice), reader=sim.reader, mrz_source=sim.mrz_source,
                                 trust=sim.trust, policy=Policy(card_timeout_s=5, finger_plan=SLAP_PLAN[:1]))
    # no periodic outbox flush: a run lasts over a minute, and the tests count the sessions' events still waiting
    app = create_app(workflow, camera=sim.camera, scanner=sim.scanner, sim=sim, default_lang="vi", flush_every_s=0)
    pilot = Autopilot(app, args.scenarios.split(","), args.shots, result_path=args.result,
                      officer=not args.no_officer)
    from kivy.clock import Clock

    Clock.schedule_once(lambda _dt: pilot.start(), 0.5)
    app.run()
    import json

    result = json.loads(open(args.result).read())
    result["order"] = args.scenarios.split(",")
    result["outbox_pending"] = [item.kind for item in outbox.pending()]
    result["outbox_parked"] = [item.kind for item in outbox.parked()]
    result["session_left"] = workflow.session is not None
    result["spoken"] = app.spoken  # kiosk/voice.py: what the app said ("lang/key") and its beeps
    open(args.result, "w").write(json.dumps(result, indent=2, ensure_ascii=False))
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
