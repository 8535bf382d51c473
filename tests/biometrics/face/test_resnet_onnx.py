"""dlib ResNet -> ONNX: the .dat reader (architecture, named errors on bad bytes), a deterministic build, and
descriptors equal to dlib's own on real LFW chips (skipped when the data or the built ONNX file is absent)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from biometrics.face import FaceError
from biometrics.face._resnet_onnx import (
    RESNET_DIM,
    ResNetOnnxUnavailableError,
    descriptors,
    resnet_onnx_model_path,
)
from models import ModelNotFoundError, locate
from models.build_dlib_resnet_onnx import (
    EXPECTED_SHA256,
    DlibModelFormatError,
    build_onnx,
    parse_dat,
)
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def dat_bytes() -> bytes:
    try:
        return locate("dlib_face_recognition_resnet").read_bytes()
    except ModelNotFoundError as e:
        pytest.skip(f"face-recognition-models is not installed: {e}")


@pytest.fixture(scope="module")
def net(dat_bytes):
    return parse_dat(dat_bytes)


def test_reader_recovers_the_resnet29(net):
    kinds = [layer.kind for layer in net.layers]
    assert len(kinds) == 130
    assert kinds.count("con") == 29 and kinds.count("affine") == 29 and kinds.count("add_prev") == 14
    assert net.input_size == (150, 150)
    assert np.allclose(net.input_mean, (122.782, 117.001, 104.298), atol=1e-4)
    assert net.margin == pytest.approx(0.04) and net.dist_thresh == pytest.approx(0.6)
    first_conv = net.layers[-1]
    assert first_conv.spec == (32, 7, 7, 2, 2) and first_conv.params["w"].shape == (32, 3, 7, 7)
    assert net.layers[0].params["w"].shape == (256, RESNET_DIM)
    n_params = sum(v.size for layer in net.layers for v in layer.params.values())
    assert n_params == 5_614_592
    assert all(np.isfinite(v).all() for layer in net.layers for v in layer.params.values())


@pytest.mark.parametrize("cut", [0, 1, 20, 330, 5_000, 11_000_000, -1])
def test_truncated_dat_is_a_named_error(dat_bytes, cut):
    with pytest.raises(DlibModelFormatError, match="truncated"):
        parse_dat(dat_bytes[:cut])


def test_trailing_or_altered_bytes_are_named_errors(dat_bytes):
    with pytest.raises(DlibModelFormatError, match="unexpected bytes"):
        parse_dat(dat_bytes + b"\x00")
    renamed = dat_bytes.replace(b"loss_metric_2", b"loss_metric_3", 1)
    with pytest.raises(DlibModelFormatError, match="loss_metric_2"):
        parse_dat(renamed)
    at = dat_bytes.index(b"con_4")  # the first convolution's name, then its parameter tensor
    with pytest.raises(DlibModelFormatError, match="con_4"):
        parse_dat(dat_bytes[:at] + b"con_5" + dat_bytes[at + 5:])
    with pytest.raises(DlibModelFormatError):
        parse_dat(b"\x01\x01\x01\x0dloss_metric_2" + b"\xff" * 64)


def test_build_is_deterministic_with_the_recorded_hash(net):
    data = build_onnx(net).SerializeToString()
    assert hashlib.sha256(data).hexdigest() == EXPECTED_SHA256


def test_missing_or_altered_model_is_a_named_face_error(tmp_path: Path):
    chip = np.zeros((150, 150, 3), np.uint8)
    with pytest.raises(ResNetOnnxUnavailableError, match="build_dlib_resnet_onnx"):
        descriptors([chip], model=tmp_path / "absent.onnx")
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"not a model")
    with pytest.raises(FaceError, match="sha256"):
        descriptors([chip], model=bogus)
    assert issubclass(ResNetOnnxUnavailableError, FaceError)


def test_bad_chip_shape_is_a_face_error():
    with pytest.raises(FaceError, match="150, 150, 3"):
        descriptors([np.zeros((160, 160, 3), np.uint8)])
    assert descriptors([]).shape == (0, RESNET_DIM)


def test_descriptors_equal_dlib_on_real_chips():
    root = shared_path("faces", "lfw-dev")
    if not resnet_onnx_model_path().is_file():
        pytest.skip(f"{resnet_onnx_model_path()} is not built (python -m models.build_dlib_resnet_onnx)")
    import dlib

    from biometrics.face import detect_faces, face_chip, load_image

    chips = []
    for name in ("Abdullah_Gul", "Adrien_Brody", "Afton_Smith"):
        image = load_image(sorted((root / name).glob("*.jpg"))[0])
        chips.append(face_chip(image, detect_faces(image)[0]))
    chips.append(np.ascontiguousarray(chips[0][:, ::-1]))  # the mirrored chip of the flip augmentation
    net = dlib.face_recognition_model_v1(str(locate("dlib_face_recognition_resnet")))
    ref = np.asarray([np.asarray(v) for v in net.compute_face_descriptor(chips)], dtype=np.float32)
    out = descriptors(chips)
    assert out.shape == (4, RESNET_DIM) and out.dtype == np.float32
    assert np.abs(out - ref).max() < 1e-5
    cos = (out * ref).sum(1) / (np.linalg.norm(out, axis=1) * np.linalg.norm(ref, axis=1))
    assert cos.min() > 0.99999
    assert np.array_equal(descriptors([c.astype(np.float32) for c in chips]), out)  # uint8 or float input
    # the two different people are far apart, the mirror close: the scale dlib's 0.6 threshold expects
    assert np.linalg.norm(out[0] - out[1]) > 0.6 > np.linalg.norm(out[0] - out[3])
