"""The kiosk's voice: every instruction spoken in the session's language, and a beep at each capture.

Audio files are made once, offline, at ``make setup`` (``python -m kiosk.voice build``) with espeak-ng (a
Debian package: Vietnamese ``vi``, Mandarin ``cmn-latn-pinyin``, which reads hanzi with their tones, and
English ``en``) into ``var/voice/<lang>/<key>.wav`` (``SMARTBORDER_VOICE_DIR`` elsewhere), with the
beep (``beep.wav``, made with the standard library). A manifest holds a hash of engine, voice and text
per file, so a rebuild only speaks what changed in the catalogues.

What is spoken: every catalogue key a traveller must hear to act or to know where they stand (screen
titles and instructions, reading/capture feedback, liveness challenges, outcomes and referral reasons),
which is every key except those in :data:`NOT_SPOKEN` (buttons, labels beside personal data, numbers,
legal text read on screen, metadata), each listed with its reason. A key with a ``{placeholder}`` is
spoken only through :data:`VARIANTS` (``finger.flat`` once per finger name: ``finger.flat@2``).

Playback (:class:`Voice`) goes through Kivy's ``SoundLoader`` (imported on first use only, so the build
and the tests need no window). A kiosk without the files (setup not run) logs one line at start and stays
silent; ``[kiosk] voice = false`` (``SMARTBORDER_KIOSK_VOICE=0``) is the staff's mute.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import string
import struct
import subprocess
import sys
import wave
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from kiosk._i18n import LANGUAGES, Catalogues, catalogues

__all__ = ["VOICE_DIR", "ESPEAK_VOICES", "NOT_SPOKEN", "NOT_SPOKEN_PREFIXES", "VARIANTS", "SCREEN_PROMPTS",
           "BEEP", "BuildReport", "VoiceUnavailable", "spoken_texts", "unclassified", "build", "write_beep",
           "finger_instruction", "Voice"]

log = logging.getLogger("kiosk.voice")
VOICE_DIR = Path(os.environ.get("SMARTBORDER_VOICE_DIR",
                                Path(__file__).resolve().parent.parent / "var" / "voice"))
ESPEAK = "espeak-ng"
#: espeak-ng's voice per session language (``espeak-ng --voices``); "cmn" would read hanzi as pinyin
#: syllables with tone numbers spoken in English, "cmn-latn-pinyin" speaks them as Mandarin
ESPEAK_VOICES = {"vi": "vi", "zh": "cmn-latn-pinyin", "en": "en"}
SPEED_WPM = 150  # a little slower than espeak-ng's 175: first-time travellers, a noisy hall
BEEP = "beep.wav"
MANIFEST = "manifest.json"

#: keys a traveller does not hear, and why (everything else in the catalogues is spoken)
NOT_SPOKEN: dict[str, str] = {
    "app.title": "the top bar's name of the kiosk, on every screen",
    "app.call_officer": "button label",
    "app.ok": "button label",
    "app.cancel": "button label",
    "app.try_again": "button label",
    "app.attempts_left": "a number shown beside the buttons ({n})",
    "face.attempt": "the attempt's number ({n} of {total}) beside the retry message, which is spoken (face.retry)",
    "consent.agree": "button label",
    "consent.decline": "button label",
    "consent.what_title": "heading of the consent text (read on screen)",
    "consent.what": "consent text, read on screen",
    "consent.why_title": "heading of the consent text (read on screen)",
    "consent.why": "consent text, read on screen",
    "consent.how_long_title": "heading of the consent text (read on screen)",
    "consent.storage": "consent text, read on screen",
    "consent.rights_title": "heading of the consent text (read on screen)",
    "consent.rights": "consent text, read on screen",
    "finger.scan": "button label",
    "finger.last_scan_right": "heading of the last scan's picture and quality words (read on screen)",
    "finger.last_scan_left": "heading of the last scan's picture and quality words (read on screen)",
    "review.name": "label beside personal data (never spoken aloud in a public hall)",
    "review.document_number": "label beside personal data (never spoken aloud in a public hall)",
    "review.nationality": "label beside personal data (never spoken aloud in a public hall)",
    "review.date_of_birth": "label beside personal data (never spoken aloud in a public hall)",
    "review.date_of_expiry": "label beside personal data (never spoken aloud in a public hall)",
    "review.fingers": "a count ({n})",
    "review.confirm": "button label",
    "review.retake_face": "button label",
    "review.retake_fingers": "button label",
    "done.finish": "button label",
    "done.where_title": "heading above the directions (the directions themselves are spoken)",
    "app.still_here": "button label (the idle warning above it is spoken: app.idle_warning, app.idle_explain)",
    "app.seconds_left": "label under the idle countdown's number (the warning is spoken when it appears)",
}
#: whole families that are not spoken, and why
NOT_SPOKEN_PREFIXES: dict[str, str] = {
    "_": "catalogue metadata (language name, text version)",
    "consent.category.": "labels of the consent notice's list",
    "finger.name.": "spoken inside finger.flat (VARIANTS)",
    "step.": "the step indicator's names (each screen's own prompt is spoken when it opens)",
    "document.kind.": "labels under the document pictures (the spoken instructions name the three kinds)",
    "finger.quality.": "quality words beside each finger's bars (the capture's feedback message is spoken)",
}
#: texts a kiosk's settings give (not catalogue keys), and why they are not spoken
NOT_SPOKEN_SETTINGS: dict[str, str] = {
    "[kiosk] officer_directions": "free text per kiosk, not in the catalogues the audio is made from at setup: "
                                  "shown on the referral screen; the voice says done.where_follow (\"follow the "
                                  "directions on the screen\") instead; without it done.where_generic is shown "
                                  "and spoken",
}
#: templated keys spoken once per value: key -> (placeholder, prefix of the keys whose texts fill it)
VARIANTS: dict[str, tuple[str, str]] = {"finger.flat": ("finger", "finger.name.")}
#: what each screen says when it opens (or when the language changes on it); "language" speaks its
#: prompt in every language, the fingerprint screen its current task (:func:`finger_instruction`)
SCREEN_PROMPTS: dict[str, tuple[str, ...]] = {
    "language": ("language.prompt",),
    "document": ("document.instructions",),
    "consent": ("consent.title", "consent.chip_not_read"),
    "chip": ("chip.instructions",),
    "face": ("face.instructions",),
    "fingerprints": ("finger.title",),
    "review": ("review.title",),
    "done": (),
}


class VoiceUnavailable(RuntimeError):
    """espeak-ng is not installed (Debian package espeak-ng)."""


def _not_spoken(key: str) -> bool:
    return key in NOT_SPOKEN or any(key.startswith(p) for p in NOT_SPOKEN_PREFIXES)


def _fields(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}
    except ValueError:
        return set()


def unclassified(texts: Catalogues | None = None) -> list[str]:
    """Templated keys neither excluded nor in :data:`VARIANTS`: the build cannot speak them (it skips them
    with a warning; the tests fail on them, so every new one is classified)."""
    texts = texts or catalogues()
    keys = set().union(*(set(t) for t in texts.texts.values()))
    return sorted(k for k in keys if not _not_spoken(k) and k not in VARIANTS
                  and any(_fields(texts.texts[lang].get(k, "")) for lang in LANGUAGES))


def spoken_texts(texts: Catalogues | None = None) -> dict[str, dict[str, str]]:
    """``{utterance id: {lang: text}}`` for everything the kiosk speaks (ids are catalogue keys, and
    ``key@suffix`` for each variant of a templated key)."""
    texts = texts or catalogues()
    keys = sorted(set().union(*(set(t) for t in texts.texts.values())))
    skip = set(unclassified(texts))
    out: dict[str, dict[str, str]] = {}
    for key in keys:
        if _not_spoken(key) or key in skip:
            continue
        if key in VARIANTS:
            name, prefix = VARIANTS[key]
            for value_key in (k for k in keys if k.startswith(prefix)):
                suffix = value_key[len(prefix):]
                out[f"{key}@{suffix}"] = {lang: texts.t(key, lang, **{name: texts.t(value_key, lang)})
                                          for lang in LANGUAGES}
            continue
        out[key] = {lang: texts.t(key, lang) for lang in LANGUAGES}
    return out


def finger_instruction(task) -> str | None:
    """The utterance id of a fingerprint task's instruction (the screen's text, see FingerprintScreen)."""
    if task is None:
        return None
    if task.kind == "slap":
        return "finger.slap_right" if task.positions[0] <= 5 else "finger.slap_left"
    return f"finger.flat@{task.positions[0]}"


def write_beep(path: Path, *, freq: float = 1000.0, seconds: float = 0.18, rate: int = 22050) -> None:
    """A short sine beep with 10 ms fades (no click), 16-bit mono, standard library only."""
    n, fade = int(seconds * rate), int(0.01 * rate)
    frames = bytearray()
    for i in range(n):
        env = min(1.0, i / fade, (n - 1 - i) / fade)
        frames += struct.pack("<h", int(0.6 * 32767 * env * math.sin(2 * math.pi * freq * i / rate)))
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    tmp.replace(path)


@dataclass
class BuildReport:
    root: Path
    made: list[str] = field(default_factory=list)
    kept: int = 0
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        s = (f"voice: {len(self.made)} audio files made, {self.kept} up to date, {len(self.removed)} removed "
             f"in {self.root}")
        if self.skipped:
            s += f"; NOT spoken (templated, unclassified in kiosk/voice.py): {', '.join(self.skipped)}"
        return s


def _engine_version(engine: str) -> str:
    try:
        return subprocess.run([engine, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        raise VoiceUnavailable(f"{engine} is not installed (Debian package espeak-ng): {e}") from e


def build(root: Path | str = VOICE_DIR, texts: Catalogues | None = None, *, engine: str = ESPEAK,
          workers: int = 8) -> BuildReport:
    """Speak every utterance of :func:`spoken_texts` in every language into ``root/<lang>/<id>.wav`` and
    write ``root/beep.wav``; files whose engine, voice and text did not change are kept; files of keys
    no longer spoken are removed."""
    root = Path(root)
    texts = texts or catalogues()
    if shutil.which(engine) is None:
        raise VoiceUnavailable(f"{engine} is not installed (Debian package espeak-ng); the kiosk stays silent")
    version = _engine_version(engine)
    report = BuildReport(root, skipped=unclassified(texts))
    manifest_path = root / MANIFEST
    try:
        manifest: dict[str, str] = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    jobs: list[tuple[str, str, str, Path, str]] = []
    wanted: dict[str, str] = {}
    for uid, by_lang in spoken_texts(texts).items():
        for lang in LANGUAGES:
            voice, text = ESPEAK_VOICES[lang], by_lang[lang]
            digest = hashlib.sha256(f"{version}\0{voice}\0{SPEED_WPM}\0{text}".encode()).hexdigest()
            rel = f"{lang}/{uid}.wav"
            wanted[rel] = digest
            path = root / rel
            if manifest.get(rel) == digest and path.is_file() and path.stat().st_size > 44:
                report.kept += 1
            else:
                jobs.append((rel, voice, text, path, digest))
    for lang in LANGUAGES:
        (root / lang).mkdir(parents=True, exist_ok=True)

    def speak(job):
        rel, voice, text, path, _ = job
        tmp = path.with_name(path.name + ".tmp")
        subprocess.run([engine, "-v", voice, "-s", str(SPEED_WPM), "-w", str(tmp), "--stdin"], input=text,
                       text=True, check=True, capture_output=True, timeout=120)
        tmp.replace(path)
        return rel

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for job, rel in zip(jobs, pool.map(speak, jobs), strict=True):
            manifest[rel] = job[4]
            report.made.append(rel)
    for path in sorted(root.glob("*/*.wav")):
        rel = f"{path.parent.name}/{path.name}"
        if rel not in wanted:
            path.unlink()
            manifest.pop(rel, None)
            report.removed.append(rel)
    manifest = {k: v for k, v in manifest.items() if k in wanted}
    if not (root / BEEP).is_file():
        write_beep(root / BEEP)
        report.made.append(BEEP)
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(manifest_path)
    return report


class Voice:
    """Plays the audio files of ``root`` in the session's language (:attr:`lang`); :attr:`muted` plays
    nothing. ``loader(path) -> sound or None`` defaults to Kivy's ``SoundLoader.load`` (a sound has
    ``play()``, ``stop()`` and an ``on_stop`` event); missing files are never an error: one warning line
    at start (:meth:`check`), silence after."""

    def __init__(self, root: Path | str = VOICE_DIR, lang: str = "vi", *, muted: bool = False,
                 loader: Callable[[str], object] | None = None, texts: Catalogues | None = None,
                 warn: Callable[[str], None] | None = None) -> None:
        self.root = Path(root)
        self.lang = lang
        self.muted = muted
        self._loader = loader
        self._texts = texts
        self._warn = warn or log.warning
        self._sounds: dict[Path, object] = {}
        self._queue: list[Path] = []
        self._current = None
        self._warned: set[Path] = set()
        self.missing: list[str] = []
        self.available = False
        if not muted:
            self.check()

    def path(self, uid: str, lang: str | None = None) -> Path:
        return self.root / (lang or self.lang) / f"{uid}.wav"

    def check(self) -> bool:
        """Whether every audio file is there; logs one line when not (the kiosk then stays silent where
        a file is missing)."""
        try:
            wanted = [f"{lang}/{uid}.wav" for uid in spoken_texts(self._texts) for lang in LANGUAGES] + [BEEP]
        except Exception as e:  # noqa: BLE001 - the voice never stops the kiosk
            self._warn(f"kiosk voice: catalogues unreadable ({e}); the kiosk stays silent")
            return False
        self.missing = [rel for rel in wanted if not (self.root / rel).is_file()]
        self.available = len(self.missing) < len(wanted)
        if not self.available:
            self._warn(f"kiosk voice: no audio files in {self.root} (run `make setup`, which needs espeak-ng); "
                       "the kiosk stays silent")
        elif self.missing:
            self._warn(f"kiosk voice: {len(self.missing)} of {len(wanted)} audio files missing in {self.root} "
                       f"(run `make setup`), e.g. {self.missing[0]}; those stay silent")
        return not self.missing

    def _load(self, path: Path):
        if path in self._sounds:
            return self._sounds[path]
        sound = None
        if path.is_file():
            try:
                loader = self._loader
                if loader is None:
                    from kivy.core.audio import SoundLoader

                    loader = self._loader = SoundLoader.load
                sound = loader(str(path))
            except Exception as e:  # noqa: BLE001 - no audio device, no provider: silence, never a crash
                if path not in self._warned:
                    self._warned.add(path)
                    self._warn(f"kiosk voice: cannot play {path.name}: {e}")
                sound = None
            if sound is not None and hasattr(sound, "bind"):
                sound.bind(on_stop=self._ended)
        elif path not in self._warned and self.available:
            self._warned.add(path)
            self._warn(f"kiosk voice: {path} is missing (run `make setup`)")
        self._sounds[path] = sound
        return sound

    def say(self, *uids: str | tuple[str, str], lang: str | None = None) -> list[Path]:
        """Stop whatever is being said and say ``uids`` in turn (an id, or ``(id, lang)``) in ``lang`` (default
        :attr:`lang`). Returns the files queued (none when muted)."""
        self.stop()
        if self.muted:
            return []
        paths = [self.path(u, lang) if isinstance(u, str) else self.path(*u) for u in uids if u]
        self._queue = [p for p in paths if self._load(p) is not None]
        queued = list(self._queue)
        self._next()
        return queued

    def then(self, *uids: str | tuple[str, str], lang: str | None = None) -> list[Path]:
        """Say ``uids`` after what is being said, without cutting it (at once when silent)."""
        if self.muted or not self.speaking:
            return self.say(*uids, lang=lang)
        paths = [self.path(u, lang) if isinstance(u, str) else self.path(*u) for u in uids if u]
        added = [p for p in paths if self._load(p) is not None]
        self._queue.extend(added)
        return added

    @property
    def speaking(self) -> bool:
        return self._current is not None

    def _next(self) -> None:
        if not self._queue:
            self._current = None
            return
        path = self._queue.pop(0)
        sound = self._sounds.get(path)
        self._current = sound
        try:
            sound.play()
        except Exception as e:  # noqa: BLE001
            self._warn(f"kiosk voice: cannot play {path.name}: {e}")
            self._current = None

    def _ended(self, sound, *_args) -> None:
        if sound is self._current:
            self._next()

    def stop(self) -> None:
        """Silence now (a new screen, a new language)."""
        self._queue = []
        current, self._current = self._current, None
        if current is not None:
            try:
                current.stop()
            except Exception:  # noqa: BLE001, S110 - a sound that cannot stop is already silent
                pass

    def beep(self) -> bool:
        """The capture beep (over any speech); False when muted or missing."""
        if self.muted:
            return False
        sound = self._load(self.root / BEEP)
        if sound is None:
            return False
        try:
            sound.play()
        except Exception:  # noqa: BLE001
            return False
        return True


def _main(argv: Iterable[str]) -> int:
    args = list(argv)
    if not args or args[0] != "build":
        print("usage: python -m kiosk.voice build [DIR]", file=sys.stderr)
        return 2
    root = Path(args[1]) if len(args) > 1 else VOICE_DIR
    try:
        report = build(root)
    except VoiceUnavailable as e:  # setup goes on: the kiosk runs, silent, and says so at start
        print(f"voice: {e}", file=sys.stderr)
        return 0
    print(report.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
