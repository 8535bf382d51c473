"""Fixtures: an app on a private database, a user per role, a gate and a kiosk credential."""

from __future__ import annotations

import base64
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
from fastapi.testclient import TestClient  # noqa: E402

from backoffice import BackofficeConfig, create_app  # noqa: E402

PASSWORD = "correct horse battery"
ROLES = ("border_guard", "supervisor", "privacy_officer", "admin")


def login_form_token(client) -> str:
    """Open the login page as a browser does: the client keeps its CSRF cookie; the form's token is returned."""
    import re

    page = client.get("/ui/login")
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)


def ui_login(client, username: str, password: str = PASSWORD):
    """Sign in through the login form (page first, then the POST with its CSRF token); the response."""
    return client.post("/ui/login", data={"username": username, "password": password,
                                          "csrf_token": login_form_token(client)})


def make_config(**overrides) -> BackofficeConfig:
    """A test configuration with the matchers the composition configures (the engines' own, calibrated)."""
    from smartborder.compose.backoffice import matchers

    values = dict(secret_key="test-secret-key-0123456789abcdef", kek=bytes(range(32)), dev=True,
                  argon2_time_cost=1, argon2_memory_kib=1024, **matchers())
    values.update(overrides)
    return BackofficeConfig(**values)


def privacy_kwargs(tmp_path) -> dict:
    """Extra create_app arguments: none, the app builds its real privacy gateway."""
    return {}


@dataclass
class World:
    app: object
    client: TestClient
    tokens: dict  # role or "gate"/"kiosk" -> bearer token

    def h(self, who: str, **extra) -> dict:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}

    @property
    def ctx(self):
        return self.app.state.ctx


def build_world(config: BackofficeConfig, **app_kwargs) -> World:
    if "privacy" not in app_kwargs and config.db_path is not None:
        app_kwargs.update(privacy_kwargs(config.db_path.parent))
    app = create_app(config, **app_kwargs)
    client = TestClient(app, raise_server_exceptions=False)
    auth = app.state.ctx.auth
    tokens = {}
    for role in ROLES:
        auth.create_user(role.replace("_", "-"), PASSWORD, role, display_name=role)
        r = client.post("/api/v1/auth/token", json={"username": role.replace("_", "-"), "password": PASSWORD})
        assert r.status_code == 200, r.text
        tokens[role] = r.json()["access_token"]
    _, tokens["gate"] = auth.issue_device("gate-01", "gate", "Gate 1", "Bắc Luân I entry")
    _, tokens["kiosk"] = auth.issue_device("kiosk-01", "kiosk", "Kiosk 1", "Hall")
    return World(app, client, tokens)


def pytest_collection_modifyitems(config, items):
    """The PostgreSQL run of the suite (``SMARTBORDER_TEST_BACKEND=postgres``, the Makefile's second run) keeps the
    tests built on the ``world`` app; the others choose their backends themselves (``store``/``workers`` fixtures
    parametrized over both, ``postgres_db``) and have run already."""
    import os

    if os.environ.get("SMARTBORDER_TEST_BACKEND", "sqlite") != "postgres":
        return
    here = Path(__file__).parent
    keep = [i for i in items if "world" in getattr(i, "fixturenames", ()) or here not in Path(i.path).parents]
    config.hook.pytest_deselected(items=[i for i in items if i not in keep])
    items[:] = keep


@pytest.fixture()
def world(request, tmp_path) -> World:
    """The back office on a private SQLite file, or, with ``SMARTBORDER_TEST_BACKEND=postgres`` (the Makefile's
    second run of the back-office suite), on two fresh databases of the session's PostgreSQL server (the data,
    and the vault's key store with a role of its own) with a KEK file, as the central layout runs it."""
    import os

    if os.environ.get("SMARTBORDER_TEST_BACKEND", "sqlite") == "postgres":
        import secrets

        if request.node.get_closest_marker("sqlite_file"):
            pytest.skip("checks the SQLite file itself; on PostgreSQL the raw-file claims are test_pg_shredding's")

        from backoffice._store import Store
        from storage.testing import keys_database

        cluster = request.getfixturevalue("postgres")
        name = f"w_{secrets.token_hex(5)}"
        store = Store(cluster.create_database(name))
        keys = keys_database(cluster, f"{name}_k")
        kek = tmp_path / "keys" / "bo.kek"
        kek.parent.mkdir(mode=0o700)
        kek.write_text(secrets.token_hex(32))
        kek.chmod(0o600)
        w = build_world(make_config(db_path=None, kek_file=kek, kek=None, keys_db_url=keys), store=store)
        yield w
        w.client.close()
        w.ctx.privacy.vault.db.close()
        store.close()
        cluster.drop_database(name, name)
        cluster.drop_database(f"{name}_k", f"{name}_k")
        return
    w = build_world(make_config(db_path=tmp_path / "bo.db"), **privacy_kwargs(tmp_path))
    yield w
    w.client.close()


def jpeg_b64(color=(200, 120, 80), size=(64, 80)) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="JPEG")
    return base64.b64encode(buf.getvalue()).decode()


def exception_body(**overrides) -> dict:
    body = {
        "occurred_at": "2026-11-22T08:00:00+07:00", "direction": "entry",
        "reason_codes": ["face_mismatch"], "scores": {"face_similarity": 0.41, "liveness": 0.97},
        "document": {"document_number": "C1234567", "issuing_state": "VNM", "surname": "NGUYỄN",
                     "given_names": "VĂN ĐỨC", "nationality": "VNM", "date_of_birth": "1980-05-17",
                     "date_of_expiry": "2030-01-01", "sex": "M"},
        "live_image": jpeg_b64((200, 120, 80)), "chip_image": jpeg_b64((90, 90, 200)),
    }
    body.update(overrides)
    return body
