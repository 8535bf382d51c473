"""Photos for the guards' browser: JPEG 2000 (the chip's DG2) converted to JPEG, live-capture thumbnails
for the queue, in a small bounded in-memory LRU (never on disk: these are decrypted personal data).

An entry is keyed by (exception id, which) and carries the SHA-256 of the decrypted source it was made
from: the review reads the source through the ledgered vault path every time and the cache only saves
the conversion, so an erased or purged image is never served from memory. Entries also expire.
"""

from __future__ import annotations

import hashlib
import io
import struct
import threading
import time
from collections import OrderedDict

__all__ = ["BROWSER_TYPES", "ImageCache", "ImageUnreadable", "thumbnail", "to_browser"]

#: what a browser displays as is
BROWSER_TYPES = ("image/jpeg", "image/png")
#: a decoded photo larger than this is refused (a decompression bomb in a 2 MB JPEG 2000 file)
MAX_PIXELS = 4096 * 4096
THUMB_SIZE = (96, 120)


class ImageUnreadable(ValueError):
    """The stored image cannot be decoded (not an image, truncated, or too large once decoded)."""


def _open(data: bytes):
    from PIL import Image

    # a malformed file makes Pillow's decoders raise almost anything (OSError, ValueError, SyntaxError,
    # EOFError, struct.error, IndexError): every one means "cannot display this image"
    broken = (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error, Image.DecompressionBombError)
    try:
        img = Image.open(io.BytesIO(data))
    except broken as e:
        raise ImageUnreadable(f"cannot decode the image: {e}") from e
    if img.width * img.height > MAX_PIXELS:
        raise ImageUnreadable(f"image of {img.width}x{img.height} pixels is too large to display")
    try:
        img.load()
    except broken as e:
        raise ImageUnreadable(f"cannot decode the image: {e}") from e
    return img.convert("RGB") if img.mode not in ("RGB", "L") else img


def _jpeg(img, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def to_browser(data: bytes, media: str) -> tuple[bytes, str]:
    """``data`` as an image a browser displays: JPEG and PNG as they are, anything else (JPEG 2000)
    decoded and re-encoded as JPEG at high quality (the chip photo is already lossy)."""
    if media in BROWSER_TYPES:
        return data, media
    return _jpeg(_open(data), 95), "image/jpeg"


def thumbnail(data: bytes) -> bytes:
    """A small JPEG of the photo for the queue."""
    img = _open(data)
    img.thumbnail(THUMB_SIZE)
    return _jpeg(img, 80)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ImageCache:
    """A bounded LRU of converted images: at most ``max_entries`` and ``max_bytes``, each at most
    ``ttl_s`` old. Thread-safe (the app serves from a thread pool)."""

    def __init__(self, max_entries: int = 256, max_bytes: int = 32 * 1024 * 1024, ttl_s: float = 900.0,
                 clock=time.monotonic) -> None:
        self.max_entries, self.max_bytes, self.ttl_s, self.clock = max_entries, max_bytes, ttl_s, clock
        self._items: OrderedDict[tuple[str, ...], tuple[str, bytes, str, float]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, key: tuple[str, ...], source_digest: str | None = None) -> tuple[bytes, str] | None:
        """The cached image for ``key``; with ``source_digest`` only if it was made from that source."""
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            src, data, media, at = hit
            if self.clock() - at > self.ttl_s or (source_digest is not None and src != source_digest):
                self._drop(key)
                return None
            self._items.move_to_end(key)
            return data, media

    def put(self, key: tuple[str, ...], source_digest: str, data: bytes, media: str) -> None:
        with self._lock:
            now = self.clock()  # expired photos leave memory on every write, not only when read again
            for old in [k for k, v in self._items.items() if now - v[3] > self.ttl_s]:
                self._drop(old)
            if key in self._items:
                self._drop(key)
            if len(data) > self.max_bytes:
                return
            self._items[key] = (source_digest, data, media, self.clock())
            self._bytes += len(data)
            while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
                self._drop(next(iter(self._items)))

    def forget(self, exc_id: str) -> None:
        """Drop every image of one exception (decided, erased)."""
        with self._lock:
            for key in [k for k in self._items if k[0] == exc_id]:
                self._drop(key)

    def clear(self) -> None:
        """Drop everything (after an erasure or a purge: nothing decrypted before it stays in memory)."""
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def _drop(self, key: tuple[str, ...]) -> None:
        _, data, _, _ = self._items.pop(key)
        self._bytes -= len(data)


def app_cache(app) -> ImageCache:
    """The app's in-memory cache of converted photos and queue thumbnails (never written to disk)."""
    state = app.state
    if getattr(state, "review_images", None) is None:
        state.review_images = ImageCache()
    return state.review_images


def forget_all(app) -> None:
    """After an erasure or a purge: no photo decrypted before it stays in the app's memory."""
    cache = getattr(app.state, "review_images", None)
    if cache is not None:
        cache.clear()
