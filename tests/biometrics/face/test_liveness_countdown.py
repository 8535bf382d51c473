"""The liveness session's countdown (``LivenessState.time_left_s``): the current challenge's deadline on the
frames' clock, what the kiosk shows as the seconds left (issue #20 item 5)."""

from __future__ import annotations

import numpy as np

from biometrics.face import LivenessSession


def test_time_left_counts_down_on_the_frames_clock_and_ends_with_the_session():
    session = LivenessSession(["blink", "turn_left"])
    blank = np.full((240, 320, 3), 100, np.uint8)  # no face: the challenge's clock runs all the same
    try:
        assert session.state.time_left_s == 6.0 and session.state.timeout_s == 6.0  # nothing fed yet
        lefts = [session.feed(blank, t).time_left_s for t in (10.0, 11.5, 14.0)]
        assert lefts == [6.0, 4.5, 2.0]  # frame times, not the wall clock: a late frame keeps its own time
        st = session.feed(blank, 16.5)
        assert st.done and st.reason == "timeout:blink" and st.time_left_s is None and st.timeout_s is None
    finally:
        session.close()


def test_a_challenge_shown_late_gets_its_whole_time_from_when_it_was_shown():
    session = LivenessSession(["blink", "turn_left"])
    blank = np.full((240, 320, 3), 100, np.uint8)
    try:
        session.feed(blank, 10.0)  # the challenge's first frame
        session.shown("turn_left", 11.0)  # not the current challenge: ignored
        session.shown("blink", 12.5)  # the screen showed it 2.5 s later (the check lagged the camera)
        session.shown("blink", 14.0)  # only the first showing counts
        assert session.feed(blank, 14.5).time_left_s == 4.0
        st = session.feed(blank, 18.4)  # past 10 + 6, within 12.5 + 6
        assert not st.done and abs(st.time_left_s - 0.1) < 1e-9
        st = session.feed(blank, 18.6)
        assert st.done and st.reason == "timeout:blink"
        assert session.result().per_challenge[0].shown_t == 12.5
    finally:
        session.close()


def test_showing_late_extends_a_challenge_by_one_time_out_at_most():
    session = LivenessSession(["blink"])
    blank = np.full((240, 320, 3), 100, np.uint8)
    try:
        session.feed(blank, 0.0)
        session.shown("blink", 100.0)  # a screen that never showed it does not hold the challenge open
        assert not session.feed(blank, 11.9).done
        st = session.feed(blank, 12.1)
        assert st.done and st.reason == "timeout:blink"
    finally:
        session.close()
