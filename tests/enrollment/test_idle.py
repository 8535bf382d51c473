"""The idle time-out (issue #20 item 6): paused while the consent text is open, bounded there by the consent
step's own time-out, restarted when the traveller leaves the consent step. A fake clock, no waiting."""

from __future__ import annotations

from enrollment import Outcome, Policy, Step
from tests.enrollment.conftest import make_rig

POLICY = dict(idle_timeout_s=60, card_timeout_s=0.05)


def _to_consent(rig):
    wf = rig.workflow
    wf.start("en")
    assert wf.read_document().ok
    assert wf.step is Step.CONSENT


def test_the_idle_clock_runs_on_the_document_step(tmp_path):
    rig = make_rig(tmp_path, policy=Policy(**POLICY))
    wf = rig.workflow
    wf.start("en")
    rig.clock.t += 45
    assert wf.idle_left() == 15 and wf.tick() is None
    rig.clock.t += 16
    assert wf.idle_left() == 0 and wf.tick() is Outcome.TIMED_OUT
    assert wf.step is Step.ABANDONED and wf.session is None


def test_the_idle_timeout_is_paused_while_the_consent_text_is_open(tmp_path):
    rig = make_rig(tmp_path, policy=Policy(**POLICY))
    wf = rig.workflow
    _to_consent(rig)
    assert wf.idle_left() is None  # no countdown is shown: the traveller is reading
    rig.clock.t += 170  # far beyond the idle time-out, within the consent step's own 180 s
    assert wf.tick() is None and wf.idle_left() is None
    assert wf.step is Step.CONSENT and wf.session is not None and wf.session.printed_mrz is not None


def test_the_consent_steps_own_timeout_still_bounds_it(tmp_path):
    rig = make_rig(tmp_path, policy=Policy(**POLICY))
    wf = rig.workflow
    _to_consent(rig)
    limit = wf.policy.step_timeout_s["consent"]
    rig.clock.t += limit - 1
    assert wf.tick() is None
    rig.clock.t += 2
    assert wf.tick() is Outcome.TIMED_OUT
    assert wf.step is Step.ABANDONED and wf.session is None and wf.reason_code == "timeout"


def test_leaving_the_consent_step_restarts_the_idle_clock(tmp_path):
    """Agreeing after a long read leaves a full idle period on the next step, not a time-out at once."""
    rig = make_rig(tmp_path, policy=Policy(**POLICY))
    wf = rig.workflow
    _to_consent(rig)
    rig.clock.t += 170
    wf.consent(True)
    assert wf.step is Step.CHIP and wf.idle_left() == 60
    rig.clock.t += 59
    assert wf.tick() is None
    rig.clock.t += 2
    assert wf.tick() is Outcome.TIMED_OUT and wf.session is None
