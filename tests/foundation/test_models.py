from pathlib import Path

import pytest

import models


def test_every_manifest_entry_is_complete():
    specs = models.manifest()
    required = {"dlib_shape_predictor_5", "dlib_shape_predictor_68", "dlib_face_recognition_resnet",
                "mediapipe_face_detection_short", "mediapipe_face_mesh"}
    assert required <= set(specs)
    for spec in specs.values():
        assert len(spec.sha256) == 64 and all(c in "0123456789abcdef" for c in spec.sha256), spec.name
        assert spec.licence and spec.purpose and spec.package and spec.version


def test_model_path_verifies_sha256():
    path = models.model_path("dlib_shape_predictor_5")
    assert path.is_file()
    assert models.sha256_file(path) == models.manifest()["dlib_shape_predictor_5"].sha256


def test_unknown_model_is_a_named_error():
    with pytest.raises(models.ModelNotFoundError, match="not in manifest"):
        models.model_path("no_such_model")


def test_missing_package_is_a_named_error(monkeypatch):
    spec = models.manifest()["mtcnn_pnet"]
    broken = {**models.manifest(), "ghost": spec.__class__(**{**spec.__dict__, "name": "ghost",
                                                               "module": "no_such_module_xyz"})}
    monkeypatch.setattr(models, "manifest", lambda: broken)
    with pytest.raises(models.ModelNotFoundError, match="not installed"):
        models.locate("ghost")


def test_wrong_checksum_is_refused(monkeypatch, tmp_path: Path):
    spec = models.manifest()["mtcnn_pnet"]
    tampered = {**models.manifest(), "tampered": spec.__class__(**{**spec.__dict__, "name": "tampered",
                                                                   "sha256": "0" * 64})}
    monkeypatch.setattr(models, "manifest", lambda: tampered)
    with pytest.raises(models.ModelChecksumError, match="sha256"):
        models.model_path("tampered")


def test_import_loads_nothing():
    import subprocess
    import sys

    code = ("import sys, models; import smartborder.cli; "
            "heavy = [m for m in ('dlib', 'cv2', 'mediapipe', 'onnxruntime', 'kivy', 'fastapi') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_built_models_are_recorded_like_the_others(monkeypatch, tmp_path: Path):
    from models.build_dlib_resnet_onnx import DEFAULT_OUT, EXPECTED_SHA256

    spec = models.manifest()["dlib_resnet_onnx"]
    assert spec.build == "models.build_dlib_resnet_onnx" and spec.source in models.manifest()
    assert spec.sha256 == EXPECTED_SHA256 and models.BUILT_DIR / spec.file == DEFAULT_OUT
    from models import build_facenet_onnx

    facenet = models.manifest()["facenet_onnx"]
    assert facenet.sha256 == build_facenet_onnx.EXPECTED_SHA256 and facenet.source in models.manifest()
    assert models.BUILT_DIR / facenet.file == build_facenet_onnx.DEFAULT_OUT
    monkeypatch.setattr(models, "BUILT_DIR", tmp_path)  # not built yet: a named error saying how
    with pytest.raises(models.ModelNotFoundError, match="make setup"):
        models.locate("dlib_resnet_onnx")
