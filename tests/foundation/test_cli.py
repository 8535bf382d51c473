import json

from click.testing import CliRunner

from smartborder.cli import SUBCOMMANDS, main


def test_help_lists_available_commands():
    res = CliRunner().invoke(main, ["--help"])
    assert res.exit_code == 0
    assert "doctor" in res.output


def test_every_available_command_has_help():
    runner = CliRunner()
    listed = main.list_commands(None)
    assert "doctor" in listed and set(listed) <= set(SUBCOMMANDS)
    for name in listed:
        res = runner.invoke(main, [name, "--help"])
        assert res.exit_code == 0, (name, res.output)


def test_doctor_json_reports_verified_models():
    res = CliRunner().invoke(main, ["doctor", "--json"])
    report = json.loads(res.output)
    models = {c["name"]: c for c in report["checks"] if c["group"] == "model"}
    assert models["dlib_face_recognition_resnet"]["status"] == "ok"
    assert all(len(c["sha256"]) == 64 for c in models.values() if c["status"] == "ok")
    assert res.exit_code == (0 if report["ok"] else 1)


def test_doctor_fails_on_a_broken_model(monkeypatch):
    import models as models_pkg

    spec = models_pkg.manifest()["mtcnn_pnet"]
    broken = {"tampered": spec.__class__(**{**spec.__dict__, "name": "tampered", "sha256": "f" * 64})}
    monkeypatch.setattr(models_pkg, "manifest", lambda: broken)
    res = CliRunner().invoke(main, ["doctor", "--json"])
    assert res.exit_code == 1
    report = json.loads(res.output)
    assert not report["ok"]
    assert [c["status"] for c in report["checks"] if c["name"] == "tampered"] == ["fail"]


def test_doctor_checks_the_kiosks_chinese_faces_and_voice(monkeypatch, tmp_path):
    """make setup extracts the SC faces and speaks the instructions; doctor says whether they are there and, when
    not, what to run (a missing face fails: the kiosk does not start without it; missing voice warns)."""
    from smartborder import _doctor

    checks = {c.name: c for c in _doctor.check_platform()}
    assert checks["sc_fonts"].status in ("ok", "fail") and checks["voice"].status in ("ok", "warn")
    import kiosk.fonts
    import kiosk.voice

    monkeypatch.setattr(kiosk.fonts, "outputs", lambda fonts_dir=None: {
        "Regular": tmp_path / "NotoSansSC-Regular.otf", "Bold": tmp_path / "NotoSansSC-Bold.otf"})
    monkeypatch.setattr(kiosk.voice, "VOICE_DIR", tmp_path / "voice")
    checks = {c.name: c for c in _doctor.check_platform()}
    assert checks["sc_fonts"].status == "fail" and "NotoSansSC-Regular.otf" in checks["sc_fonts"].detail
    assert checks["voice"].status == "warn" and "make setup" in checks["voice"].detail
