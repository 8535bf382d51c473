"""Convert dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) to ONNX, without dlib.

    python -m models.build_dlib_resnet_onnx [--dat PATH] [--out PATH]

The .dat is a dlib-serialized ``anet_type`` from dlib's ``dnn_face_recognition_ex.cpp`` (a 29-layer
ResNet, 150x150 RGB chip -> 128-D metric embedding). dlib's format does not describe itself: as in
dlib, the network *type* drives the reading. :func:`architecture` spells that type out layer by layer
and :func:`parse_dat` reads the stream against it, checking every version tag, layer name and
hyper-parameter, so any other file (or a truncated one) raises :class:`DlibModelFormatError`.

The dlib encodings read here (dlib/serialize.h, dlib/dnn/*.h):

- integers: a control byte (low nibble = byte count, bit 7 = negative) then the magnitude, little endian;
- floats/doubles: two such integers, mantissa and exponent (value = mantissa * 2**exponent);
- strings: length then bytes; bools: the characters ``'1'``/``'0'``;
- ``resizable_tensor`` (version 2): n, k, nr, nc then raw little-endian float32; ``alias_tensor``: 4 longs;
- ``add_layer`` nests: its version, then its whole sub-network, then its own layer, then bookkeeping
  (3 bools and empty tensors). Tags and skips are a version and their sub-network only.

Semantics carried over: the input is ``(pixel - mean) / 256`` per RGB channel (mean 122.782, 117.001,
104.298); ``con_`` pads kernel/2 only when its stride is 1 (else 0), pooling likewise; ``affine_`` is
the inference form of batch norm (folded here into the preceding convolution); ``add_prev`` adds two
tensors of different shapes by zero-extending each to the larger size (top-left aligned), which
happens on the downsampling shortcuts (32->64 channels; and 3x3 block vs 4x4 pooled shortcut at the
256-channel level); ``fc_no_bias`` multiplies by a (num_inputs, num_outputs) matrix; the metric loss
outputs that vector unchanged. The ONNX input is ``chips`` (N, 150, 150, 3) float32 RGB 0..255, the
output ``descriptors`` (N, 128). Bytes are deterministic (fixed names, no timestamps).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models import BUILT_DIR

__all__ = ["DlibModelFormatError", "Layer", "DlibNet", "DEFAULT_OUT", "EXPECTED_SHA256", "SOURCE_MODEL",
           "architecture", "parse_dat", "read_dat", "build_onnx", "main"]

SOURCE_MODEL = "dlib_face_recognition_resnet"
DEFAULT_OUT = BUILT_DIR / "dlib_resnet_v1.onnx"
OPSET = 17
#: sha256 of the ONNX this converter writes (onnx 1.17.0, numpy 1.26); biometrics.face checks it on load.
EXPECTED_SHA256 = "0bb315808c5712dc7d680b831cbd01552ba17e98ac0438276a6f2c204e6729a5"
_SPECIAL_EXPONENTS = {32000: math.inf, 32001: -math.inf, 32002: math.nan}  # dlib float_details


class DlibModelFormatError(ValueError):
    """The bytes are not a dlib-serialized face-recognition ResNet of the expected architecture."""


@dataclass
class Layer:
    """One layer of the network, top-down order as in the C++ type. ``spec`` holds the template arguments."""

    kind: str  # con affine relu max_pool avg_pool add_prev tag skip fc
    spec: tuple = ()
    params: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class DlibNet:
    layers: list[Layer]  # top-down, input excluded
    input_mean: tuple[float, float, float]
    input_size: tuple[int, int]
    margin: float
    dist_thresh: float


# ---------------------------------------------------------------- the network type
def _block(n: int, stride: int) -> list[Layer]:
    # block<N,affine,stride,SUB> = affine<con<N,3,3,1,1,relu<affine<con<N,3,3,stride,stride,SUB>>>>>
    return [Layer("affine"), Layer("con", (n, 3, 3, 1, 1)), Layer("relu"), Layer("affine"),
            Layer("con", (n, 3, 3, stride, stride))]


def _ares(n: int) -> list[Layer]:
    # relu<add_prev1<block<N,affine,1,tag1<SUB>>>>
    return [Layer("relu"), Layer("add_prev", (1,)), *_block(n, 1), Layer("tag", (1,))]


def _ares_down(n: int) -> list[Layer]:
    # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,affine,2,tag1<SUB>>>>>>>
    return [Layer("relu"), Layer("add_prev", (2,)), Layer("avg_pool", (2, 2, 2, 2)), Layer("skip", (1,)),
            Layer("tag", (2,)), *_block(n, 2), Layer("tag", (1,))]


def architecture() -> list[Layer]:
    """dnn_face_recognition_ex.cpp's anet_type below the loss, top-down (without the input layer)."""
    alevel0 = _ares_down(256)
    alevel1 = _ares(256) + _ares(256) + _ares_down(256)
    alevel2 = _ares(128) + _ares(128) + _ares_down(128)
    alevel3 = _ares(64) + _ares(64) + _ares(64) + _ares_down(64)
    alevel4 = _ares(32) + _ares(32) + _ares(32)
    return [Layer("fc", (128,)), Layer("avg_pool", (0, 0, 1, 1)), *alevel0, *alevel1, *alevel2, *alevel3, *alevel4,
            Layer("max_pool", (3, 3, 2, 2)), Layer("relu"), Layer("affine"), Layer("con", (32, 7, 7, 2, 2))]


# ---------------------------------------------------------------- dlib's primitive encodings
class _Reader:
    def __init__(self, data: bytes):
        self.b = memoryview(data)
        self.p = 0

    def _take(self, n: int, what: str) -> memoryview:
        if self.p + n > len(self.b):
            raise DlibModelFormatError(f"truncated file: {what} needs {n} bytes at offset {self.p}, "
                                       f"{len(self.b) - self.p} left")
        out = self.b[self.p:self.p + n]
        self.p += n
        return out

    def int(self, what: str = "integer", unsigned: bool = False) -> int:
        ctl = self._take(1, what)[0]
        size = ctl & (0x8F if unsigned else 0x0F)
        if size > 8 or (ctl & 0x70):
            raise DlibModelFormatError(f"bad integer control byte 0x{ctl:02x} for {what} at offset {self.p - 1}")
        v = int.from_bytes(self._take(size, what), "little")
        return -v if (ctl & 0x80 and not unsigned) else v

    def expect_int(self, allowed: tuple[int, ...], what: str) -> int:
        v = self.int(what)
        if v not in allowed:
            raise DlibModelFormatError(f"{what}: version {v}, expected {' or '.join(map(str, allowed))} "
                                       f"(offset {self.p})")
        return v

    def float(self, what: str = "float") -> float:
        if self.p < len(self.b) and self.b[self.p] & 0x70:
            raise DlibModelFormatError(f"{what}: old ASCII float encoding at offset {self.p} is not supported")
        mantissa, exponent = self.int(what), self.int(what)
        if exponent in _SPECIAL_EXPONENTS:
            return _SPECIAL_EXPONENTS[exponent]
        return math.ldexp(mantissa, exponent)

    def string(self, what: str = "string") -> str:
        n = self.int(what, unsigned=True)
        if n > 256:
            raise DlibModelFormatError(f"{what}: implausible string length {n} at offset {self.p}")
        return bytes(self._take(n, what)).decode("latin-1")

    def expect_string(self, expected: str, what: str) -> None:
        got = self.string(what)
        if got != expected:
            raise DlibModelFormatError(f"{what}: found {got!r}, expected {expected!r} (offset {self.p})")

    def bool(self, what: str = "bool") -> bool:
        c = bytes(self._take(1, what))
        if c not in (b"0", b"1"):
            raise DlibModelFormatError(f"{what}: bad bool byte {c!r} at offset {self.p - 1}")
        return c == b"1"

    def tensor(self, what: str = "tensor") -> np.ndarray:
        self.expect_int((2,), f"{what} (resizable_tensor)")
        dims = tuple(self.int(what) for _ in range(4))  # n, k, nr, nc
        if any(d < 0 for d in dims) or math.prod(dims) > 50_000_000:
            raise DlibModelFormatError(f"{what}: implausible tensor shape {dims}")
        raw = self._take(4 * math.prod(dims), what)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(dims)

    def alias(self, what: str = "alias_tensor") -> tuple[int, int, int, int]:
        self.expect_int((1,), f"{what} (alias_tensor)")
        return tuple(self.int(what) for _ in range(4))


# ---------------------------------------------------------------- layer details
def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise DlibModelFormatError(msg)


def _read_details(r: _Reader, layer: Layer, idx: int) -> None:
    where = f"layer {idx} ({layer.kind}{layer.spec})"
    if layer.kind == "con":
        r.expect_string("con_4", where)
        params = r.tensor(where)
        nf, nr, nc = r.int(where), r.int(where), r.int(where)
        sy, sx, py, px = (r.int(where) for _ in range(4))
        filt, bias = r.alias(where), r.alias(where)
        for _ in range(4):  # learning-rate / weight-decay multipliers
            r.float(where)
        n, kh, kw, sty, stx = layer.spec
        want_pad = (0 if sty != 1 else kh // 2, 0 if stx != 1 else kw // 2)
        _check((nf, nr, nc, sy, sx, py, px) == (n, kh, kw, sty, stx, *want_pad),
               f"{where}: hyper-parameters {(nf, nr, nc, sy, sx, py, px)} differ from the architecture")
        fsize = math.prod(filt)
        _check(filt[0] == n and filt[2:] == (kh, kw) and bias == (1, n, 1, 1) and params.size == fsize + n,
               f"{where}: parameter shapes {filt} / {bias} / {params.size} are inconsistent")
        flat = params.reshape(-1)
        layer.params = {"w": flat[:fsize].reshape(filt), "b": flat[fsize:fsize + n].copy()}
    elif layer.kind == "affine":
        r.expect_string("affine_", where)
        params = r.tensor(where)
        gamma, beta = r.alias(where), r.alias(where)
        mode = r.int(where)
        _check(mode == 0 and gamma == beta and gamma[0] == 1 and gamma[2:] == (1, 1)
               and params.size == 2 * gamma[1], f"{where}: not a per-channel (CONV_MODE) affine layer")
        flat = params.reshape(-1)
        layer.params = {"gamma": flat[:gamma[1]].copy(), "beta": flat[gamma[1]:].copy()}
    elif layer.kind in ("relu", "add_prev"):
        r.expect_string(f"{layer.kind}_", where)
    elif layer.kind in ("max_pool", "avg_pool"):
        r.expect_string(f"{layer.kind}_2", where)
        got = tuple(r.int(where) for _ in range(6))
        nr, nc, sy, sx = layer.spec
        want = (nr, nc, sy, sx, 0 if sy != 1 else nr // 2, 0 if sx != 1 else nc // 2)
        _check(got == want, f"{where}: pooling {got} differs from the architecture {want}")
    elif layer.kind == "fc":
        r.expect_string("fc_2", where)
        n_out, n_in = r.int(where, unsigned=True), r.int(where, unsigned=True)
        params = r.tensor(where)
        weights, _biases = r.alias(where), r.alias(where)
        bias_mode = r.int(where)  # FC_HAS_BIAS = 0, FC_NO_BIAS = 1
        for _ in range(4):
            r.float(where)
        _check(n_out == layer.spec[0] and bias_mode == 1 and weights == (n_in, n_out, 1, 1)
               and params.size == n_in * n_out, f"{where}: not fc_no_bias<{layer.spec[0]}> ({n_in}->{n_out}, "
                                                f"bias mode {bias_mode})")
        layer.params = {"w": params.reshape(n_in, n_out)}
    else:  # pragma: no cover - architecture() only makes the kinds above
        raise AssertionError(layer.kind)


def parse_dat(data: bytes) -> DlibNet:
    """Read a serialized ``anet_type``. Raises :class:`DlibModelFormatError` on any deviation or truncation."""
    r = _Reader(data)
    layers = architecture()
    r.expect_int((1,), "add_loss_layer")
    r.expect_string("loss_metric_2", "loss layer")
    margin, dist_thresh = r.float("loss margin"), r.float("loss distance threshold")
    computational = [i for i, layer in enumerate(layers) if layer.kind not in ("tag", "skip")]
    bottom = computational[-1]
    versions: dict[int, int] = {}
    for i, layer in enumerate(layers):  # the nesting: outermost version first
        if layer.kind in ("tag", "skip"):
            r.expect_int((1,), f"layer {i} (add_{layer.kind}_layer)")
        else:
            versions[i] = r.expect_int((2, 3) if i == bottom else (1, 2), f"layer {i} (add_layer<{layer.kind}>)")
    r.expect_string("input_rgb_image_sized", "input layer")
    mean = (r.float("avg_red"), r.float("avg_green"), r.float("avg_blue"))
    size = (r.int("input rows", unsigned=True), r.int("input columns", unsigned=True))
    _check(size == (150, 150), f"input layer: {size[0]}x{size[1]} chips, expected 150x150")
    for i in reversed(computational):  # then each layer's own data, innermost first
        _read_details(r, layers[i], i)
        for _ in range(3):  # setup called, gradient stale, output getters disabled
            r.bool(f"layer {i} flags")
        r.tensor(f"layer {i} x_grad")
        r.tensor(f"layer {i} cached_output")
        if i == bottom:
            r.tensor(f"layer {i} grad_final")
            if versions[i] >= 3:
                r.int(f"layer {i} sample expansion factor", unsigned=True)
        elif versions[i] >= 2:
            r.tensor(f"layer {i} params_grad")
    _check(r.p == len(r.b), f"{len(r.b) - r.p} unexpected bytes after the network (offset {r.p})")
    return DlibNet(layers, mean, size, margin, dist_thresh)


def read_dat(path: Path | None = None) -> DlibNet:
    """Parse the .dat at ``path``, by default face-recognition-models' copy (its sha256 checked by models.model_path)."""
    if path is None:
        from models import model_path

        path = model_path(SOURCE_MODEL)
    return parse_dat(Path(path).read_bytes())


# ---------------------------------------------------------------- ONNX
def build_onnx(net: DlibNet):
    """The ONNX model (opset 17) computing the same function as dlib's forward pass, batch dimension free."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def const(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    mean = np.asarray(net.input_mean, dtype=np.float32).reshape(1, 3, 1, 1)
    x = node("Transpose", ["chips"], "nchw", perm=[0, 3, 1, 2])
    x = node("Sub", [x, const("input_mean", mean)], "centred")
    x = node("Mul", [x, const("input_scale", np.array(1 / 256, dtype=np.float32))], "input")
    shape = (3, *net.input_size)  # (C, H, W) of x
    tags: dict[int, tuple[str, tuple[int, int, int]]] = {}
    layers = list(reversed(net.layers))  # bottom-up, the order of computation
    i = 0
    while i < len(layers):
        layer, tag = layers[i], f"L{len(layers) - 1 - i:03d}"  # named by dlib's layer<idx> index
        if layer.kind == "con":
            n, kh, kw, sy, sx = layer.spec
            w, b = layer.params["w"].astype(np.float64), layer.params["b"].astype(np.float64)
            if i + 1 < len(layers) and layers[i + 1].kind == "affine":  # fold affine (inference batch norm)
                g, beta = (layers[i + 1].params[k].astype(np.float64) for k in ("gamma", "beta"))
                w, b = w * g[:, None, None, None], b * g + beta
                i += 1
            py, px = (0 if sy != 1 else kh // 2), (0 if sx != 1 else kw // 2)
            x = node("Conv", [x, const(f"{tag}_w", w.astype(np.float32)), const(f"{tag}_b", b.astype(np.float32))],
                     f"{tag}_conv", kernel_shape=[kh, kw], strides=[sy, sx], pads=[py, px, py, px])
            shape = (n, (shape[1] + 2 * py - kh) // sy + 1, (shape[2] + 2 * px - kw) // sx + 1)
        elif layer.kind == "affine":
            c = shape[0]
            x = node("Mul", [x, const(f"{tag}_gamma", layer.params["gamma"].reshape(1, c, 1, 1))], f"{tag}_scale")
            x = node("Add", [x, const(f"{tag}_beta", layer.params["beta"].reshape(1, c, 1, 1))], f"{tag}_affine")
        elif layer.kind == "relu":
            x = node("Relu", [x], f"{tag}_relu")
        elif layer.kind in ("max_pool", "avg_pool"):
            nr, nc, sy, sx = layer.spec
            if nr == 0 and nc == 0:
                x = node("GlobalAveragePool", [x], f"{tag}_gap")
                shape = (shape[0], 1, 1)
            else:
                py, px = (0 if sy != 1 else nr // 2), (0 if sx != 1 else nc // 2)
                op = "MaxPool" if layer.kind == "max_pool" else "AveragePool"
                x = node(op, [x], f"{tag}_{layer.kind}", kernel_shape=[nr, nc], strides=[sy, sx],
                         pads=[py, px, py, px])
                shape = (shape[0], (shape[1] + 2 * py - nr) // sy + 1, (shape[2] + 2 * px - nc) // sx + 1)
        elif layer.kind == "tag":
            tags[layer.spec[0]] = (x, shape)
        elif layer.kind == "skip":
            x, shape = tags[layer.spec[0]]
        elif layer.kind == "add_prev":
            other, oshape = tags[layer.spec[0]]
            full = tuple(max(a, b) for a, b in zip(shape, oshape, strict=True))
            operands = []
            for j, (name, s) in enumerate(((x, shape), (other, oshape))):
                if s != full:  # dlib's tt::add zero-extends the smaller tensor (channels, bottom, right)
                    pads = np.array([0, 0, 0, 0, 0, full[0] - s[0], full[1] - s[1], full[2] - s[2]], dtype=np.int64)
                    name = node("Pad", [name, const(f"{tag}_pads{j}", pads)], f"{tag}_pad{j}", mode="constant")
                operands.append(name)
            x, shape = node("Add", operands, f"{tag}_add"), full
        elif layer.kind == "fc":
            w = layer.params["w"]
            _check(w.shape[0] == math.prod(shape), f"fc expects {w.shape[0]} inputs, the network gives {shape}")
            x = node("Flatten", [x], f"{tag}_flatten", axis=1)
            x = node("MatMul", [x, const(f"{tag}_w", w)], "descriptors")
        i += 1
    _check(x == "descriptors", "the network does not end with its fc layer")
    graph = helper.make_graph(
        nodes, "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("chips", TensorProto.FLOAT, ["N", net.input_size[0], net.input_size[1], 3])],
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["N", 128])], inits)
    model = helper.make_model(graph, producer_name="smartborder.models.build_dlib_resnet_onnx", producer_version="1",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    model.doc_string = ("dlib_face_recognition_resnet_model_v1 (dlib ResNet-29 metric network, CC0-1.0): chips = "
                        "150x150 RGB 0..255 aligned by dlib.get_face_chip; descriptors = dlib's 128-D output.")
    onnx.checker.check_model(model)
    return model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.build_dlib_resnet_onnx", description=__doc__.split("\n")[0])
    p.add_argument("--dat", type=Path, default=None, help="the .dat (default: the verified face-recognition-models copy)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"ONNX file to write (default {DEFAULT_OUT})")
    args = p.parse_args(argv)
    from models import ModelError

    try:
        net = read_dat(args.dat)
    except (DlibModelFormatError, ModelError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    data = build_onnx(net).SerializeToString()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(args.out)
    digest = hashlib.sha256(data).hexdigest()
    print(f"wrote {args.out} ({len(data)} bytes, sha256 {digest})"
          + ("" if digest == EXPECTED_SHA256 else f" (NOT the expected {EXPECTED_SHA256}: onnx/numpy version?)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
