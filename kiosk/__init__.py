"""The enrolment kiosk: a trilingual (Tiếng Việt / 中文 / English) Kivy touch app (entry point).

Nothing here imports Kivy until :func:`create_app` / :func:`run_kiosk` is called, so the CLI and
the tests can configure Kivy (window size, headless) first. The simulator and the autopilot are in
:mod:`kiosk.sim`, the engines' test doubles in :mod:`kiosk.testing`; this package never imports them.
"""

from kiosk._consent import ENROLMENT_CATEGORIES, ConsentNotice, ConsentNoticeError, consent_notice
from kiosk._engines import EnginesUnavailable, build_engines
from kiosk._i18n import CJK_FONT, LANGUAGES, LATIN_FONT, Catalogues, catalogues, font_for

__all__ = [
    "CJK_FONT",
    "ENROLMENT_CATEGORIES",
    "LANGUAGES",
    "LATIN_FONT",
    "Catalogues",
    "ConsentNotice",
    "ConsentNoticeError",
    "EnginesUnavailable",
    "build_engines",
    "catalogues",
    "configure_kivy",
    "consent_notice",
    "create_app",
    "font_for",
]


def configure_kivy(*, width: int = 1280, height: int = 800, fullscreen: bool = False, maxfps: int = 30) -> None:
    """Set Kivy's window before anything imports ``kivy.core.window``."""
    import os

    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    from kivy.config import Config

    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "resizable", "0")
    # the preview needs no more: every buffer swap holds the interpreter lock while it copies the frame
    Config.set("graphics", "maxfps", str(maxfps))
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("kivy", "exit_on_escape", "0")


def create_app(workflow, *, camera, scanner, sim=None, default_lang: str = "vi", consent=None, **kw):
    """The :class:`kiosk._app.KioskApp` over ``workflow`` (imports Kivy). ``consent``: the
    :class:`ConsentNotice` the composition built from the retention policies (default: from
    ``privacy.DEFAULT_POLICIES``)."""
    from kiosk._app import KioskApp

    return KioskApp(workflow, camera=camera, scanner=scanner, sim=sim, default_lang=default_lang, consent=consent,
                    **kw)
