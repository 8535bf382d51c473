"""Checks every composition makes of a production configuration (``env`` other than ``"dev"``): the
stand-ins that let a developer run without hardware never reach a deployment, and the device talks to
its back office over TLS with a real credential."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from smartborder.settings import PLACEHOLDER_SECRETS

__all__ = ["backoffice_problem", "token_problem", "stand_in_problems", "is_video_file", "production_problems",
           "key_store_path"]


def backoffice_problem(url: str | None, env: str) -> str | None:
    """Why ``url`` is no production back-office address (plain HTTP beyond this host), or None."""
    if not url or env == "dev":
        return None
    parts = urlsplit(url)
    if parts.scheme == "https":
        return None
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme == "http" and loopback:
        return None
    return (f"backoffice_url {url!r}: outside env = \"dev\" the back office is reached over https (plain http only "
            "on this host's loopback)")


def token_problem(token: str | None, env: str) -> str | None:
    """Why ``token`` is no usable device credential outside dev (a placeholder, too short), or None."""
    if token is None or env == "dev":
        return None
    if token.strip().lower() in PLACEHOLDER_SECRETS or len(token) < 16:
        return "the device token is empty, too short or a placeholder (refused outside env = \"dev\")"
    return None


def is_video_file(source: str) -> bool:
    return bool(source) and not source.strip().lstrip("-").isdigit() and Path(source).is_file()


def stand_in_problems(env: str, *, finger_dir: Path | None = None, cameras: tuple[str, ...] = ()) -> list[str]:
    """The development stand-ins configured outside dev: fingerprint images instead of a scanner, a video
    file instead of a camera (a presentation attack by configuration)."""
    if env == "dev":
        return []
    out = []
    if finger_dir is not None:
        out.append("finger_dir: fingerprint images stand in for a scanner only in env = \"dev\" (a deployed kiosk "
                   "or gate uses its libfprint sensor: scanner = \"libfprint\")")
    out += [f"camera {c!r} is a video file: a recording stands in for a camera only in env = \"dev\""
            for c in cameras if is_video_file(c)]
    return out


def production_problems(config) -> list[str]:
    """Every problem above for a device's configuration (``env``, ``backoffice_url``, ``token``,
    ``finger_dir``, ``camera``, ``page_camera``): empty when it may run."""
    problems = [p for p in (backoffice_problem(config.backoffice_url, config.env),
                            token_problem(config.token, config.env)) if p]
    return problems + stand_in_problems(config.env, finger_dir=config.finger_dir,
                                        cameras=(config.camera, config.page_camera))


def key_store_path(path: Path, legacy: Path, env: str, setting: str) -> Path:
    """``path`` (a vault's key store in the key directory), after the one an earlier version kept in the data
    directory (``legacy``) was moved there: moved here in dev (with its -wal/-shm files); refused otherwise
    (``ValueError`` naming ``setting``), because starting on a new, empty key store would make every item the
    old one sealed unreadable."""
    from storage import move_database

    if not legacy.exists() or path.exists():
        return path
    if env != "dev":
        raise ValueError(f"{setting}: the key store is at {legacy}, inside the data directory; with the service "
                         f"stopped move it (and any -wal/-shm file) to {path}, outside the data backups")
    move_database(legacy, path)
    return path
