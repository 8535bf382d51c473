from tests.backoffice.conftest import PASSWORD, build_world, make_config


def test_login_gives_a_bearer_token_and_me(world):
    r = world.client.get("/api/v1/auth/me", headers=world.h("supervisor"))
    assert r.status_code == 200 and r.json() == {"kind": "user", "id": "supervisor", "role": "supervisor"}
    r = world.client.get("/api/v1/auth/me", headers=world.h("gate"))
    assert r.json() == {"kind": "device", "id": "gate-01", "role": "device:gate"}


def test_passwords_are_argon2id(world):
    row = world.ctx.store.one("SELECT password_hash FROM users WHERE username = 'admin'")
    assert row["password_hash"].startswith("$argon2id$")


def test_bad_password_is_a_problem_401(world):
    r = world.client.post("/api/v1/auth/token", json={"username": "admin", "password": "nope"})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("bad-credentials")


def test_missing_or_unknown_token_is_401(world):
    assert world.client.get("/api/v1/auth/me").status_code == 401
    r = world.client.get("/api/v1/auth/me", headers={"Authorization": "Bearer sbs_forged"})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")


def test_login_throttling(tmp_path):
    w = build_world(make_config(db_path=tmp_path / "t.db", login_max_failures=3, login_window_s=60))
    now = w.app.state.ctx.auth.clock()
    w.app.state.ctx.auth.clock = lambda: now  # the back-off's first slot (1 s) must not open mid-test
    for _ in range(3):
        assert w.client.post("/api/v1/auth/token", json={"username": "admin", "password": "x"}).status_code == 401
    r = w.client.post("/api/v1/auth/token", json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.json()["type"].endswith("login-throttled")


def test_logout_revokes_token(world):
    assert world.client.post("/api/v1/auth/logout", headers=world.h("border_guard")).status_code == 204
    assert world.client.get("/api/v1/auth/me", headers=world.h("border_guard")).status_code == 401


def test_deactivating_a_user_ends_its_sessions(world):
    r = world.client.patch("/api/v1/users/supervisor", json={"active": False}, headers=world.h("admin"))
    assert r.status_code == 200 and r.json()["active"] is False
    assert world.client.get("/api/v1/auth/me", headers=world.h("supervisor")).status_code == 401
    r = world.client.post("/api/v1/auth/token", json={"username": "supervisor", "password": PASSWORD})
    assert r.status_code == 401


def test_user_admin_validation(world):
    c, h = world.client, world.h("admin")
    r = c.post("/api/v1/users", json={"username": "guard2", "password": "short", "role": "border_guard"}, headers=h)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    r = c.post("/api/v1/users", json={"username": "guard2", "password": "long enough pw", "role": "king"}, headers=h)
    assert r.status_code == 422
    r = c.post("/api/v1/users", json={"username": "guard2", "password": "long enough pw", "role": "border_guard"},
               headers=h)
    assert r.status_code == 201
    r = c.post("/api/v1/users", json={"username": "guard2", "password": "long enough pw", "role": "border_guard"},
               headers=h)
    assert r.status_code == 409
    assert c.patch("/api/v1/users/ghost", json={"active": False}, headers=h).status_code == 404


def test_device_issue_rotate_revoke(world):
    c, h = world.client, world.h("admin")
    r = c.post("/api/v1/devices", json={"id": "gate-02", "kind": "gate", "location": "exit"}, headers=h)
    assert r.status_code == 201
    token = r.json()["token"]
    assert token.startswith("sbd_")
    assert c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert c.post("/api/v1/devices", json={"id": "gate-02", "kind": "gate"}, headers=h).status_code == 409
    r = c.post("/api/v1/devices/gate-02/rotate", headers=h)
    new = r.json()["token"]
    assert new != token
    assert c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {new}"}).status_code == 200
    r = c.post("/api/v1/devices/gate-02/revoke", headers=h)
    assert r.json()["active"] is False
    assert c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {new}"}).status_code == 401
    assert c.post("/api/v1/devices/nope/revoke", headers=h).status_code == 404
    listed = {d["id"]: d for d in c.get("/api/v1/devices", headers=h).json()}
    assert listed["gate-02"]["active"] is False and listed["gate-01"]["active"] is True
    assert "token" not in listed["gate-01"] and "token_hash" not in listed["gate-01"]


def test_token_hashes_only_are_stored(world):
    rows = world.ctx.store.query("SELECT token_hash FROM devices")
    assert all(len(r["token_hash"]) == 64 for r in rows)
    assert world.tokens["gate"] not in str(rows)
