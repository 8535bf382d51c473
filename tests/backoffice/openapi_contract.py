"""The OpenAPI document as the contract: the schemathesis CLI with every one of its checks, all four phases
(examples, coverage, fuzzing, stateful), once per role, against ``smartborder backoffice serve`` started as
a deployment starts it (config file, env "test", key file outside the data, users and devices made with the
CLI). Used by tests/backoffice/test_openapi_contract.py (bounded) and ``make fuzz`` / bench/api_contract.py
(longer).

What JSON Schema cannot say is handled in the open: tests/backoffice/schemathesis.toml and the hooks
module beside it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.backoffice.role_matrix import EXPECTED, PUBLIC
from tests.backoffice.test_serve_e2e import SMARTBORDER, _cli, _deployment, start_serve, stop_serve
from tests.conftest import REPO

ST = REPO / ".venv" / "bin" / "st"
CONFIG = Path(__file__).with_name("schemathesis.toml")
PASSWORD = "contract run password 0123"
STAFF = ("border_guard", "privacy_officer", "supervisor", "admin")
#: the order of the runs: an admin's run may deactivate users and revoke devices, so it comes last
ROLES = ("anonymous", "gate", "kiosk", "border_guard", "privacy_officer", "supervisor", "admin")
LOGOUT = "/api/v1/auth/logout"
_CASES = re.compile(r"(\d+) generated, (?:(\d+) found (\d+) unique failures?|(\d+) passed)")


@dataclass
class Deployment:
    """The running back office and a credential per role, all issued before any run: the runs fuzz
    ``/auth/token`` from this same address, and its login throttling would refuse a login after them."""

    proc: subprocess.Popen
    base: str
    env: dict
    tokens: dict[str, str] = field(default_factory=dict)  # role -> bearer token; "logout": a spare session
    workdir: Path | None = None  # where schemathesis runs (it keeps a .schemathesis cache there)

    def staff_token(self, role: str) -> str:
        r = httpx.post(f"{self.base}/api/v1/auth/token", json={"username": role.replace("_", "-"),
                                                               "password": PASSWORD}, timeout=30)
        r.raise_for_status()
        return r.json()["access_token"]

    def token(self, role: str) -> str | None:
        return None if role == "anonymous" else self.tokens[role]

    def stop(self) -> str:
        return stop_serve(self.proc)


def deploy(tmp: Path) -> Deployment:
    """A back office as deployed, with one user per staff role, a gate and a kiosk, and one watchlist entry."""
    env = _deployment(tmp)
    for role in STAFF:
        r = subprocess.run([str(SMARTBORDER), "backoffice", "create-user", role.replace("_", "-"), "--role", role,
                            "--password-stdin"], env=env, input=PASSWORD + "\n", capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
    devices = {}
    for device, kind in (("gate-01", "gate"), ("kiosk-01", "kiosk")):
        r = _cli(env, "issue-device", device, "--kind", kind, "--json")
        assert r.returncode == 0, r.stderr
        devices[kind] = json.loads(r.stdout)["token"]
    proc, base = start_serve(env, log=tmp / "serve.log")  # thousands of access-log lines
    dep = Deployment(proc, base, env, devices, workdir=tmp)
    dep.tokens.update({role: dep.staff_token(role) for role in STAFF})
    dep.tokens["logout"] = dep.staff_token("border_guard")
    r = httpx.post(f"{base}/api/v1/watchlist/persons", json={"id": "p1", "name": "Nguyễn Văn Đức",
                                                             "date_of_birth": "1980", "reason": "contract run"},
                   headers={"Authorization": f"Bearer {dep.tokens['supervisor']}"}, timeout=30)
    assert r.status_code == 201, r.text
    return dep


@dataclass
class RunResult:
    role: str
    returncode: int
    cases: int
    failures: int
    seconds: float
    output: str


#: an error of the tool itself, not a finding about the API: hypothesis's source introspection (used to name
#: strategies in messages) sometimes fails with this under schemathesis 4.32 / hypothesis 6.170
_TOOL_ERROR = "AST constructor recursion depth mismatch"


def run(dep: Deployment, role: str, *, examples: int, seed: int = 20261206, workers: int = 2,
        max_time: float | None = None, only: str | None = None) -> RunResult:
    """One schemathesis run with ``role``'s credential (none for "anonymous"). Logout is left out (it
    would end the run's own session); ``only`` runs that one path instead. A run whose only trouble is the
    tool's own known internal error (``_TOOL_ERROR``, no failure found) is run once more; its result stands."""
    result = _run_once(dep, role, examples=examples, seed=seed, workers=workers, max_time=max_time, only=only)
    if result.returncode != 0 and result.failures == 0 and _TOOL_ERROR in result.output:
        result = _run_once(dep, role, examples=examples, seed=seed, workers=workers, max_time=max_time, only=only)
    return result


def _run_once(dep: Deployment, role: str, *, examples: int, seed: int, workers: int, max_time: float | None,
              only: str | None) -> RunResult:
    token = dep.token(role)
    cmd = [str(ST), "--config-file", str(_role_config(dep, role, examples)), "--no-color", "run", f"{dep.base}/openapi.json",
           "--checks", "all", "--max-examples", str(examples), "--seed", str(seed), "--workers", str(workers),
           "--generation-database", "none", "--request-timeout", "60"]
    cmd += ["--include-path", only] if only else ["--exclude-path", LOGOUT]
    if max_time:
        cmd += ["--max-time", str(max_time)]
    if token:
        cmd += ["--header", f"Authorization: Bearer {token}"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "SCHEMATHESIS_TELEMETRY": "false"}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600, cwd=dep.workdir)
    seconds = time.perf_counter() - t0
    output = done.stdout + done.stderr
    m = _CASES.search(output)
    cases = int(m.group(1)) if m else 0
    failures = int(m.group(3)) if m and m.group(3) else 0
    return RunResult(role, done.returncode, cases, failures, round(seconds, 1), output)


def refused_operations(role: str) -> list[str]:
    """The API operations (schemathesis's names, "METHOD /path") that refuse ``role`` outright, by the role x route
    matrix test_roles.py holds the app to ("anonymous": every operation that is not public)."""
    return sorted(f"{method} {path}" for (method, path), allowed in EXPECTED.items()
                  if path.startswith("/api/") and PUBLIC not in allowed and role not in allowed)


#: generated examples per phase on an operation that refuses the role (it answers 401/403 to any of them)
REFUSED_EXAMPLES = 2


def _role_config(dep: Deployment, role: str, examples: int) -> Path:
    """CONFIG, plus, on the operations that refuse the role: no coverage phase and at most REFUSED_EXAMPLES
    generated examples. The back office checks the caller before it reads a parameter or the body (a FastAPI
    dependency of every such route), so each of the coverage phase's thousands of boundary cases, and each
    further random body, would get the same 401/403 there; the examples, fuzzing and stateful phases still
    send them the role's requests, and the roles let in run every phase on them in full. (The coverage phase
    was most of a run: about 60 s a role on 52 operations.)"""
    refused = refused_operations(role) if role in ROLES else []  # not the spare "logout" session
    if not refused:
        return CONFIG
    names = ", ".join(json.dumps(name) for name in refused)
    path = (dep.workdir or CONFIG.parent) / f"schemathesis-{role}.toml"
    path.write_text(CONFIG.read_text() + f"""
# {role}: refused outright by these operations (tests/backoffice/role_matrix.py)
[[operations]]
include-name = [{names}]
phases.coverage.enabled = false
generation.max-examples = {min(REFUSED_EXAMPLES, examples)}
""")
    return path



def failures_text(result: RunResult, limit: int = 12000) -> str:
    """The FAILURES/ERRORS sections of a run's output (what a reader needs when the contract breaks)."""
    out = result.output
    start = min((i for i in (out.find("= ERRORS ="), out.find("= FAILURES =")) if i >= 0), default=0)
    return out[start:start + limit]
