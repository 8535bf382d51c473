"""``make screenshots``: the back office's guard pages as a reviewer sees them, without running the stack.

Builds the app on a throwaway database, posts three exceptions as a gate would (a watchlist hit, a face
mismatch whose chip photo is JPEG 2000, an expired document) and a few watchlist entries, serves it with
uvicorn on 127.0.0.1 and drives Debian's chromium with Playwright (the venv's) to write PNGs:

    var/screenshots/backoffice/queue_vi.png, queue_en.png   the guards' queue (Vietnamese, English)
    var/screenshots/backoffice/review_vi.png, review_en.png the face-mismatch review page
    var/screenshots/backoffice/watchlist.png                the watchlist page (a supervisor's)

Usage: ``python -m tests.backoffice.screenshots [--out DIR]``. ``SMARTBORDER_CHROMIUM`` names another
chromium binary. The browser tests (tests/backoffice/test_workbench_browser.py) use the same helpers.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SMARTBORDER_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
OUT = REPO / "var" / "screenshots" / "backoffice"


# -- photos: real faces from ../shared/data when present, else drawn ones --------------------------------
def _drawn_face(skin: tuple[int, int, int], hair: tuple[int, int, int], size=(300, 375)) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, (226, 232, 238))
    d = ImageDraw.Draw(img)
    w, h = size
    d.ellipse((w * .22, h * .12, w * .78, h * .78), fill=skin)
    d.chord((w * .2, h * .06, w * .8, h * .5), 180, 360, fill=hair)
    for x in (.38, .62):
        d.ellipse((w * x - 12, h * .4 - 7, w * x + 12, h * .4 + 7), fill=(250, 250, 250))
        d.ellipse((w * x - 5, h * .4 - 5, w * x + 5, h * .4 + 5), fill=(40, 40, 40))
    d.line((w * .5, h * .45, w * .47, h * .56, w * .52, h * .56), fill=(120, 80, 60), width=3)
    d.arc((w * .4, h * .58, w * .6, h * .68), 20, 160, fill=(150, 60, 60), width=4)
    d.rectangle((w * .3, h * .8, w * .7, h), fill=(40, 60, 90))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def face_photos() -> dict[str, bytes]:
    """Three JPEG portraits: ``a`` and ``b`` (two people), ``c`` (a third)."""
    folder = Path(os.environ.get("SMARTBORDER_SHARED_DATA", REPO.parent / "shared" / "data")) / "faces" / "misc" \
        / "openface"
    files = {"a": folder / "lennon-1.jpg", "b": folder / "clapton-1.jpg", "c": folder / "adams.jpg"}
    if all(f.exists() and f.stat().st_size < 1_500_000 for f in files.values()):
        return {k: f.read_bytes() for k, f in files.items()}
    return {"a": _drawn_face((224, 182, 150), (60, 40, 30)), "b": _drawn_face((198, 150, 112), (20, 20, 20)),
            "c": _drawn_face((236, 200, 170), (150, 110, 60))}


def jpeg2000(jpeg: bytes, max_side: int = 480) -> bytes:
    """The photo as a chip's DG2 holds it: JPEG 2000 (ICAO 9303-10 allows JPEG and JPEG 2000)."""
    from PIL import Image

    img = Image.open(io.BytesIO(jpeg)).convert("RGB")
    img.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    img.save(buf, format="JPEG2000", quality_mode="rates", quality_layers=[20])
    return buf.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def seed(world) -> dict[str, str]:
    """Post the three exceptions a gate would (and watchlist entries); their ids by name."""
    import datetime as dt

    photos = face_photos()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def ago(minutes: int) -> str:  # travellers who have waited a realistic while
        return (now - dt.timedelta(minutes=minutes)).isoformat()

    doc = {"issuing_state": "VNM", "nationality": "VNM", "sex": "M", "date_of_expiry": "2031-03-14"}
    cases = {
        "expired": {
            "occurred_at": ago(23), "reason_codes": ["document_expired"],
            "scores": {"face": 0.97, "face_threshold": 0.933},
            "document": {**doc, "document_number": "B7654321", "surname": "TRẦN", "given_names": "THỊ MAI",
                         "sex": "F", "date_of_birth": "1975-02-03", "date_of_expiry": "2026-10-01"},
            "message": "document expired 2026-10-01", "live_image": _b64(photos["c"])},
        "mismatch": {
            "occurred_at": ago(12), "reason_codes": ["face_mismatch"],
            "scores": {"face": 0.788, "face_threshold": 0.933, "liveness": 0.99},
            "document": {**doc, "document_number": "C1234567", "surname": "NGUYỄN", "given_names": "VĂN ĐỨC",
                         "date_of_birth": "1980-05-17"},
            "message": "face score 0.788 below threshold 0.933",
            "live_image": _b64(photos["a"]), "chip_image": _b64(jpeg2000(photos["b"]))},
        "hit": {
            "occurred_at": ago(4), "reason_codes": ["watchlist_hit"],
            "scores": {"face": 0.962, "face_threshold": 0.933},
            "document": {**doc, "document_number": "E9988776", "issuing_state": "CHN", "nationality": "CHN",
                         "surname": "ZHANG", "given_names": "WEI", "name_hanzi": "张伟",
                         "date_of_birth": "1979-08-08"},
            "watchlist_matches": [{"entry_id": "wl-interpol-0042", "kind": "person", "score": 0.97,
                                   "reasons": ["name", "date_of_birth"], "hit": True}],
            "message": "watchlist hit wl-interpol-0042",
            "live_image": _b64(photos["b"]), "chip_image": _b64(jpeg2000(photos["b"]))},
    }
    ids = {}
    for name, body in cases.items():
        body = {"direction": "entry", **body}
        r = world.client.post("/api/v1/exceptions", json=body,
                              headers=world.h("gate", **{"Idempotency-Key": f"screenshots-{name}"}))
        if r.status_code != 201:
            raise RuntimeError(f"posting the {name} exception: {r.status_code} {r.text}")
        ids[name] = r.json()["id"]
    for person in ({"id": "wl-interpol-0042", "name": "ZHANG WEI", "name_hanzi": "张伟", "date_of_birth": "1979-08-08",
                    "nationality": "CHN", "reason": "Interpol red notice"},
                   {"id": "wl-local-0007", "name": "PHAM VAN HUNG", "date_of_birth": "1968",
                    "nationality": "VNM", "reason": "court order: travel ban"}):
        world.client.post("/api/v1/watchlist/persons", json=person, headers=world.h("supervisor"))
    return ids


# -- the app on a socket, a browser ---------------------------------------------------------------------
@contextlib.contextmanager
def serve(app) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False,
                                           log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def chromium(*extra_args: str) -> Iterator:
    """Debian's chromium driven by Playwright (headless), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, *extra_args], headless=True)
        try:
            yield browser
        finally:
            browser.close()


def login(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/ui/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login")
    page.wait_for_load_state("networkidle")


def set_language(page, base: str, lang: str) -> None:
    page.goto(f"{base}/ui/lang/{lang}")
    page.wait_for_load_state("networkidle")


def photos_decoded(page) -> bool:
    return all(page.eval_on_selector(sel, "e => e.complete && e.naturalWidth > 0")
               for sel in ("#chip-image", "#live-image"))


def take(out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from tests.backoffice.conftest import PASSWORD, build_world, make_config

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"chromium not found at {CHROMIUM}: `make setup` as root installs it (apt chromium), "
                         "or set SMARTBORDER_CHROMIUM")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="sb-screens-") as tmp:
        (Path(tmp) / "data").mkdir(mode=0o700)
        world = build_world(make_config(db_path=Path(tmp) / "data" / "bo.db",
                                        keys_db_path=Path(tmp) / "keys" / "bo-keys.db"))
        ids = seed(world)
        with serve(world.app) as base, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                login(page, base, "border-guard", PASSWORD)

                def shot(name: str, full_page: bool = True) -> None:
                    path = out / f"{name}.png"
                    page.screenshot(path=str(path), full_page=full_page)
                    written.append(path)

                for lang in ("vi", "en"):
                    set_language(page, base, lang)
                    page.goto(f"{base}/ui/queue")
                    page.wait_for_load_state("networkidle")
                    shot(f"queue_{lang}")
                    page.goto(f"{base}/ui/exceptions/{ids['mismatch']}")
                    page.wait_for_load_state("networkidle")
                    if not photos_decoded(page):
                        raise RuntimeError("a photo on the review page did not decode")
                    shot(f"review_{lang}", full_page=False)  # what a guard sees without scrolling
                page.close()
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                set_language(page, base, "vi")
                login(page, base, "supervisor", PASSWORD)
                page.goto(f"{base}/ui/watchlist")
                page.wait_for_load_state("networkidle")
                shot("watchlist")
            finally:
                browser.close()
        world.client.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT.relative_to(REPO)})")
    args = parser.parse_args(argv)
    for path in take(args.out):
        print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
