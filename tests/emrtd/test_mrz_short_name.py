"""Regression tests for the MRZ localiser and line fusion on TD3 pages whose first line is mostly a
long run of '<' fillers (a short name): the localiser grows a line over the fillers the text
detector scores as no text (a5c6cd0), and a zone's lines share one grid, the line length following
the longest glyph chain (2747a4a). Pages are rendered and photographed synthetically (seeded)."""

import numpy as np
import pytest

import emrtd
from emrtd._mrz_ocr import OCRB_FONT_PATHS

if not any(p.is_file() for p in OCRB_FONT_PATHS):
    pytest.skip("OCR-B font not installed (apt-get install fonts-ocr-b; make setup does it)", allow_module_level=True)
try:
    from emrtd._mrz_engine import default_engine

    default_engine()
except emrtd.MrzEngineError as e:
    pytest.skip(f"OCR models not installed ({e}); make setup installs rapidocr-onnxruntime", allow_module_level=True)

from emrtd.sim._mrz_pages import degraded_page, random_mrz  # noqa: E402


def _short_name_page(seed: int) -> tuple[tuple[str, ...], np.ndarray]:
    """A photographed TD3 page whose line 1 is 'P<' + state + 'LI<<A' and 34 fillers."""
    rng = np.random.default_rng(seed)
    lines = random_mrz(rng, "TD3")
    lines = ((lines[0][:5] + "LI<<A").ljust(44, "<"), lines[1])
    return lines, degraded_page(rng, lines, upside_down=False)


# seeds whose filler run the parent localiser cut short (read as TD2, or no MRZ found)
@pytest.mark.parametrize("seed", [0, 5, 10])
def test_a_long_filler_run_is_found_and_read_as_td3(seed):
    lines, page = _short_name_page(seed)
    r = emrtd.read_mrz(page)
    assert r.format == "TD3" and all(len(ln) == 44 for ln in r.lines)
    assert r.valid and r.lines == lines


# seeds whose line 1 the parent fusion read on a grid shifted from line 2's (a wrong name, still valid)
@pytest.mark.parametrize("seed", [11, 15, 35])
def test_the_name_line_is_read_on_the_zone_grid(seed):
    lines, page = _short_name_page(seed)
    r = emrtd.read_mrz(page)
    assert r.format == "TD3" and r.valid and r.lines == lines


class _Line:
    """A stand-in for LineCells: a grid, and how many cells the two readers agree on per grid."""

    def __init__(self, pitch: float, origin: float, agreement: dict[tuple[float, float], int]) -> None:
        self.pitch, self.origin, self.agreement = pitch, origin, agreement

    def _agreement(self, pitch: float, origin: float) -> int:
        return self.agreement[(pitch, origin)]


def test_a_shifted_line_takes_the_zone_grid_where_the_readers_agree_more():
    from emrtd._mrz_fuse import _share_grid

    good = _Line(20.0, 10.0, {(20.0, 10.0): 40, (20.0, 17.0): 10})
    shifted = _Line(20.0, 17.0, {(20.0, 17.0): 20, (20.0, 10.0): 38})  # 7 px: over a third of a cell
    _share_grid([good, shifted])
    assert (shifted.pitch, shifted.origin) == (20.0, 10.0)
    assert (good.pitch, good.origin) == (20.0, 10.0)


def test_a_line_keeps_its_grid_where_the_readers_agree_less_or_the_shift_is_small():
    from emrtd._mrz_fuse import _share_grid

    a = _Line(20.0, 10.0, {(20.0, 10.0): 40, (20.0, 17.0): 10})
    b = _Line(20.0, 17.0, {(20.0, 17.0): 38, (20.0, 10.0): 20})
    _share_grid([a, b])
    assert (a.origin, b.origin) == (10.0, 17.0)
    # 4 px is under a third of a cell: each keeps its own grid, though the readers agree more on the other's
    c = _Line(20.0, 10.0, {(20.0, 10.0): 30, (20.0, 14.0): 44})
    d = _Line(20.0, 14.0, {(20.0, 14.0): 30, (20.0, 10.0): 44})
    _share_grid([c, d])
    assert (c.origin, d.origin) == (10.0, 14.0)
