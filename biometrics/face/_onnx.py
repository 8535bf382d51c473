"""One onnxruntime session per converted model file and process, after checking the file's sha256.

The converted models (``models/build_*_onnx.py``, written to ``var/models``) are loaded here: one
intra-op thread, sequential (a gate runs on few cores; the pipeline's threads give the parallelism).
"""

from __future__ import annotations

import threading
from pathlib import Path

from models import sha256_file

from ._detect import FaceError

__all__ = ["onnx_session"]

_sessions: dict[Path, object] = {}
_lock = threading.Lock()


def onnx_session(target: Path, *, sha256: str, error: type[FaceError], what: str, builder: str | None = None,
                 hint: str | None = None, weights_as_constants: bool = False):
    """The session for ``target``; ``error`` (a :class:`FaceError`) names a missing, altered or
    unloadable file and says to rebuild it with ``python -m {builder}`` (or gives ``hint``).
    ``weights_as_constants``: the graph lists its weights among its inputs (old exporters), which
    stops onnxruntime from folding them; they are taken out of the inputs in memory after the sha256
    check (the file is not changed)."""
    hint = hint or f"build it with `python -m {builder}`"
    with _lock:
        if target in _sessions:
            return _sessions[target]
        if not target.is_file():
            raise error(f"{what} {target} is missing: {hint}")
        actual = sha256_file(target)
        if actual != sha256:
            raise error(f"{what} {target}: sha256 {actual}, expected {sha256}; {hint}")
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3  # errors only
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            source = _without_weight_inputs(target) if weights_as_constants else str(target)
            session = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own untyped errors on a bad file
            raise error(f"{what} {target} does not load: {e}") from e
        _sessions[target] = session
        return session


def _without_weight_inputs(target: Path) -> bytes:
    """The model's bytes with its initializers removed from the graph inputs (measured on SFace: 30 ms
    instead of 40 ms per run on one core, outputs within 2e-6)."""
    import onnx

    model = onnx.load(str(target))
    weights = {w.name for w in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    return model.SerializeToString()
