"""The MRZ reader's engine failures (issue #25 review items 5, 6): a missing model falls back to the template
reader with one log line and is not looked for again; a model whose sha256 is not the manifest's is refused
(possible tampering), never read around; a bad SMARTBORDER_OCR_THREADS is a named error."""

import logging

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

