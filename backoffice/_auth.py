"""Staff users (argon2id passwords, roles), sessions and API tokens, login throttling, devices.

Tokens are 256-bit random strings; only their SHA-256 is stored, so a database leak gives no
usable credential (a slow hash is not needed for full-entropy secrets, OWASP ASVS V3.5).
Staff tokens start ``sbs_``, device tokens ``sbd_``. CSRF tokens for the web forms are an HMAC
of the session token (OWASP "signed double submit"), so they need no storage; the login form, which has
no session yet, gets a random cookie value (with its time of issue) and the HMAC of it in a hidden field.

Login throttling (OWASP ASVS V2.2.1), its state in the database so it holds across threads and
worker processes. Before the (slow, argon2id) password check a login *reserves* an attempt in one
write transaction (``BEGIN IMMEDIATE`` on SQLite): it counts the attempts in the window (``login_window_s``, 15 min;
failures and reservations still in flight alike) and either refuses with 429 ``login-throttled``
and ``Retry-After`` or inserts its reservation. After the check the reservation is settled: a
failure stays counted, a success deletes that (account, client) pair's failures and remembers the
pair as *known* for 30 days. So N concurrent requests can never run more checks than the rules
allow. The rules (N = ``login_max_failures``, 5):

* per (account, client address): N attempts in the window, then exponential back-off: the k-th
  attempt (k >= N) waits 2^(k-N) s after the previous one, capped at the window;
* per account, over all client addresses: from 10 x N attempts in the window on, a client that is
  not a known pair of the account gets one check per account every ``window / (10 x N)`` s (18 s):
  a slow-down, never a lockout, and an attacker elsewhere cannot touch the pair from which the real
  user logged in before (known pairs are exempt from this ceiling and the next);
* per client address, over all accounts (password spraying): from 4 x N attempts in the window on,
  exponential back-off for that address as for a pair; other addresses are not affected.

Unknown usernames are throttled and recorded exactly like real ones and still pay one argon2id
verification (against a dummy hash), so neither the answer nor its timing tells whether an account
exists. The client address is the socket's peer (``request.client.host``); behind a reverse proxy
set ``[backoffice] trusted_proxies`` so uvicorn takes it from ``X-Forwarded-For`` of those proxies
only (off by default: a spoofed header changes nothing). The attempts table holds usernames and
addresses for one window only (pruned on every login); the known pairs for 30 days.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import text

from backoffice._errors import BadCredentials, Conflict, Invalid, LoginThrottled, NotFound
from backoffice._store import Store, now_iso
from storage import ConstraintError, lock

__all__ = ["DEVICE_KINDS", "ROLES", "Auth", "Principal"]

ROLES = ("border_guard", "supervisor", "privacy_officer", "admin")
DEVICE_KINDS = ("gate", "kiosk")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_DEVICE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a staff user (with a role) or a device (kind gate/kiosk)."""

    kind: str  # "user" or "device"
    id: str  # username or device id
    role: str  # a staff role, or "device:gate" / "device:kiosk"
    session_hash: str | None = None
    display_name: str = ""

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.id}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Auth:
    """Users, sessions, throttling and device credentials over the :class:`Store`."""

    #: how long a successful (account, client) pair stays exempt from the account and client ceilings
    KNOWN_PAIR_TTL_S = 30 * 24 * 3600

    def __init__(self, store: Store, secret_key: str, *, max_failures: int, window_s: int,
                 session_ttl_s: int, token_ttl_s: int, time_cost: int = 2, memory_kib: int = 19456,
                 account_max_failures: int | None = None, client_max_failures: int | None = None) -> None:
        self.store = store
        self._secret = secret_key.encode()
        self.max_failures = max_failures
        self.window_s = window_s
        self.account_max_failures = account_max_failures or 10 * max_failures
        self.client_max_failures = client_max_failures or 4 * max_failures
        self.clock = time.time  # tests freeze it
        self.password_checks = 0  # argon2id verifications run by login (a counter for tests and metrics)
        self._checks_lock = threading.Lock()
        self.session_ttl_s = session_ttl_s
        self.token_ttl_s = token_ttl_s
        self.hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    # -- users ------------------------------------------------------------------------------
    def create_user(self, username: str, password: str, role: str, display_name: str = "") -> dict:
        username = username.strip().lower()
        if not _USERNAME.match(username):
            raise Invalid("username: 2-64 characters a-z 0-9 . _ -")
        if role not in ROLES:
            raise Invalid(f"role must be one of {', '.join(ROLES)}")
        if len(password) < 10:
            raise Invalid("password must have at least 10 characters")
        with self.store.tx() as db:
            if db.first(text("SELECT 1 FROM users WHERE username = :u"), {"u": username}):
                raise Conflict(f"user {username!r} exists")
            try:  # a concurrent creation of the same name (another worker): the unique constraint decides
                db.execute(text("INSERT INTO users (username, password_hash, role, display_name, created_at) "
                                "VALUES (:u, :h, :role, :name, :at)"),
                           {"u": username, "h": self.hasher.hash(password), "role": role, "name": display_name,
                            "at": now_iso()})
            except ConstraintError as e:
                raise Conflict(f"user {username!r} exists") from e
        return self.get_user(username)

    def get_user(self, username: str) -> dict:
        row = self.store.one(text("SELECT id, username, role, display_name, active, created_at FROM users "
                                  "WHERE username = :u"), {"u": username})
        if row is None:
            raise NotFound(f"no user {username!r}")
        row["active"] = bool(row["active"])
        return row

    def list_users(self) -> list[dict]:
        rows = self.store.query(text("SELECT id, username, role, display_name, active, created_at FROM users "
                                     "ORDER BY id"))
        for r in rows:
            r["active"] = bool(r["active"])
        return rows

    def update_user(self, username: str, *, role: str | None = None, active: bool | None = None,
                    password: str | None = None, display_name: str | None = None) -> dict:
        user = self.get_user(username)
        if role is not None and role not in ROLES:
            raise Invalid(f"role must be one of {', '.join(ROLES)}")
        if password is not None and len(password) < 10:
            raise Invalid("password must have at least 10 characters")
        with self.store.tx() as db:
            uid = {"id": user["id"]}
            if role is not None:
                db.execute(text("UPDATE users SET role = :v WHERE id = :id"), {**uid, "v": role})
            if display_name is not None:
                db.execute(text("UPDATE users SET display_name = :v WHERE id = :id"), {**uid, "v": display_name})
            if password is not None:
                db.execute(text("UPDATE users SET password_hash = :v WHERE id = :id"),
                           {**uid, "v": self.hasher.hash(password)})
            if active is not None:
                db.execute(text("UPDATE users SET active = :v WHERE id = :id"), {**uid, "v": int(active)})
            if active is False or password is not None or role is not None:
                db.execute(text("UPDATE sessions SET revoked = 1 WHERE user_id = :id"), uid)
        return self.get_user(username)

    # -- login ------------------------------------------------------------------------------
    def _wait(self, count: int, limit: int, last: float | None, now: float) -> float:
        """Seconds still to wait under exponential back-off: none below ``limit``, then 2^(count-limit) s
        after the previous attempt, capped at the window."""
        if count < limit or last is None:
            return 0.0
        return last + min(float(self.window_s), 2.0 ** min(count - limit, 30)) - now

    def _reserve(self, account: str, client: str) -> int:
        """Atomically check the limits and reserve one password check; :class:`LoginThrottled` when over."""
        now = self.clock()
        since = now - self.window_s
        with self.store.tx() as db:
            # count and reserve as one step across workers (READ COMMITTED would let k concurrent logins each count
            # the same attempts); logins are rare, and the password check itself runs after the commit
            lock(db.connection, "login reservations")
            p = {"account": account, "client": client, "since": since}
            db.execute(text("DELETE FROM login_attempts WHERE at <= :since"), p)
            known = db.first(text("SELECT 1 FROM login_known WHERE account = :account AND client = :client "
                                  "AND last_ok > :fresh"), {**p, "fresh": now - self.KNOWN_PAIR_TTL_S}) is not None
            count, last = db.execute(text("SELECT count(*), max(at) FROM login_attempts WHERE account = :account "
                                          "AND client = :client AND at > :since"), p).one()
            waits = [self._wait(count, self.max_failures, last, now)]
            if not known:
                count, last = db.execute(text("SELECT count(*), max(at) FROM login_attempts WHERE account = :account "
                                              "AND at > :since"), p).one()
                if count >= self.account_max_failures:  # a slow-down: one check per slot, never a lockout
                    waits.append(last + self.window_s / self.account_max_failures - now)
                count, last = db.execute(text("SELECT count(*), max(at) FROM login_attempts WHERE client = :client "
                                              "AND at > :since"), p).one()
                waits.append(self._wait(count, self.client_max_failures, last, now))
            wait = max(waits)
            if wait > 0:
                raise LoginThrottled(max(1, math.ceil(wait)))
            return db.scalar(text("INSERT INTO login_attempts (account, client, at, state) "
                                  "VALUES (:account, :client, :now, 'pending') RETURNING id"), {**p, "now": now})

    def _verify(self, password_hash: str, password: str) -> bool:
        with self._checks_lock:
            self.password_checks += 1
        try:
            return self.hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def login(self, username: str, password: str, client: str, kind: str = "api") -> tuple[str, Principal]:
        """Check the password (throttled per account and client, per account, per client: see the module's
        docstring); return a new token and the principal."""
        username = (username or "").strip().lower()
        reservation = self._reserve(username, client)
        ok = False
        try:
            row = self.store.one(text("SELECT id, username, password_hash, role, display_name, active FROM users "
                                      "WHERE username = :u"), {"u": username})
            ok = self._verify(row["password_hash"] if row else self._dummy_hash, password or "")
            ok = ok and row is not None and bool(row["active"])
        finally:
            if not ok:  # the reservation stays counted as a failure
                with self.store.tx() as db:
                    db.execute(text("UPDATE login_attempts SET state = 'failed' WHERE id = :id"), {"id": reservation})
        if not ok:
            raise BadCredentials("wrong username or password")
        token = ("sbs_" if kind == "api" else "sbw_") + secrets.token_urlsafe(32)
        ttl = self.token_ttl_s if kind == "api" else self.session_ttl_s
        now = self.clock()
        with self.store.tx() as db:
            if self.hasher.check_needs_rehash(row["password_hash"]):
                db.execute(text("UPDATE users SET password_hash = :h WHERE id = :id"),
                           {"h": self.hasher.hash(password), "id": row["id"]})
            p = {"account": username, "client": client, "now": now}
            db.execute(text("DELETE FROM login_attempts WHERE account = :account AND client = :client "
                            "AND (state = 'failed' OR id = :id)"), {**p, "id": reservation})
            db.execute(text("INSERT INTO login_known (account, client, last_ok) VALUES (:account, :client, :now) "
                            "ON CONFLICT (account, client) DO UPDATE SET last_ok = excluded.last_ok"), p)
            db.execute(text("DELETE FROM login_known WHERE last_ok <= :stale"), {"stale": now - self.KNOWN_PAIR_TTL_S})
            db.execute(text("DELETE FROM sessions WHERE expires_at < :now"), {"now": _iso_in(0)})
            db.execute(text("INSERT INTO sessions (token_hash, user_id, kind, created_at, expires_at) "
                            "VALUES (:h, :uid, :kind, :at, :expires)"),
                       {"h": token_hash(token), "uid": row["id"], "kind": kind, "at": now_iso(),
                        "expires": _iso_in(ttl)})
        return token, Principal("user", row["username"], row["role"], token_hash(token), row["display_name"])

    def logout(self, principal: Principal) -> None:
        if principal.session_hash:
            with self.store.tx() as db:
                db.execute(text("UPDATE sessions SET revoked = 1 WHERE token_hash = :h"), {"h": principal.session_hash})

    def resolve_staff(self, token: str, kind: str) -> Principal | None:
        h = token_hash(token)
        row = self.store.one(text(
            "SELECT u.username, u.role, u.display_name FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.token_hash = :h AND s.kind = :kind AND s.revoked = 0 AND s.expires_at > :now AND u.active = 1"),
            {"h": h, "kind": kind, "now": _iso_in(0)})
        if row is None:
            return None
        return Principal("user", row["username"], row["role"], h, row["display_name"])

    def csrf_token(self, principal: Principal) -> str:
        return hmac.new(self._secret, f"csrf:{principal.session_hash}".encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, principal: Principal, token: str | None) -> bool:
        # bytes: compare_digest raises on a non-ASCII str
        return bool(token) and hmac.compare_digest(self.csrf_token(principal).encode(), token.encode())

    #: how long a login form's CSRF pair stays valid
    LOGIN_CSRF_TTL_S = 3600

    def login_csrf_pair(self, current: str | None = None) -> tuple[str, str]:
        """A CSRF pair for the login form, which has no session yet (signed double submit): the cookie's value
        ``<issued at>.<random>`` and the form field's value, an HMAC of it under the secret key. ``current``
        (the browser's cookie) is kept while less than half its lifetime old, so two open login tabs both work."""
        age = self._login_csrf_age(current)
        cookie = current if age is not None and age <= self.LOGIN_CSRF_TTL_S / 2 else \
            f"{int(self.clock())}.{secrets.token_urlsafe(24)}"
        return cookie, self._login_csrf_mac(cookie)

    def _login_csrf_age(self, cookie: str | None) -> float | None:
        issued, _, nonce = (cookie or "").partition(".")
        if not issued.isdigit() or len(issued) > 12 or not nonce:
            return None
        age = self.clock() - int(issued)
        return age if 0 <= age <= self.LOGIN_CSRF_TTL_S else None

    def _login_csrf_mac(self, cookie: str) -> str:
        return hmac.new(self._secret, f"login-csrf:{cookie}".encode(), hashlib.sha256).hexdigest()

    def check_login_csrf(self, cookie: str | None, token: str | None) -> bool:
        """The form field is the HMAC of the cookie's value and the pair is at most ``LOGIN_CSRF_TTL_S`` old."""
        if not token or self._login_csrf_age(cookie) is None:
            return False
        return hmac.compare_digest(self._login_csrf_mac(cookie).encode(), token.encode())

    # -- devices ----------------------------------------------------------------------------
    def issue_device(self, device_id: str, kind: str, name: str = "", location: str = "") -> tuple[dict, str]:
        device_id = device_id.strip().lower()
        if not _DEVICE_ID.match(device_id):
            raise Invalid("device id: 2-64 characters a-z 0-9 . _ -")
        if kind not in DEVICE_KINDS:
            raise Invalid(f"device kind must be one of {', '.join(DEVICE_KINDS)}")
        token = "sbd_" + secrets.token_urlsafe(32)
        with self.store.tx() as db:
            if db.first(text("SELECT 1 FROM devices WHERE id = :id"), {"id": device_id}):
                raise Conflict(f"device {device_id!r} exists (rotate its credential instead)")
            db.execute(text("INSERT INTO devices (id, kind, name, location, token_hash, created_at) "
                            "VALUES (:id, :kind, :name, :location, :h, :at)"),
                       {"id": device_id, "kind": kind, "name": name, "location": location, "h": token_hash(token),
                        "at": now_iso()})
        return self.get_device(device_id), token

    def rotate_device(self, device_id: str) -> tuple[dict, str]:
        self.get_device(device_id)
        token = "sbd_" + secrets.token_urlsafe(32)
        with self.store.tx() as db:
            db.execute(text("UPDATE devices SET token_hash = :h, rotated_at = :at, revoked_at = NULL WHERE id = :id"),
                       {"h": token_hash(token), "at": now_iso(), "id": device_id})
        return self.get_device(device_id), token

    def revoke_device(self, device_id: str) -> dict:
        self.get_device(device_id)
        with self.store.tx() as db:
            db.execute(text("UPDATE devices SET token_hash = NULL, revoked_at = :at WHERE id = :id"),
                       {"at": now_iso(), "id": device_id})
        return self.get_device(device_id)

    def get_device(self, device_id: str) -> dict:
        row = self.store.one(text("SELECT id, kind, name, location, created_at, rotated_at, revoked_at, last_seen_at "
                                  "FROM devices WHERE id = :id"), {"id": device_id})
        if row is None:
            raise NotFound(f"no device {device_id!r}")
        row["active"] = row["revoked_at"] is None
        return row

    def list_devices(self) -> list[dict]:
        rows = self.store.query(text("SELECT id, kind, name, location, created_at, rotated_at, revoked_at, "
                                     "last_seen_at FROM devices ORDER BY id"))
        for r in rows:
            r["active"] = r["revoked_at"] is None
        return rows

    def resolve_device(self, token: str) -> Principal | None:
        row = self.store.one(text("SELECT id, kind, last_seen_at FROM devices WHERE token_hash = :h "
                                  "AND revoked_at IS NULL"), {"h": token_hash(token)})
        if row is None:
            return None
        now = now_iso()
        if row["last_seen_at"] != now:
            with self.store.tx() as db:
                db.execute(text("UPDATE devices SET last_seen_at = :at WHERE id = :id"), {"at": now, "id": row["id"]})
        return Principal("device", row["id"], f"device:{row['kind']}")


def _iso_in(seconds: int) -> str:
    import datetime as dt

    t = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")
