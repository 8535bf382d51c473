"""The kiosk simulator: simulated hardware (a virtual passport on a simulated reader, its MRZ on the
page scanner, a rendered traveller who follows the liveness instructions, FVC fingerprint images) and
the autopilot, a scripted traveller tapping through the app.

For ``smartborder kiosk run --sim`` / ``--autopilot``, the demo, the benches and the tests. The kiosk's
runtime (the app, its screens, engines and catalogues) never imports this package, nor
:mod:`kiosk.testing` (an import-linter contract in pyproject.toml). Nothing here imports Kivy until
:func:`run_autopilot` is called.
"""

from kiosk.sim._world import SimDataMissing, SimWorld, TravellerCamera, build_sim, shared_data_dir, td3_mrz

__all__ = [
    "SimDataMissing",
    "SimWorld",
    "TravellerCamera",
    "build_sim",
    "run_autopilot",
    "shared_data_dir",
    "td3_mrz",
]


def run_autopilot(app, scenarios, shots_dir=None, **kw) -> dict:
    """Run ``app`` driven by :class:`kiosk.sim._autopilot.Autopilot` through ``scenarios``; return its result."""
    from kivy.clock import Clock

    from kiosk.sim._autopilot import Autopilot

    pilot = Autopilot(app, scenarios, shots_dir, **kw)
    Clock.schedule_once(lambda _dt: pilot.start(), 0.5)
    app.run()
    return pilot.result
