"""The kiosk's voice (kiosk/voice.py): every spoken catalogue key has audio in vi, zh and en after the build
(espeak-ng), the beep exists, a rebuild speaks only what changed, every key is spoken or listed as not spoken;
playback picks the session language's file, muted plays nothing, missing files give one warning line and
silence; the app speaks each screen and beeps at each capture (headless flow)."""

from __future__ import annotations

import json
import shutil
import wave
from pathlib import Path

import pytest

from kiosk import LANGUAGES, Catalogues, catalogues
from kiosk.voice import (
    BEEP,
    NOT_SPOKEN,
    NOT_SPOKEN_PREFIXES,
    VARIANTS,
    Voice,
    build,
    finger_instruction,
    spoken_texts,
    unclassified,
)

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (Debian package espeak-ng; `make setup` as root)")


@pytest.fixture(scope="module")
def voice_dir(tmp_path_factory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng; `make setup` as root)")
    root = tmp_path_factory.mktemp("voice")
    report = build(root)
    assert report.made and not report.skipped, report.summary()
    return root


def _duration(path: Path) -> float:
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        return w.getnframes() / w.getframerate()


# -- what is spoken --------------------------------------------------------------------------------------
def test_every_catalogue_key_is_spoken_or_listed_as_not_spoken():
    texts = catalogues()
    keys = set().union(*(set(t) for t in texts.texts.values()))
    spoken = {uid.split("@", 1)[0] for uid in spoken_texts(texts)}
    not_spoken = {k for k in keys if k in NOT_SPOKEN or any(k.startswith(p) for p in NOT_SPOKEN_PREFIXES)}
    assert unclassified(texts) == [], "templated keys neither in NOT_SPOKEN nor in VARIANTS (kiosk/voice.py)"
    assert keys == spoken | not_spoken
    assert not spoken & not_spoken
    assert set(NOT_SPOKEN) <= keys, f"stale NOT_SPOKEN entries: {sorted(set(NOT_SPOKEN) - keys)}"
    assert set(VARIANTS) <= keys
    # the instructions a traveller acts on are spoken
    for key in ("language.prompt", "document.instructions", "chip.instructions", "face.instructions",
                "finger.slap_right", "finger.slap_left", "liveness.blink", "consent.title", "review.title",
                "done.accepted", "done.referred", "app.officer_coming"):
        assert key in spoken, key


def test_templated_keys_are_spoken_once_per_value_in_full():
    texts = catalogues()
    spoken = spoken_texts(texts)
    assert "finger.flat" not in spoken
    for pos in (2, 3, 4, 5, 7, 8, 9, 10):
        by_lang = spoken[f"finger.flat@{pos}"]
        for lang in LANGUAGES:
            assert texts.t(f"finger.name.{pos}", lang) in by_lang[lang]
    for uid, by_lang in spoken.items():
        for lang, text in by_lang.items():
            assert "{" not in text and text.strip(), (uid, lang)


def test_finger_instruction_follows_the_task():
    class Task:
        def __init__(self, kind, positions):
            self.kind, self.positions = kind, positions

    assert finger_instruction(Task("slap", (2, 3, 4, 5))) == "finger.slap_right"
    assert finger_instruction(Task("slap", (7, 8, 9, 10))) == "finger.slap_left"
    assert finger_instruction(Task("flat", (8,))) == "finger.flat@8"
    assert finger_instruction(None) is None
    assert "finger.flat@8" in spoken_texts()


# -- the build ---------------------------------------------------------------------------------------------
@needs_espeak
def test_every_spoken_key_has_audio_in_every_language(voice_dir):
    spoken = spoken_texts()
    assert len(spoken) > 80
    for uid, by_lang in spoken.items():
        for lang in LANGUAGES:
            path = voice_dir / lang / f"{uid}.wav"
            assert path.is_file(), f"no audio for {uid} in {lang}"
            seconds = _duration(path)
            chars = len(by_lang[lang])
            # espeak-ng at 150 wpm: about 0.06 s per Latin letter, 0.2-0.45 s per hanzi; never empty
            assert 0.4 <= seconds <= 2.0 + 0.6 * chars, (uid, lang, seconds, chars)
            assert seconds >= 0.025 * chars, (uid, lang, seconds, chars)


@needs_espeak
def test_the_languages_sound_different(voice_dir):
    """vi, zh and en are three voices, not one voice reading three texts (sizes differ per language)."""
    for uid in ("face.instructions", "language.prompt", "finger.slap_left"):
        sizes = {lang: (voice_dir / lang / f"{uid}.wav").read_bytes() for lang in LANGUAGES}
        assert len(set(sizes.values())) == 3, uid


@needs_espeak
def test_the_beep_exists(voice_dir):
    seconds = _duration(voice_dir / BEEP)
    assert 0.05 <= seconds <= 0.5


@needs_espeak
def test_a_rebuild_speaks_only_what_changed(tmp_path):
    locale = tmp_path / "locale"
    shutil.copytree(Path(catalogues().directory), locale)
    root = tmp_path / "voice"
    first = build(root, Catalogues(locale))
    assert first.made and first.kept == 0
    again = build(root, Catalogues(locale))
    assert again.made == [] and again.kept == len(first.made) - 1  # the beep is not counted as kept
    en = json.loads((locale / "en.json").read_text(encoding="utf-8"))
    en["face.instructions"] = "Look at the camera, please."
    (locale / "en.json").write_text(json.dumps(en), encoding="utf-8")
    changed = build(root, Catalogues(locale))
    assert changed.made == ["en/face.instructions.wav"]
    manifest = json.loads((root / "manifest.json").read_text())
    assert "en/face.instructions.wav" in manifest
    (root / "vi" / "gone.key.wav").write_bytes(b"RIFF")
    assert build(root, Catalogues(locale)).removed == ["vi/gone.key.wav"]


# -- playback ----------------------------------------------------------------------------------------------
class FakeSound:
    """Kivy's Sound as far as Voice uses it: play(), stop(), on_stop (also fired by stop(), as Kivy does)."""

    def __init__(self, source: str, played: list[str]) -> None:
        self.source, self.played, self._on_stop = source, played, []

    def bind(self, on_stop):
        self._on_stop.append(on_stop)

    def play(self):
        self.played.append(self.source)

    def stop(self):
        self.finish()

    def finish(self):
        for cb in self._on_stop:
            cb(self)


class FakeLoader:
    def __init__(self) -> None:
        self.played: list[str] = []
        self.sounds: dict[str, FakeSound] = {}

    def __call__(self, path: str) -> FakeSound:
        return self.sounds.setdefault(path, FakeSound(path, self.played))

    def names(self) -> list[str]:
        return [str(Path(p).relative_to(Path(p).parents[1])) for p in self.played]


@pytest.fixture
def fake_dir(tmp_path) -> Path:
    """Every file Voice expects, as tiny WAVs (playback needs no espeak-ng)."""
    for uid in spoken_texts():
        for lang in LANGUAGES:
            (tmp_path / lang).mkdir(exist_ok=True)
            (tmp_path / lang / f"{uid}.wav").write_bytes(b"RIFF....WAVE")
    (tmp_path / BEEP).write_bytes(b"RIFF....WAVE")
    return tmp_path


def test_voice_says_the_session_languages_file(fake_dir):
    loader, warnings = FakeLoader(), []
    voice = Voice(fake_dir, "zh", loader=loader, warn=warnings.append)
    assert voice.available and voice.missing == [] and warnings == []
    voice.say("face.instructions")
    voice.lang = "en"
    voice.say("face.instructions")
    voice.say("liveness.blink", lang="vi")
    assert loader.names() == ["zh/face.instructions.wav", "en/face.instructions.wav", "vi/liveness.blink.wav"]


def test_voice_says_a_sequence_in_turn_and_a_new_screen_cuts_it(fake_dir):
    loader = FakeLoader()
    voice = Voice(fake_dir, "vi", loader=loader)
    queued = voice.say(("language.prompt", "vi"), ("language.prompt", "zh"), ("language.prompt", "en"))
    assert len(queued) == 3 and loader.names() == ["vi/language.prompt.wav"]
    loader.sounds[str(queued[0])].finish()
    assert loader.names()[-1] == "zh/language.prompt.wav"
    voice.say("document.instructions")  # the screen changed: the English prompt is never played
    loader.sounds[str(queued[1])].finish()
    assert loader.names() == ["vi/language.prompt.wav", "zh/language.prompt.wav", "vi/document.instructions.wav"]


def test_beep_plays_over_speech(fake_dir):
    loader = FakeLoader()
    voice = Voice(fake_dir, "en", loader=loader)
    voice.say("finger.slap_right")
    assert voice.beep() is True
    assert loader.names() == ["en/finger.slap_right.wav", BEEP] or loader.played[-1].endswith(BEEP)
    assert voice.speaking


def test_muted_plays_nothing(fake_dir):
    loader = FakeLoader()
    voice = Voice(fake_dir, "vi", muted=True, loader=loader)
    assert voice.say("face.instructions") == []
    assert voice.beep() is False
    assert loader.played == [] and loader.sounds == {}


def test_missing_files_give_one_warning_line_and_silence(tmp_path):
    loader, warnings = FakeLoader(), []
    voice = Voice(tmp_path / "nothing-here", "vi", loader=loader, warn=warnings.append)
    assert not voice.available
    assert len(warnings) == 1 and "make setup" in warnings[0] and "\n" not in warnings[0]
    assert voice.say("face.instructions") == [] and voice.beep() is False
    assert loader.played == [] and len(warnings) == 1


def test_some_missing_files_are_counted_once(fake_dir):
    (fake_dir / "zh" / "face.instructions.wav").unlink()
    loader, warnings = FakeLoader(), []
    voice = Voice(fake_dir, "zh", loader=loader, warn=warnings.append)
    assert voice.missing == ["zh/face.instructions.wav"] and len(warnings) == 1
    assert voice.say("face.instructions") == []
    voice.say("face.instructions")
    assert len(warnings) == 2 and loader.played == []  # one line more, when first needed


def test_a_failing_audio_backend_is_silence_not_a_crash(fake_dir):
    def broken(path):
        raise RuntimeError("no audio device")

    warnings = []
    voice = Voice(fake_dir, "en", loader=broken, warn=warnings.append)
    assert voice.say("face.instructions") == [] and voice.beep() is False
    assert warnings and all("no audio device" in w for w in warnings)


# -- the app -------------------------------------------------------------------------------------------------
def test_the_app_speaks_each_screen_and_beeps_at_each_capture(voice_dir, tmp_path, monkeypatch):
    """A whole flow in English by taps, headless, with the built audio: what the app said, in which language."""
    from tests.conftest import shared_path
    from tests.kiosk.test_kiosk import _run_headless

    shared_path("faces", "lfw-dev")
    shared_path("fingerprints", "fvc2000_DB2")
    monkeypatch.setenv("SMARTBORDER_VOICE_DIR", str(voice_dir))
    result = tmp_path / "result.json"
    r = _run_headless("tests.kiosk.flow_driver", "--scenarios", "en", "--result", str(result), "--no-officer",
                      timeout=240)
    assert result.exists(), r.stderr[-3000:]
    data = json.loads(result.read_text())
    assert data["ok"], (data.get("error"), r.stderr[-2000:])
    spoken = data["spoken"]
    # the language screen in all three languages (the default first), then everything in English
    assert spoken[:3] == ["vi/language.prompt", "zh/language.prompt", "en/language.prompt"], spoken
    said = [s for s in spoken[3:] if s != "beep"]
    assert said and all(s.startswith("en/") for s in said if not s.endswith("/language.prompt")), said
    for uid in ("face.instructions", "finger.title", "finger.slap_right", "review.title"):
        assert f"en/{uid}" in said, (uid, said)
    assert any(s.startswith("en/done.") for s in said), said
    # a beep for the photo and one per fingerprint capture
    assert spoken.count("beep") >= 2, spoken
    assert spoken.index("beep") > spoken.index("en/face.instructions")
