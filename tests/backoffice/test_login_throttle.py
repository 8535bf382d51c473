"""Login throttling (issue #18): atomic under concurrency, fair to the real user, per client address.

The password checks are counted with ``Auth.password_checks`` (every argon2id verification that
``login`` runs, the dummy one for unknown usernames included). Most tests freeze ``Auth.clock`` so the
exponential back-off does not open a slot while a burst is still running.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from backoffice import Auth, Store
from backoffice._errors import BadCredentials, LoginThrottled
from backoffice._store import MIGRATIONS
from storage import migrate, open_database
from tests.backoffice.conftest import PASSWORD, build_world, make_config

N = 5


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture()
def world(tmp_path):
    w = build_world(make_config(db_path=tmp_path / "bo.db", login_max_failures=N, login_window_s=900))
    w.ctx.auth.clock = Clock()
    yield w
    w.client.close()


def _client(world, host: str) -> TestClient:
    return TestClient(world.app, raise_server_exceptions=False, client=(host, 40000))


def _burst(world, host: str, bodies: list[dict], workers: int = 32) -> list[int]:
    client = _client(world, host)
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda b: client.post("/api/v1/auth/token", json=b).status_code, bodies))


def test_200_concurrent_wrong_passwords_run_at_most_n_checks(world):
    auth = world.ctx.auth
    before = auth.password_checks
    codes = _burst(world, "203.0.113.66", [{"username": "admin", "password": f"wrong-{i}"} for i in range(200)])
    checks = auth.password_checks - before
    assert checks == N, checks
    assert codes.count(401) == N and codes.count(429) == 200 - N, sorted(set(codes))
    # the real user, from another address, is not locked out by them
    r = _client(world, "198.51.100.7").post("/api/v1/auth/token", json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 200, r.text
    # and the attacker's address stays throttled for this account, Retry-After set
    r = _client(world, "203.0.113.66").post("/api/v1/auth/token", json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.json()["type"].endswith("login-throttled")


def test_the_limit_holds_across_two_database_connections(tmp_path):
    """Two Auth objects on two connections to one file, as two worker processes would be."""
    path = tmp_path / "bo.db"
    auths = [Auth(Store(path), "k" * 32, max_failures=N, window_s=900, session_ttl_s=60, token_ttl_s=60,
                  time_cost=1, memory_kib=1024) for _ in range(2)]
    auths[0].create_user("victim", PASSWORD, "border_guard")
    clock = Clock()
    for a in auths:
        a.clock = clock

    def attempt(i: int) -> str:
        try:
            auths[i % 2].login("victim", f"wrong-{i}", "203.0.113.9")
        except LoginThrottled:
            return "throttled"
        except BadCredentials:
            return "bad"
        return "ok"

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(attempt, range(200)))
    assert sum(a.password_checks for a in auths) == N and results.count("bad") == N
    assert auths[1].login("victim", PASSWORD, "198.51.100.8")[1].id == "victim"


def test_a_spraying_address_is_limited_without_affecting_other_clients(world):
    auth = world.ctx.auth
    nat = _client(world, "203.0.113.77")  # an office NAT: the supervisor logged in from it before
    assert nat.post("/api/v1/auth/token", json={"username": "supervisor", "password": PASSWORD}).status_code == 200
    before = auth.password_checks
    codes = _burst(world, "203.0.113.77", [{"username": f"user{i:03d}", "password": "Winter2026!"}
                                           for i in range(200)])
    checks = auth.password_checks - before
    assert checks == auth.client_max_failures == 4 * N, checks
    assert codes.count(401) == 4 * N and codes.count(429) == 200 - 4 * N
    r = _client(world, "198.51.100.20").post("/api/v1/auth/token",
                                             json={"username": "supervisor", "password": PASSWORD})
    assert r.status_code == 200, r.text
    # the address stays throttled for other accounts, but not for a pair that logged in from it before
    assert nat.post("/api/v1/auth/token", json={"username": "admin", "password": PASSWORD}).status_code == 429
    assert nat.post("/api/v1/auth/token", json={"username": "supervisor", "password": PASSWORD}).status_code == 200


def test_pair_back_off_is_exponential_and_a_success_clears_it(tmp_path):
    auth = Auth(Store(tmp_path / "bo.db"), "k" * 32, max_failures=3, window_s=900, session_ttl_s=60,
                token_ttl_s=60, time_cost=1, memory_kib=1024)
    auth.create_user("guard", PASSWORD, "border_guard")
    clock = auth.clock = Clock()
    for _ in range(3):
        with pytest.raises(BadCredentials):
            auth.login("guard", "typo", "10.1.1.1")
    for expected_wait in (1, 2, 4, 8):
        with pytest.raises(LoginThrottled) as e:
            auth.login("guard", PASSWORD, "10.1.1.1")
        assert e.value.headers["Retry-After"] == str(expected_wait)
        clock.t += expected_wait - 0.5
        with pytest.raises(LoginThrottled):
            auth.login("guard", PASSWORD, "10.1.1.1")
        clock.t += 0.5
        with pytest.raises(BadCredentials):
            auth.login("guard", "typo again", "10.1.1.1")
    clock.t += 16
    auth.login("guard", PASSWORD, "10.1.1.1")  # the 16 s slot: the right password
    for _ in range(3):  # the pair's failures were cleared: three fresh attempts before any wait
        with pytest.raises(BadCredentials):
            auth.login("guard", "typo", "10.1.1.1")
    clock.t += 901  # the window passed
    auth.login("guard", PASSWORD, "10.1.1.1")


def test_a_distributed_attack_slows_new_addresses_and_never_locks_the_known_pair(tmp_path):
    auth = Auth(Store(tmp_path / "bo.db"), "k" * 32, max_failures=N, window_s=900, session_ttl_s=60,
                token_ttl_s=60, time_cost=1, memory_kib=1024)
    auth.create_user("guard", PASSWORD, "border_guard")
    clock = auth.clock = Clock()
    auth.login("guard", PASSWORD, "10.0.0.5")  # the guard's own workstation: a known pair from now on
    ceiling = auth.account_max_failures
    assert ceiling == 10 * N
    for i in range(ceiling):  # one failure from each of many addresses: no pair or client limit is reached
        with pytest.raises(BadCredentials):
            auth.login("guard", "guess", f"192.0.2.{i}")
    checks = auth.password_checks
    for i in range(100):  # over the account's ceiling: a slow-down, not more checks
        with pytest.raises(LoginThrottled) as e:
            auth.login("guard", "guess", f"198.18.0.{i}")
    assert auth.password_checks == checks
    slot = 900 / ceiling
    assert e.value.headers["Retry-After"] == str(int(slot))
    auth.login("guard", PASSWORD, "10.0.0.5")  # the known pair is not affected
    with pytest.raises(LoginThrottled):  # a new address waits for the account's next slot...
        auth.login("guard", PASSWORD, "10.0.0.99")
    clock.t += slot
    auth.login("guard", PASSWORD, "10.0.0.99")  # ...and gets in: slowed, never locked out


def test_unknown_usernames_are_throttled_and_checked_like_real_ones(world):
    auth = world.ctx.auth
    for name in ("admin", "no-such-user"):
        before = auth.password_checks
        codes = [_client(world, "203.0.113.5").post("/api/v1/auth/token", json={"username": name, "password": "x"}
                                                    ).status_code for _ in range(N + 2)]
        assert codes == [401] * N + [429, 429], (name, codes)
        assert auth.password_checks - before == N  # a dummy argon2id verification for the unknown name too


def test_a_spoofed_x_forwarded_for_changes_nothing_in_process(world):
    """The app throttles on the socket's peer; without the proxy middleware the header is ignored."""
    client = _client(world, "203.0.113.50")
    codes = [client.post("/api/v1/auth/token", json={"username": "admin", "password": "x"},
                         headers={"X-Forwarded-For": f"10.9.9.{i}"}).status_code for i in range(N + 1)]
    assert codes == [401] * N + [429]
    clients = {r["client"] for r in world.ctx.store.query("SELECT client FROM login_attempts")}
    assert clients == {"203.0.113.50"}


def test_an_existing_database_upgrades(tmp_path):
    path = tmp_path / "old.db"
    db = open_database(path)
    before = next(i for i, m in enumerate(MIGRATIONS) if m.name == "0004_login_attempts")
    migrate(db, MIGRATIONS[:before])  # the schema before login_attempts (later migrations follow it)
    db.execute("INSERT INTO login_failures (username, client, at) VALUES ('admin', '10.0.0.1', 1.0)")
    db.close()
    store = Store(path)
    tables = set(store.db.table_names())
    assert {"login_attempts", "login_known"} <= tables and "login_failures" not in tables
    auth = Auth(store, "k" * 32, max_failures=N, window_s=900, session_ttl_s=60, token_ttl_s=60,
                time_cost=1, memory_kib=1024)
    auth.create_user("guard", PASSWORD, "border_guard")
    with pytest.raises(BadCredentials):
        auth.login("guard", "typo", "10.0.0.1")
    assert auth.login("guard", PASSWORD, "10.0.0.1")[1].id == "guard"


def test_serve_trusts_proxy_headers_only_from_configured_proxies():
    from smartborder.commands.backoffice import proxy_options
    from smartborder.settings import Settings

    assert proxy_options(Settings(env="dev")) == {"proxy_headers": False, "forwarded_allow_ips": None}
    assert proxy_options(Settings(env="dev", backoffice_trusted_proxies="10.0.0.1, 10.2.0.0/16")) == {
        "proxy_headers": True, "forwarded_allow_ips": "10.0.0.1,10.2.0.0/16"}


def _serve_and_rotate_x_forwarded_for(tmp_path, extra_backoffice_toml: str = "") -> list[int]:
    """``smartborder backoffice serve`` as deployed; N + 1 wrong logins from loopback, each with another
    X-Forwarded-For; the status codes."""
    import subprocess

    import httpx

    from tests.backoffice.test_serve_e2e import SMARTBORDER, _deployment, start_serve, stop_serve

    env = _deployment(tmp_path)
    if extra_backoffice_toml:
        config = env["SMARTBORDER_CONFIG"]
        with open(config, "a", encoding="utf-8") as f:
            f.write(extra_backoffice_toml + "\n")
    r = subprocess.run([str(SMARTBORDER), "backoffice", "create-user", "victim", "--role", "border_guard",
                        "--password-stdin"], env=env, input=PASSWORD + "\n", capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    proc, base = start_serve(env)
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            return [http.post("/api/v1/auth/token", json={"username": "victim", "password": "wrong"},
                              headers={"X-Forwarded-For": f"10.77.0.{i}"}).status_code for i in range(N + 1)]
    finally:
        stop_serve(proc)


def test_serve_ignores_a_spoofed_x_forwarded_for_by_default(tmp_path):
    assert _serve_and_rotate_x_forwarded_for(tmp_path) == [401] * N + [429]


def test_serve_believes_x_forwarded_for_from_a_configured_proxy(tmp_path):
    """The same requests through a configured proxy (loopback here) are N + 1 clients, none throttled."""
    codes = _serve_and_rotate_x_forwarded_for(tmp_path, 'trusted_proxies = "127.0.0.1"')
    assert codes == [401] * (N + 1)


def test_throttled_logins_are_counted_apart_from_failed_ones(world):
    client = _client(world, "203.0.113.51")
    for _ in range(N + 2):
        client.post("/api/v1/auth/token", json={"username": "admin", "password": "x"})
    logins = world.ctx.metrics.logins
    assert logins.labels("failed")._value.get() == N and logins.labels("throttled")._value.get() == 2
