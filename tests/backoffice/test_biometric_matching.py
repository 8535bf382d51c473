"""The back office's matchers on real data (../shared/data): score bands with the calibrated thresholds."""

import base64

import numpy as np
import pytest

from tests.backoffice.test_enrolments import enrolment
from tests.conftest import shared_path


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def fvc():
    from PIL import Image

    from biometrics.finger import FingerprintTemplate

    root = shared_path("fingerprints", "fvc2002_DB1")

    def iso(name: str, position: int = 2) -> bytes:
        image = np.asarray(Image.open(root / f"{name}.tif").convert("L"))
        return FingerprintTemplate(image, dpi=500, position=position).to_bytes()

    return iso


@pytest.fixture(scope="module")
def lfw():
    from biometrics.face import extract_template, load_image

    root = shared_path("faces", "lfw-dev")

    def template(name: str, i: int) -> bytes:
        return extract_template(load_image((root / name / f"{name}_{i:04d}.jpg").read_bytes())).to_bytes()

    return template


def test_gate_verify_with_real_fingerprints(world, fvc):
    from biometrics.finger import THRESHOLDS

    r = world.client.post("/api/v1/enrolments", headers=world.h("kiosk", **{"Idempotency-Key": "fvc"}),
                          json=enrolment("C5550001", fingers=[(2, fvc("101_1")), (3, fvc("103_1", 3))]))
    assert r.status_code == 201 and r.json()["status"] == "accepted", r.text

    def verify(name: str) -> dict:
        probe = {"position": 2, "format": "iso19794_2", "data": _b64(fvc(name))}
        r = world.client.post("/api/v1/enrolments/verify", headers=world.h("gate"),
                              json={"document_number": "C5550001", "issuing_state": "VNM", "finger_templates": [probe]})
        assert r.status_code == 200, r.text
        return r.json()

    same, other = verify("101_2"), verify("102_2")  # the enrolled right index again; another person's finger
    threshold = THRESHOLDS["fmr_5e-4"]
    assert same["threshold"] == other["threshold"] == threshold and same["threshold_name"] == "fmr_5e-4"
    assert same["matched"] is True and 0.2 <= same["score"] <= 1.0, same  # measured 0.68
    assert other["matched"] is False and 0.0 <= other["score"] < threshold, other  # measured 0.014


def test_face_duplicate_check_on_real_faces(world, lfw):
    from biometrics.face import THRESHOLDS

    def enrol(doc: str, template: bytes, key: str) -> dict:
        r = world.client.post("/api/v1/enrolments", json=enrolment(doc, face_bytes=template),
                              headers=world.h("kiosk", **{"Idempotency-Key": key}))
        assert r.status_code == 201, r.text
        return r.json()

    first = enrol("C6660001", lfw("Abdullah_Gul", 1), "a1")
    assert first["status"] == "accepted"
    other_person = enrol("C6660002", lfw("Juan_Pablo_Montoya", 1), "b1")  # fused score with the first: 0.90
    assert other_person["status"] == "accepted", other_person
    again = enrol("B6660003", lfw("Abdullah_Gul", 2), "a2")  # the same man, another document
    assert again["status"] == "duplicate_suspected", again
    [dup] = again["duplicates"]
    assert dup["enrolment_id"] == first["id"] and dup["modality"] == "face"
    assert THRESHOLDS["fmr_5e-4"] <= dup["score"] <= 1.2, dup  # measured 1.03 (fused scores can pass 1)
