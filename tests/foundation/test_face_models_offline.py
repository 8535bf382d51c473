"""The first real test: the face models load offline and encode real faces."""

import numpy as np
import pytest

from models import model_path
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def dlib_models():
    dlib = pytest.importorskip("dlib")
    return (dlib.get_frontal_face_detector(),
            dlib.shape_predictor(str(model_path("dlib_shape_predictor_5"))),
            dlib.face_recognition_model_v1(str(model_path("dlib_face_recognition_resnet"))))


def _encode(path, dlib_models):
    from PIL import Image

    detector, shaper, encoder = dlib_models
    rgb = np.asarray(Image.open(path).convert("RGB"))
    faces = detector(rgb, 1)
    assert len(faces) == 1, f"{path.name}: expected one face, found {len(faces)}"
    shape = shaper(rgb, faces[0])
    return np.asarray(encoder.compute_face_descriptor(rgb, shape))


def test_encode_real_faces_offline(dlib_models):
    root = shared_path("faces", "misc")
    lennon1 = _encode(root / "openface" / "lennon-1.jpg", dlib_models)
    lennon2 = _encode(root / "openface" / "lennon-2.jpg", dlib_models)
    clapton = _encode(root / "openface" / "clapton-1.jpg", dlib_models)
    assert lennon1.shape == (128,)
    genuine = np.linalg.norm(lennon1 - lennon2)
    impostor = np.linalg.norm(lennon1 - clapton)
    # dlib's ResNet: same person typically < 0.6, different people > 0.6 (LFW-trained metric).
    assert genuine < 0.6 < impostor, (genuine, impostor)
