"""The kiosk's document camera as an MRZ source (issue #25 review item 4): a bounded read per polled frame,
and only a valid MRZ is text, so the document step polls again on anything else instead of counting a
failed attempt."""

import numpy as np
import pytest

import emrtd
from emrtd._mrz_ocr import OCRB_FONT_PATHS

if not any(p.is_file() for p in OCRB_FONT_PATHS):
    pytest.skip("OCR-B font not installed (apt-get install fonts-ocr-b; make setup does it)", allow_module_level=True)

from devices import CallableMrzSource, MrzSourceError  # noqa: E402
from devices.ports import MrzDataError  # noqa: E402
from smartborder.compose.kiosk import camera_mrz_text  # noqa: E402

TD3 = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10")


def test_a_valid_page_is_its_mrz_text():
    frame = np.asarray(emrtd.render_mrz_image(list(TD3)))
    assert CallableMrzSource(lambda: camera_mrz_text(frame)).read_mrz() == "".join(TD3)


def test_an_invalid_reading_raises_and_is_no_data_error():
    """A page whose MRZ fails a check digit was returned as text (the document step then counted a failed
    attempt: fails on the old code, which returned the lines whatever their validity)."""
    bad = (TD3[0], TD3[1][:27] + "0" + TD3[1][28:])  # the expiry date's check digit wrong
    frame = np.asarray(emrtd.render_mrz_image(list(bad)))
    with pytest.raises(emrtd.MrzNotFoundError) as e:
        camera_mrz_text(frame)
    assert "L898902C3" not in str(e.value)
    with pytest.raises(MrzSourceError) as e:
        CallableMrzSource(lambda: camera_mrz_text(frame)).read_mrz()
    assert not isinstance(e.value, MrzDataError)  # the poll loop retries on it


def test_an_empty_frame_reads_one_detector_pass():
    """The budget: one detector pass on an empty 1280x720 frame (two before, ~0.5 s a poll)."""
    from emrtd._mrz_engine import default_engine

    engine = default_engine()
    calls = []

    class Counting:
        def text_map(self, gray, side):
            calls.append(side)
            return engine.text_map(gray, side)

        def line_probs(self, strip, squeeze=None):
            return engine.line_probs(strip, squeeze)

    frame = np.full((720, 1280), 128, np.uint8)
    with pytest.raises(emrtd.MrzNotFoundError):
        emrtd.read_mrz(frame, engine=Counting(), budget_s=0.4)
    assert len(calls) == 1
    calls.clear()
    with pytest.raises(emrtd.MrzNotFoundError):
        emrtd.read_mrz(frame, engine=Counting())
    assert len(calls) == 2
