"""Offline self-check of a machine: Python stack, model files, fonts, smart-card stack, fingerprint scanners, page
readers.

Each check returns a :class:`Check` (name, status ok/warn/fail, detail). ``fail`` means a part of
the system cannot run here; ``warn`` means an optional part is missing (e.g. a browser only the
back-office UI tests use). Nothing here reaches the network.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import shutil
import socket
import subprocess
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import models

# import name -> distribution name (for the version column)
DEPENDENCIES: dict[str, str] = {
    "numpy": "numpy",
    "scipy": "scipy",
    "skimage": "scikit-image",
    "cv2": "opencv-python-headless",
    "PIL": "pillow",
    "dlib": "dlib-bin",
    "face_recognition": "face-recognition",
    "mediapipe": "mediapipe",
    "onnxruntime": "onnxruntime",
    "matplotlib": "matplotlib",
    "cryptography": "cryptography",
    "asn1crypto": "asn1crypto",
    "sqlite_utils": "sqlite-utils",
    "fastapi": "fastapi",
    "uvicorn": "uvicorn",
    "jinja2": "jinja2",
    "argon2": "argon2-cffi",
    "httpx": "httpx",
    "simpy": "simpy",
    "kivy": "kivy",
    "smartcard": "pyscard",
    "_wsq": "wsq",  # the WSQ codec (NBIS), without its Pillow plug-in
    "click": "click",
    "tqdm": "tqdm",
}

CJK_FONT_CANDIDATES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf"),
)
VPCD_DRIVER_CANDIDATES = (
    Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so"),
    Path("/usr/lib/x86_64-linux-gnu/pcsc/drivers/serial/libifdvpcd.so"),
)
VPCD_PORT = 35963


@dataclass(frozen=True)
class Check:
    group: str
    name: str
    status: str  # "ok" | "warn" | "fail"
    detail: str
    sha256: str | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["sha256"] is None:
            del d["sha256"]
        return d


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "?"


def check_dependencies() -> list[Check]:
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    out = []
    for module, dist in DEPENDENCIES.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # face_recognition_models warns about pkg_resources
                importlib.import_module(module)
        except Exception as e:  # noqa: BLE001 - any import failure is the finding
            out.append(Check("dependency", module, "fail", f"import failed: {type(e).__name__}: {e}"))
            continue
        out.append(Check("dependency", module, "ok", f"{dist} {_version(dist)}"))
    numpy_version = _version("numpy")
    if not numpy_version.startswith("1."):
        out.append(Check("dependency", "numpy<2", "fail", f"numpy {numpy_version}: the stack needs numpy<2"))
    out.append(Check("dependency", "python", "ok", sys.version.split()[0]))
    return out


def check_models() -> list[Check]:
    out = []
    for name, spec in models.manifest().items():
        try:
            path = models.model_path(name)
        except models.ModelError as e:
            out.append(Check("model", name, "fail", str(e)))
            continue
        out.append(Check("model", name, "ok", f"{spec.package} {spec.version}: {path.name} sha256 verified",
                         sha256=spec.sha256))
    return out


def _find_cjk_font() -> Path | None:
    for path in CJK_FONT_CANDIDATES:
        if path.is_file():
            return path
    if shutil.which("fc-match"):
        try:
            res = subprocess.run(["fc-match", "-f", "%{file}", "Noto Sans CJK SC"], capture_output=True,
                                 text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if "CJK" in res.stdout and Path(res.stdout).is_file():
            return Path(res.stdout)
    return None


def check_platform() -> list[Check]:
    out = []
    font = _find_cjk_font()
    out.append(Check("platform", "cjk_font", "ok" if font else "fail",
                     str(font) if font else "no CJK font (install fonts-noto-cjk): Chinese text would be tofu"))
    out.append(_check_sc_fonts())
    out.append(_check_voice())
    pcscd = shutil.which("pcscd") or ("/usr/sbin/pcscd" if Path("/usr/sbin/pcscd").exists() else None)
    ocrb = next((p for p in (Path("/usr/share/fonts/opentype/ocr-b/OCRB.otf"),
                             Path("/usr/share/fonts/truetype/ocr-b/OCRB.ttf")) if p.is_file()), None)
    out.append(Check("platform", "ocrb_font", "ok" if ocrb else "fail",
                     str(ocrb) if ocrb else "no OCR-B font (install fonts-ocr-b): MRZ OCR cannot run"))
    out.append(Check("platform", "pcscd", "ok" if pcscd else "fail",
                     pcscd or "pcscd not installed (Debian package pcscd)"))
    driver = next((p for p in VPCD_DRIVER_CANDIDATES if p.is_file()), None)
    out.append(Check("platform", "vpcd_driver", "ok" if driver else "fail",
                     str(driver) if driver else "vsmartcard virtual reader driver missing (vsmartcard-vpcd)"))
    out.append(_check_vpcd_listening())
    xvfb = shutil.which("Xvfb")
    out.append(Check("platform", "xvfb", "ok" if xvfb else "fail",
                     xvfb or "Xvfb missing (package xvfb): the kiosk cannot be tested headless"))
    chromium = shutil.which("chromium")
    out.append(Check("platform", "chromium", "ok" if chromium else "warn",
                     chromium or "chromium missing: back-office browser tests will skip"))
    return out


def _check_sc_fonts() -> Check:
    """The kiosk's Simplified Chinese faces, extracted at make setup (the kiosk does not start without them)."""
    from kiosk.fonts import ChineseFontMissing, sc_font_files

    try:
        files = sc_font_files()
    except ChineseFontMissing as e:
        return Check("platform", "sc_fonts", "fail", str(e))
    return Check("platform", "sc_fonts", "ok", ", ".join(str(p) for p in files.values()))


def _check_voice() -> Check:
    """The kiosk's spoken instructions, made at make setup with espeak-ng (without them the kiosk is silent)."""
    from kiosk.voice import VOICE_DIR

    langs = [lang for lang in ("vi", "zh", "en") if any((VOICE_DIR / lang).glob("*.wav"))]
    if (VOICE_DIR / "beep.wav").is_file() and len(langs) == 3:
        return Check("platform", "voice", "ok", f"{VOICE_DIR}: vi, zh, en and the beep")
    return Check("platform", "voice", "warn", f"no spoken instructions in {VOICE_DIR} (have: {', '.join(langs) or 'none'}): "
                 "run 'make setup' (espeak-ng); the kiosk runs silent without them")


def check_kiosk_directions(config: str | Path | None = None, environ: dict[str, str] | None = None) -> Check:
    """Where the kiosk's referral screen sends a traveller ([kiosk] officer_directions): without it the screen
    says the generic "go to the staffed desk with the officer sign", which a traveller can act on but which
    names no counter."""
    from smartborder.settings import SettingsError, load_paths

    try:
        settings = load_paths(config, environ)  # the settings as the kiosk reads them; no secret needed here
    except SettingsError as e:
        status = "fail" if "officer_directions" in str(e) else "warn"
        return Check("kiosk", "officer_directions", status, str(e))
    directions = settings.kiosk_officer_directions
    if not directions:
        return Check("kiosk", "officer_directions", "warn",
                     "no [kiosk] officer_directions: referred travellers are sent to \"the staffed desk with the "
                     "officer sign\"; set e.g. officer_directions = { vi = \"Quầy số 3, bên trái bạn\", zh = "
                     "\"请到左手边3号柜台\", en = \"Counter 3, on your left\" }")
    return Check("kiosk", "officer_directions", "ok", f"en: {directions['en']!r} (and vi, zh)")


def check_fingerprint_scanners() -> list[Check]:
    """The fingerprint scanners libfprint finds (``[kiosk] scanner = "libfprint"``): the library and its binding
    (fail without them: the kiosk's real scanner path cannot run), then each sensor with its driver and whether it
    gives images (a match-on-chip sensor cannot enrol), or a warning when none is plugged in. libfprint's own
    test device appears when ``FP_VIRTUAL_IMAGE`` names its socket."""
    from devices import FingerprintLibraryMissing, libfprint_version, list_fingerprint_scanners

    try:
        version = libfprint_version()
        found = list_fingerprint_scanners()
    except FingerprintLibraryMissing as e:
        return [Check("scanner", "libfprint", "fail", str(e))]
    except Exception as e:  # noqa: BLE001 - a library that fails to enumerate is the finding
        return [Check("scanner", "libfprint", "fail", f"libfprint failed to list scanners: {type(e).__name__}: {e}")]
    out = [Check("scanner", "libfprint", "ok", version)]
    if not found:
        out.append(Check("scanner", "fingerprint_scanner", "warn",
                         "no fingerprint scanner found by libfprint: a kiosk with [kiosk] scanner = \"libfprint\" "
                         "will not start (plug in a sensor libfprint supports)"))
    for info in found:
        out.append(Check("scanner", f"fingerprint_scanner:{info.driver}", "ok" if info.can_capture else "warn",
                         info.describe()))
    return out


def check_page_readers(config: str | Path | None = None, environ: dict[str, str] | None = None) -> list[Check]:
    """The page readers this machine could use (issue #25): serial ports (pyserial; USB CDC readers appear as
    /dev/ttyACM*) and keyboards (evdev: a keyboard-wedge reader looks like any keyboard; its name and USB ids tell
    it apart), then, for ``[kiosk]`` and ``[gate] mrz_reader = "page_reader"`` or ``"both"``, whether the configured
    ``mrz_reader_device`` is present (fail when it is not: that kiosk or gate does not start)."""
    from devices import MrzReaderUnavailable, list_keyboards, list_serial_ports, page_reader_present
    from smartborder.settings import SettingsError, load_paths

    out = []
    for kind, lister, dist in (("serial", list_serial_ports, "pyserial"), ("keyboard", list_keyboards, "evdev")):
        try:
            found = lister()
        except MrzReaderUnavailable as e:
            out.append(Check("page_reader", dist, "fail", str(e)))
            continue
        except Exception as e:  # noqa: BLE001 - a library that fails to enumerate is the finding
            out.append(Check("page_reader", dist, "fail", f"listing {kind} devices failed: {type(e).__name__}: {e}"))
            continue
        out.append(Check("page_reader", dist, "ok", f"{dist} {_version(dist)}: {len(found)} {kind} device(s) found"))
        out += [Check("page_reader", f"page_reader:{kind}:{info.device}", "ok", info.describe()) for info in found]
    try:
        settings = load_paths(config, environ)
    except SettingsError as e:
        status = "fail" if "mrz_reader" in str(e) else "warn"
        return out + [Check("page_reader", "mrz_reader", status, str(e))]
    for role in ("kiosk", "gate"):
        mode, device = getattr(settings, f"{role}_mrz_reader"), getattr(settings, f"{role}_mrz_reader_device")
        if mode == "camera":
            continue
        kind = getattr(settings, f"{role}_mrz_reader_kind")
        what = f"[{role}] mrz_reader = \"{mode}\": the {kind} page reader {device or '(no mrz_reader_device)'}"
        if device and "://" in device and kind == "serial":
            out.append(Check("page_reader", f"{role}_mrz_reader_device", "ok", f"{what}: a pyserial URL (not checked)"))
        elif device and page_reader_present(device):
            out.append(Check("page_reader", f"{role}_mrz_reader_device", "ok", f"{what} is present"))
        else:
            out.append(Check("page_reader", f"{role}_mrz_reader_device", "fail", f"{what} is not present: the {role} "
                             "does not start (plugged in? the name as listed above?)"))
    return out


def _check_vpcd_listening() -> Check:
    """The virtual reader exists once pcscd has loaded vpcd, which then listens for a card."""
    try:
        with socket.create_connection(("127.0.0.1", VPCD_PORT), timeout=0.5):
            return Check("platform", "virtual_reader", "ok", f"vpcd listening on 127.0.0.1:{VPCD_PORT}")
    except OSError:
        return Check("platform", "virtual_reader", "warn",
                     f"pcscd is not running with vpcd (nothing on 127.0.0.1:{VPCD_PORT}); "
                     "tests start it when they need it")


def run_checks(*, skip_models: bool = False) -> list[Check]:
    checks = check_dependencies()
    if not skip_models:
        checks += check_models()
    checks += check_platform()
    checks += check_fingerprint_scanners()
    checks += check_page_readers()
    checks.append(check_kiosk_directions())
    return checks


def failed(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.status == "fail"]
