"""schemathesis hooks for the OpenAPI contract run (``hooks`` in tests/backoffice/schemathesis.toml).

Some rules of the API are beyond JSON Schema. For a *schema-valid* request (positive generation) these hooks
fill in what a real device sends, so the run reaches the code behind validation:

* a device's timestamp is at most one day ahead of the server's clock (``backoffice.schemas.MAX_CLOCK_AHEAD``;
  the earliest year is in the schema's pattern): timestamps move into the last hour, keeping their offset;
* images are JPEG, PNG or JPEG 2000 and templates are the engines' own formats (face ``SBFT``, ISO/IEC
  19794-2 finger records), which a base64 string schema cannot describe: a small real JPEG and synthetic
  templates of the real formats replace the generated strings;
* an ``Idempotency-Key`` is unique per record (a reused key with another body is refused, 422): each
  schema-valid request gets a fresh one.

A part generated to violate the schema (negative generation) is left as it was, so negative cases stay
negative. The server's refusals of what these hooks avoid are tested one by one in test_strict_input.py.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
import uuid

import numpy as np
import schemathesis
from schemathesis.core.parameters import ParameterLocation

_TIMESTAMPS = {"occurred_at", "captured_at", "at"}
_IMAGES = {"live_image", "chip_image"}
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|([+-])(\d{2}):(\d{2}))$")


def _jpeg() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (48, 60), (180, 130, 100)).save(buf, format="JPEG")
    return base64.b64encode(buf.getvalue()).decode()


def _face_template(rng: np.random.Generator) -> str:
    from biometrics.face import FaceTemplate

    dlib, sface = (v / np.linalg.norm(v) for v in rng.normal(size=(2, 128)).astype(np.float32))
    return base64.b64encode(FaceTemplate(dlib, sface=sface).to_bytes()).decode()


def _finger_template(rng: np.random.Generator, position: int) -> str:
    from biometrics.finger import FingerprintTemplate, Minutia

    minutiae = [Minutia(int(rng.integers(20, 380)), int(rng.integers(20, 480)), float(rng.uniform(0, 2 * np.pi)),
                        "ending" if rng.random() < 0.6 else "bifurcation", 80) for _ in range(30)]
    record = FingerprintTemplate.from_minutiae(minutiae, width=400, height=500, position=position).to_bytes()
    return base64.b64encode(record).decode()


_JPEG = _jpeg()
_RNG = np.random.default_rng(20261206)


def _recent(value: str) -> str:
    """The same offset, an instant an hour ago."""
    m = _RFC3339.match(value)
    if m is None:
        return value
    offset = dt.timedelta(0)
    if m.group(1):
        offset = dt.timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        if m.group(1) == "-":
            offset = -offset
    if abs(offset) >= dt.timedelta(days=1):
        return value
    when = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
    return when.astimezone(dt.timezone(offset)).isoformat()


def _fill(value, key: str | None = None):
    if isinstance(value, dict):
        out = {k: _fill(v, k) for k, v in value.items()}
        if "data" in out and "position" in out:  # a FingerTemplate
            out["data"] = _finger_template(_RNG, int(out["position"]))
        return out
    if isinstance(value, list):
        return [_fill(v) for v in value]
    if isinstance(value, str):
        if key in _TIMESTAMPS:
            return _recent(value)
        if key in _IMAGES:
            return _JPEG
        if key == "face_template":
            return _face_template(_RNG)
    return value


def _positive(case, location: ParameterLocation) -> bool:
    meta = getattr(case, "meta", None)
    info = meta.components.get(location) if meta is not None else None
    return info is not None and not info.mode.is_negative


@schemathesis.hook
def before_call(context, case, kwargs):
    """On the case as it is about to be sent (a ``map_case`` hook, even one that changes nothing, makes
    schemathesis 4 filter the path-parameter operations out of its fuzzing phase)."""
    if _positive(case, ParameterLocation.BODY) and isinstance(case.body, dict):
        case.body = _fill(case.body)
    if _positive(case, ParameterLocation.HEADER) and case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = f"st-{uuid.uuid4()}"
