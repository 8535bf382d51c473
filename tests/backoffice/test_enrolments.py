import base64

import numpy as np

from tests.backoffice.conftest import build_world, make_config


def _template(seed: int, dim: int = 128) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim)
    return v / np.linalg.norm(v)


def enrolment(doc="C1000001", state="VNM", face=None, fingers=(), consent=True) -> dict:
    face = _template(1) if face is None else face
    return {
        "captured_at": "2026-11-22T09:00:00+07:00",
        "document": {"document_number": doc, "issuing_state": state, "surname": "TRẦN", "given_names": "THỊ MAI",
                     "nationality": state, "date_of_birth": "1990-01-02"},
        "face_template": [float(x) for x in face],
        "finger_templates": [{"position": p, "format": "iso19794_2", "data": base64.b64encode(d).decode()}
                             for p, d in fingers],
        "consent": {"given": consent, "purposes": ["e_gate_enrolment"], "text_version": "2026-01", "language": "vi",
                    "at": "2026-11-22T09:00:00+07:00"},
    }


def _post(world, body, key):
    return world.client.post("/api/v1/enrolments", json=body, headers=world.h("kiosk", **{"Idempotency-Key": key}))


def test_enrolment_accepted_then_duplicate_face_flagged(world):
    r = _post(world, enrolment("C1000001", face=_template(1)), "e1")
    assert r.status_code == 201
    first = r.json()
    assert first["status"] == "accepted" and first["checks"] == ["face"]
    assert first["fingerprint_check"] == "no_templates" and first["duplicates"] == []
    # the same passport re-enrolling is not a duplicate identity
    assert _post(world, enrolment("C1000001", face=_template(1)), "e0").json()["status"] == "accepted"
    # same face (slightly noisy), another passport: a suspected duplicate identity
    noisy = _template(1) + np.random.default_rng(9).normal(scale=0.01, size=128)
    r = _post(world, enrolment("B9999999", "CHN", face=noisy), "e2")
    second = r.json()
    assert second["status"] == "duplicate_suspected"
    assert first["id"] in {d["enrolment_id"] for d in second["duplicates"]}
    assert {d["modality"] for d in second["duplicates"]} == {"face"}
    # a different face: accepted
    assert _post(world, enrolment("C1000003", face=_template(3)), "e3").json()["status"] == "accepted"
    # no biometric data in the public schema
    listed = world.client.get("/api/v1/enrolments", headers=world.h("supervisor"))
    assert "face_template" not in listed.text and "finger" not in listed.text.replace("fingerprint", "")


def test_supervisor_decides_suspected_duplicates(world):
    _post(world, enrolment("C1000001", face=_template(1)), "e1")
    dup = _post(world, enrolment("B9999999", "CHN", face=_template(1)), "e2").json()
    c, sup = world.client, world.h("supervisor")
    assert c.get("/api/v1/enrolments?status=duplicate_suspected", headers=sup).json()[0]["id"] == dup["id"]
    r = c.post(f"/api/v1/enrolments/{dup['id']}/decision", json={"decision": "reject"}, headers=sup)
    assert r.json()["status"] == "rejected" and r.json()["decided_by"] == "supervisor"
    assert c.post(f"/api/v1/enrolments/{dup['id']}/decision", json={"decision": "accept"}, headers=sup).status_code == 409
    assert c.get("/api/v1/enrolments/nope", headers=sup).status_code == 404


def test_consent_is_required_and_templates_validated(world):
    r = _post(world, enrolment(consent=False), "c1")
    assert r.status_code == 422 and "consent" in r.json()["detail"]
    bad = enrolment()
    bad["face_template"] = [1.0] * 10
    assert _post(world, bad, "c2").status_code == 422
    bad = enrolment()
    bad["finger_templates"] = [{"position": 1, "format": "iso19794_2", "data": "###"}]
    assert _post(world, bad, "c3").status_code == 422


def test_fingerprint_matcher_plugged_in(tmp_path):
    calls = []

    def matcher(probe: bytes, candidate: bytes) -> float:
        calls.append((probe, candidate))
        return 100.0 if probe == candidate else 5.0

    w = build_world(make_config(db_path=tmp_path / "f.db", fingerprint_matcher=matcher))
    a = _post(w, enrolment("C1", face=_template(1), fingers=[(1, b"minutiae-A")]), "f1").json()
    assert a["checks"] == ["face", "fingerprint"] and a["fingerprint_check"] == "done"
    # different face, same finger: caught by the fingerprint check alone
    b = _post(w, enrolment("C2", face=_template(2), fingers=[(1, b"minutiae-A")]), "f2").json()
    assert b["status"] == "duplicate_suspected"
    assert [d["modality"] for d in b["duplicates"]] == ["fingerprint"] and calls
    c = _post(w, enrolment("C3", face=_template(3), fingers=[(1, b"minutiae-C")]), "f3").json()
    assert c["status"] == "accepted"


def test_without_matcher_fingerprints_are_stored_but_not_compared(world):
    r = _post(world, enrolment(fingers=[(1, b"minutiae")]), "n1").json()
    assert r["checks"] == ["face"] and r["fingerprint_check"] == "not_configured"


def test_cosine_metric(tmp_path):
    w = build_world(make_config(db_path=tmp_path / "c.db", face_metric="cosine", face_duplicate_threshold=0.95))
    _post(w, enrolment("C1", face=_template(1) * 3.0), "x1")
    assert _post(w, enrolment("C2", face=_template(1)), "x2").json()["status"] == "duplicate_suspected"
    assert _post(w, enrolment("C3", face=_template(5)), "x3").json()["status"] == "accepted"


def test_only_kiosks_enrol(world):
    r = world.client.post("/api/v1/enrolments", json=enrolment(), headers=world.h("gate", **{"Idempotency-Key": "g"}))
    assert r.status_code == 403


def test_gate_fingerprint_verification_keeps_templates_in_the_back_office(tmp_path):
    import base64 as b64

    from tests.backoffice.conftest import build_world, make_config

    def matcher(probe: bytes, enrolled: bytes) -> float:
        return 90.0 if probe == enrolled else 4.0

    w = build_world(make_config(db_path=tmp_path / "bo.db", fingerprint_matcher=matcher))
    finger = b64.b64encode(b"ISO-TEMPLATE-RIGHT-INDEX").decode()
    body = {"captured_at": "2026-11-22T08:00:00+00:00",
            "document": {"document_number": "C7770001", "issuing_state": "VNM", "document_type": "P",
                         "surname": "TRAN", "given_names": "THI BICH"},
            "face_template": [0.1] * 128, "finger_templates": [{"position": 2, "format": "iso19794_2", "data": finger}],
            "consent": {"given": True, "purposes": ["enrolment"], "text_version": "1", "language": "vi",
                        "at": "2026-11-22T08:00:00+00:00"}}
    r = w.client.post("/api/v1/enrolments", json=body, headers=w.h("kiosk", **{"Idempotency-Key": "e1"}))
    assert r.status_code == 201, r.text

    def ask(number, templates, who="gate"):
        return w.client.post("/api/v1/enrolments/verify", headers=w.h(who),
                             json={"document_number": number, "issuing_state": "VNM", "finger_templates": templates})

    assert ask("C7770001", []).json() == {"enrolled": True, "fingerprint_check": "no_probe", "score": None,
                                          "threshold": 40.0, "matched": None}
    same = ask("C7770001", [{"position": 2, "format": "iso19794_2", "data": finger}]).json()
    assert same["matched"] is True and same["score"] == 90.0 and "data" not in str(same)
    other = ask("C7770001", [{"position": 2, "format": "iso19794_2", "data": b64.b64encode(b"x").decode()}]).json()
    assert other["matched"] is False
    assert ask("C0000000", []).json()["fingerprint_check"] == "not_enrolled"
    assert ask("C7770001", [], who="kiosk").status_code == 403
    ledger = w.client.get("/api/v1/privacy/ledger", headers=w.h("privacy_officer")).json()
    assert any(e.get("purpose") == "gate_fingerprint_verification" for e in ledger)
    w.client.close()
