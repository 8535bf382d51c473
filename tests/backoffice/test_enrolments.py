"""Enrolments: the duplicate check with the engines' matchers, closed template formats, the gates' 1:1.

Synthetic templates here (the engines' own formats, built from random embeddings and minutiae);
tests/backoffice/test_biometric_matching.py does the same on real faces and fingerprints.
"""

import base64
import struct
import zlib

import numpy as np
import pytest

from biometrics.face import THRESHOLDS, THRESHOLDS_DLIB, FaceTemplate
from biometrics.finger import THRESHOLDS as FINGER_THRESHOLDS
from biometrics.finger import FingerprintTemplate, Minutia
from tests.backoffice.conftest import build_world, make_config


def _unit(seed: int, dim: int = 128) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim)
    return v / np.linalg.norm(v)


def face(seed: int = 1, sface_seed: int | None = None, *, noise: float = 0.0, dlib_only: bool = False) -> bytes:
    """The face engine's template bytes (v3: dlib + SFace; v1 with ``dlib_only``) of synthetic embeddings."""
    jitter = np.random.default_rng(seed + 7919)
    d = _unit(seed) + jitter.normal(scale=noise, size=128)
    s = _unit(10_000 + (seed if sface_seed is None else sface_seed)) + jitter.normal(scale=noise, size=128)
    return FaceTemplate(vector=d, sface=None if dlib_only else s).to_bytes()


def finger(seed: int, *, jitter: int = 0, position: int = 2) -> bytes:
    """An ISO/IEC 19794-2 record of 35 random minutiae (``jitter``: the same finger, moved a few pixels)."""
    rng = np.random.default_rng(seed)
    xy = rng.integers(40, 360, size=(35, 2))
    angles = rng.uniform(0, 2 * np.pi, size=35)
    move = np.random.default_rng(seed + 1).integers(-jitter, jitter + 1, size=(35, 2)) if jitter else 0
    minutiae = [Minutia(int(x), int(y), float(a), "ending" if i % 2 else "bifurcation", 80)
                for i, ((x, y), a) in enumerate(zip(xy + move, angles, strict=True))]
    return FingerprintTemplate.from_minutiae(minutiae, width=400, height=400, position=position).to_bytes()


def enrolment(doc="C1000001", state="VNM", face_bytes=None, fingers=(), consent=True) -> dict:
    face_bytes = face(1) if face_bytes is None else face_bytes
    return {
        "captured_at": "2026-11-22T09:00:00+07:00",
        "document": {"document_number": doc, "issuing_state": state, "surname": "TRẦN", "given_names": "THỊ MAI",
                     "nationality": state, "date_of_birth": "1990-01-02"},
        "face_template": base64.b64encode(face_bytes).decode(),
        "finger_templates": [{"position": p, "format": "iso19794_2", "data": base64.b64encode(d).decode()}
                             for p, d in fingers],
        "consent": {"given": consent, "purposes": ["e_gate_enrolment"], "text_version": "2026-01", "language": "vi",
                    "at": "2026-11-22T09:00:00+07:00"},
    }


def _post(world, body, key):
    return world.client.post("/api/v1/enrolments", json=body, headers=world.h("kiosk", **{"Idempotency-Key": key}))


def test_enrolment_accepted_then_duplicate_face_flagged(world):
    r = _post(world, enrolment("C1000001", face_bytes=face(1)), "e1")
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["status"] == "accepted" and first["checks"] == ["face"]
    assert first["fingerprint_check"] == "no_templates" and first["duplicates"] == []
    # the same passport enrolling again is held for an officer (never pooled with the first: a look-alike
    # holding a stolen passport must not add his own fingers to its enrolment)
    again = _post(world, enrolment("C1000001", face_bytes=face(1)), "e0").json()
    assert again["status"] == "duplicate_suspected"
    assert again["duplicates"][0] == {"enrolment_id": first["id"], "modality": "document", "score": 1.0}
    # the same face (both parts slightly noisy), another passport: a suspected duplicate identity
    r = _post(world, enrolment("B9999999", "CHN", face_bytes=face(1, noise=0.01)), "e2")
    second = r.json()
    assert second["status"] == "duplicate_suspected"
    assert first["id"] in {d["enrolment_id"] for d in second["duplicates"]}
    assert {d["modality"] for d in second["duplicates"]} == {"face"}  # (the held re-enrolment too: same face)
    assert all(d["score"] >= THRESHOLDS["fmr_5e-4"] for d in second["duplicates"])
    # a different face: accepted
    assert _post(world, enrolment("C1000003", face_bytes=face(3)), "e3").json()["status"] == "accepted"
    # no biometric data in the public schema
    listed = world.client.get("/api/v1/enrolments", headers=world.h("supervisor"))
    assert "face_template" not in listed.text and "finger" not in listed.text.replace("fingerprint", "")


def test_face_duplicates_are_judged_on_the_full_template(world):
    """Same dlib part, another SFace part: the fused comparison decides, not the dlib half alone."""
    assert _post(world, enrolment("C2000001", face_bytes=face(1, 1)), "f1").json()["status"] == "accepted"
    half = _post(world, enrolment("C2000002", face_bytes=face(1, 2)), "f2").json()
    assert half["status"] == "accepted", half  # dlib cosine 1.0 would pass THRESHOLDS_DLIB; fused does not
    other_half = _post(world, enrolment("C2000003", face_bytes=face(3, 1)), "f3").json()
    assert other_half["status"] == "accepted", other_half
    both = _post(world, enrolment("C2000004", face_bytes=face(1, 1, noise=0.01)), "f4").json()
    assert both["status"] == "duplicate_suspected"
    # a dlib-only (version 1) template compares by the dlib cosine, with the dlib thresholds
    old = _post(world, enrolment("C2000005", face_bytes=face(1, dlib_only=True)), "f5").json()
    assert old["status"] == "duplicate_suspected"
    assert all(d["score"] >= THRESHOLDS_DLIB["fmr_5e-4"] for d in old["duplicates"])


def test_supervisor_decides_suspected_duplicates(world):
    _post(world, enrolment("C1000001", face_bytes=face(1)), "e1")
    dup = _post(world, enrolment("B9999999", "CHN", face_bytes=face(1)), "e2").json()
    c, sup = world.client, world.h("supervisor")
    assert c.get("/api/v1/enrolments?status=duplicate_suspected", headers=sup).json()[0]["id"] == dup["id"]
    r = c.post(f"/api/v1/enrolments/{dup['id']}/decision", json={"decision": "reject"}, headers=sup)
    assert r.json()["status"] == "rejected" and r.json()["decided_by"] == "supervisor"
    assert c.post(f"/api/v1/enrolments/{dup['id']}/decision", json={"decision": "accept"}, headers=sup).status_code == 409
    assert c.get("/api/v1/enrolments/nope", headers=sup).status_code == 404


def _refused(r, reason: str) -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["type"].endswith("/template-refused") and body["reason"] == reason, body


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_templates_are_a_closed_set(world):
    r = _post(world, enrolment(consent=False), "c1")
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "consent", "given"], r.text
    assert "consent was not given" in r.json()["errors"][0]["msg"]
    good = face(1)
    floats = np.asarray(_unit(1), "<f4").tobytes()  # the old representation: the dlib part's floats
    unknown_version = _with_crc(good[:4] + bytes([9]) + good[5:-4])
    corrupt = good[:-1] + bytes([good[-1] ^ 1])
    for i, bad in enumerate((floats, unknown_version, corrupt, b"SBFT")):
        _refused(_post(world, enrolment(face_bytes=bad), f"face{i}"), "face_template_format")
    body = enrolment()
    body["face_template"] = "###"
    assert _post(world, body, "c2").status_code == 422  # not even base64: the schema refuses it
    body["face_template"] = "QUJDQ"  # the base64 alphabet, but not base64 (bad length)
    _refused(_post(world, body, "c3"), "not_base64")
    iso = finger(5)
    ansi = FingerprintTemplate.from_bytes(iso).to_ansi_bytes()
    for i, data in enumerate((ansi, b"FMR\x00 20\x00" + bytes(20), iso[:-6])):
        _refused(_post(world, enrolment(fingers=[(2, data)]), f"finger{i}"), "finger_template_format")
    for i, (fmt, data) in enumerate((("sb_orientation_v1", b"SBO1" + bytes(512)), ("ansi378", iso))):
        body = enrolment(fingers=[(2, data)])
        body["finger_templates"][0]["format"] = fmt  # the schema's enum: a validation problem naming the field
        r = _post(world, body, f"format{i}")
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "finger_templates", "0", "format"], r.text
    assert world.ctx.store.query("SELECT count(*) AS n FROM enrolments")[0]["n"] == 0
    # the same record, ISO and well formed, is accepted
    r = _post(world, enrolment(fingers=[(2, iso)]), "ok")
    assert r.status_code == 201 and r.json()["checks"] == ["face", "fingerprint"], r.text


def test_fingerprint_duplicates_found_by_the_fingerprint_engine(world):
    a = _post(world, enrolment("C1", face_bytes=face(1), fingers=[(2, finger(21)), (3, finger(31))]), "f1").json()
    assert a["status"] == "accepted" and a["checks"] == ["face", "fingerprint"] and a["fingerprint_check"] == "done"
    # different face, the same finger moved a little: caught by the fingerprint check alone
    b = _post(world, enrolment("C2", face_bytes=face(2), fingers=[(2, finger(21, jitter=2))]), "f2").json()
    assert b["status"] == "duplicate_suspected", b
    assert [d["modality"] for d in b["duplicates"]] == ["fingerprint"]
    assert b["duplicates"][0]["enrolment_id"] == a["id"]
    assert FINGER_THRESHOLDS["fmr_5e-4"] <= b["duplicates"][0]["score"] <= 1.0
    # the same finger enrolled at another position is not compared with it; other fingers are not duplicates
    c = _post(world, enrolment("C3", face_bytes=face(3), fingers=[(4, finger(21)), (2, finger(41))]), "f3").json()
    assert c["status"] == "accepted", c


def test_without_matchers_no_enrolment_is_accepted(tmp_path):
    w = build_world(make_config(db_path=tmp_path / "n.db", face_matching=None, fingerprint_matching=None))
    r = _post(w, enrolment(), "n1")
    assert r.status_code == 503 and r.json()["type"].endswith("/duplicate-check-unavailable")
    w.client.close()
    w = build_world(make_config(db_path=tmp_path / "f.db", fingerprint_matching=None))
    assert _post(w, enrolment("C1"), "n2").status_code == 201  # face only: checked
    r = _post(w, enrolment("C2", face_bytes=face(2), fingers=[(2, finger(1))]), "n3")
    assert r.status_code == 503 and "fingerprint" in r.json()["detail"]
    ask = w.client.post("/api/v1/enrolments/verify", headers=w.h("gate"),
                        json={"document_number": "C1", "issuing_state": "VNM", "finger_templates": []})
    assert ask.json()["fingerprint_check"] == "no_templates"
    assert w.ctx.store.query("SELECT count(*) AS n FROM enrolments")[0]["n"] == 1
    w.client.close()


def test_matchers_carry_their_thresholds_on_the_engines_scale():
    from backoffice import BackofficeConfig, ConfigError, FaceMatching, FingerprintMatching

    m = FingerprintMatching.from_engine("fmr_1e-3")
    t = FINGER_THRESHOLDS["fmr_1e-3"]
    assert (m.threshold_name, m.verify_threshold, m.duplicate_threshold) == ("fmr_1e-3", t, t)
    assert 0.0 < t < 0.1  # on the MCC 0-1 scale (recalibrated with the extractor, issue #21)
    with pytest.raises(ValueError, match="0-1 scale"):
        FingerprintMatching("custom", 40.0, 40.0)  # the old hand-set number on a foreign scale
    with pytest.raises(ValueError, match="cosine scale"):
        FaceMatching("custom", 0.6, 1.5)
    with pytest.raises(KeyError):
        FaceMatching.from_engine("fmr_1e-9")
    with pytest.raises(ConfigError):
        BackofficeConfig(secret_key="s" * 20, fingerprint_matching=lambda a, b: 1.0)


def test_only_kiosks_enrol(world):
    r = world.client.post("/api/v1/enrolments", json=enrolment(), headers=world.h("gate", **{"Idempotency-Key": "g"}))
    assert r.status_code == 403


def test_gate_fingerprint_verification_keeps_templates_in_the_back_office(world):
    w = world
    enrolled = finger(77)
    r = _post(w, enrolment("C7770001", fingers=[(2, enrolled), (3, finger(78))]), "e1")
    assert r.status_code == 201, r.text

    def ask(number, templates, who="gate"):
        return w.client.post("/api/v1/enrolments/verify", headers=w.h(who),
                             json={"document_number": number, "issuing_state": "VNM", "finger_templates": templates})

    def probe(data, position=2, fmt="iso19794_2"):
        return {"position": position, "format": fmt, "data": base64.b64encode(data).decode()}

    t = FINGER_THRESHOLDS["fmr_5e-4"]
    assert ask("C7770001", []).json() == {"enrolled": True, "fingerprint_check": "no_probe", "score": None,
                                          "threshold": t, "threshold_name": "fmr_5e-4", "matched": None}
    same = ask("C7770001", [probe(finger(77, jitter=2))]).json()
    assert same["matched"] is True and same["score"] >= t and "data" not in str(same)
    other = ask("C7770001", [probe(finger(79))]).json()
    assert other["matched"] is False and other["score"] < t
    # the right finger at another position is not what the gate asked for
    assert ask("C7770001", [probe(enrolled, position=7)]).json()["matched"] is False
    _refused(ask("C7770001", [probe(b"ISO-TEMPLATE-RIGHT-INDEX")]), "finger_template_format")
    r = ask("C7770001", [probe(enrolled, fmt="ansi378")])
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][-1] == "format", r.text
    assert ask("C0000000", []).json()["fingerprint_check"] == "not_enrolled"
    assert ask("C7770001", [], who="kiosk").status_code == 403
    ledger = w.client.get("/api/v1/privacy/ledger", headers=w.h("privacy_officer")).json()
    assert any(e.get("purpose") == "gate_fingerprint_verification" for e in ledger)


def test_enrolled_templates_that_cannot_be_opened_are_never_read_as_no_fingerprints(world):
    """A tampered sealed finger record: the gate hears `templates_unreadable` (it refers), not `no_templates`
    (which it would read as "no fingerprints enrolled")."""
    w = world
    assert _post(w, enrolment("C7780001", fingers=[(2, finger(81))]), "t1").status_code == 201
    store = w.app.state.ctx.store
    with store.tx() as db:
        ref, payload = db.execute("SELECT ref, payload FROM retention_items WHERE category = 'finger_template'").fetchone()
        tampered = bytearray(payload)
        tampered[-5] ^= 0x01
        db.execute("UPDATE retention_items SET payload = ? WHERE ref = ?", [bytes(tampered), ref])
    r = w.client.post("/api/v1/enrolments/verify", headers=w.h("gate"),
                      json={"document_number": "C7780001", "issuing_state": "VNM", "finger_templates": []})
    assert r.status_code == 200 and r.json()["fingerprint_check"] == "templates_unreadable"


def test_a_re_enrolment_is_held_and_never_pooled_into_the_gate_check(world):
    """A look-alike with a stolen passport enrols his own finger: held for an officer; the gate's 1:1 still
    runs against the holder's finger only."""
    w = world
    holder, impostor = finger(91), finger(92)
    assert _post(w, enrolment("C7790001", face_bytes=face(5), fingers=[(2, holder)]), "h1").json()["status"] == "accepted"
    again = _post(w, enrolment("C7790001", face_bytes=face(5, noise=0.01), fingers=[(2, impostor)]), "h2").json()
    assert again["status"] == "duplicate_suspected" and again["duplicates"][0]["modality"] == "document"

    def ask(data):
        return w.client.post("/api/v1/enrolments/verify", headers=w.h("gate"), json={
            "document_number": "C7790001", "issuing_state": "VNM",
            "finger_templates": [{"position": 2, "format": "iso19794_2", "data": base64.b64encode(data).decode()}]}).json()

    assert ask(finger(92, jitter=2))["matched"] is False  # the impostor's finger is not in the holder's enrolment
    assert ask(finger(91, jitter=2))["matched"] is True
