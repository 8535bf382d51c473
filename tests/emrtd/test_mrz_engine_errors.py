"""The MRZ reader's engine failures (issue #25 review items 5, 6): a missing model falls back to the template
reader with one log line and is not looked for again; a model whose sha256 is not the manifest's is refused
(possible tampering), never read around; a failing engine and a bad SMARTBORDER_OCR_THREADS are named errors;
and read_mrz_image reads through the photograph reader."""

import logging

import numpy as np
import pytest

import emrtd
import models
from emrtd import _mrz_engine, _mrz_ocr
from emrtd._mrz_ocr import OCRB_FONT_PATHS

if not any(p.is_file() for p in OCRB_FONT_PATHS):
    pytest.skip("OCR-B font not installed (apt-get install fonts-ocr-b; make setup does it)", allow_module_level=True)

TD3 = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10")


@pytest.fixture
def fresh_engine(monkeypatch):
    """The engine's caches emptied before and after (the real engine is built again by the next test)."""
    def clear():
        _mrz_engine._engine.cache_clear()
        _mrz_engine._failed.clear()

    clear()
    monkeypatch.setattr(_mrz_ocr, "_fallback_logged", False)
    yield
    clear()


def _model_path_raising(error, calls):
    def model_path(name):
        calls.append(name)
        raise error
    return model_path


def test_a_missing_model_falls_back_logged_once_and_cached(fresh_engine, monkeypatch, caplog):
    """Fell back silently and looked for (re-hashed) the models on every read (fails on the old code)."""
    calls = []
    monkeypatch.setattr(models, "model_path", _model_path_raising(models.ModelNotFoundError("not built"), calls))
    page = emrtd.render_mrz_image(list(TD3))
    with caplog.at_level(logging.WARNING, logger="emrtd"):
        first = emrtd.read_mrz_image(page)
        second = emrtd.read_mrz_image(page)
    assert first.lines == second.lines == TD3
    assert len(calls) == 1
    assert [r.message for r in caplog.records].count(
        "MRZ OCR models unavailable, the template reader alone reads: OCR model unavailable: not built") == 1
    with pytest.raises(emrtd.MrzModelMissing):
        emrtd.read_mrz(page)


def test_a_model_checksum_mismatch_is_refused_not_read_around(fresh_engine, monkeypatch):
    """A model altered on disk (sha256 not the manifest's) was read around with the templates (fails on the
    old code)."""
    calls = []
    bad = models.ModelChecksumError("model 'ppocr_v4_det': sha256 00, manifest says ff")
    monkeypatch.setattr(models, "model_path", _model_path_raising(bad, calls))
    page = emrtd.render_mrz_image(list(TD3))
    for _ in range(2):
        with pytest.raises(emrtd.MrzModelTampered, match="altered"):
            emrtd.read_mrz_image(page)
    assert len(calls) == 1


@pytest.mark.parametrize("value", ["two", "0", "1.5"])
def test_a_bad_thread_count_is_a_named_error(fresh_engine, monkeypatch, value):
    monkeypatch.setenv("SMARTBORDER_OCR_THREADS", value)
    with pytest.raises(emrtd.MrzEngineError, match="SMARTBORDER_OCR_THREADS"):
        _mrz_engine.default_engine()


class _Failing:
    def text_map(self, gray, side):
        raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION")

    def line_probs(self, strip, squeeze=None):  # pragma: no cover - never reached
        raise AssertionError


def test_an_engine_failing_mid_read_is_a_named_error():
    with pytest.raises(emrtd.MrzEngineError, match="the OCR engine failed: RuntimeError") as e:
        emrtd.read_mrz(np.asarray(emrtd.render_mrz_image(list(TD3))), engine=_Failing())
    assert isinstance(e.value.__cause__, RuntimeError)


def test_read_mrz_image_reads_through_the_photograph_reader(monkeypatch):
    """The gate's and the kiosk's read_mrz_image goes to the fused reader (the engine it used is recorded)."""
    try:
        _mrz_engine.default_engine()
    except emrtd.MrzEngineError as e:
        pytest.skip(f"OCR models not installed ({e}); make setup installs rapidocr-onnxruntime")
    from emrtd import _mrz_read
    from emrtd.sim._mrz_pages import degraded_page, random_mrz

    seen = []
    real = _mrz_read.read_mrz

    def spy(image, **kw):
        seen.append(real(image, **kw))
        return seen[-1]

    monkeypatch.setattr(_mrz_read, "read_mrz", spy)
    rng = np.random.default_rng(103)
    lines = random_mrz(rng, "TD3")
    r = emrtd.read_mrz_image(degraded_page(rng, lines, upside_down=False))
    assert len(seen) == 1 and seen[0].engine == "ppocr+templates"
    assert r.lines == lines == seen[0].lines


def test_mrz_read_names_any_reader_error_per_image(monkeypatch, tmp_path):
    """Review item 7: a reader error other than MrzOcrError escaped `mrz read` as a traceback (fails on the
    old code); now it is that image's named error and the next image is read."""
    import json

    from click.testing import CliRunner

    from smartborder.cli import main

    def broken(path, **kw):
        raise ValueError("P<UTOERIKSSON")  # whatever it says is not printed

    monkeypatch.setattr(emrtd, "read_mrz", broken)
    page = tmp_path / "page.png"
    emrtd.render_mrz_image(list(TD3)).save(page)
    r = CliRunner().invoke(main, ["mrz", "read", "--json", str(page), str(page)])
    assert r.exit_code == 1, r.output
    out = json.loads(r.output)
    assert len(out) == 2 and all(o["error"] == "reader error: ValueError" and not o["found"] for o in out)
    assert "ERIKSSON" not in r.output
