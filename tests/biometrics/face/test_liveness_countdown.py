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
