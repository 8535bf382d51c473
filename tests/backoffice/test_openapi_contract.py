"""The OpenAPI document is the contract (issue #18): schemathesis with all of its checks and phases, once per
role (and anonymously), against ``backoffice serve`` as deployed, reports no failure and no error.

Bounded for ``make test`` (BO_CONTRACT_EXAMPLES per operation, 8 unless set); ``make fuzz`` runs the same with
many more (bench/api_contract.py).
"""

from __future__ import annotations

import os

import httpx
import pytest

pytest.importorskip("schemathesis", reason="schemathesis not installed (pip install schemathesis)")

from tests.backoffice.openapi_contract import LOGOUT, ROLES, ST, deploy, failures_text, run  # noqa: E402

EXAMPLES = int(os.environ.get("BO_CONTRACT_EXAMPLES", "8"))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    if not ST.exists():
        pytest.skip(f"{ST} missing (make setup installs schemathesis)")
    dep = deploy(tmp_path_factory.mktemp("contract"))
    yield dep
    dep.stop()


@pytest.mark.parametrize("role", ROLES)
def test_every_check_passes_for_the_role(deployment, role):
    result = run(deployment, role, examples=EXAMPLES)
    assert result.cases > 0, result.output[-4000:]
    assert result.returncode == 0 and result.failures == 0, failures_text(result)


def test_logout_conforms_too(deployment):
    """Left out of the role runs (it ends the run's session): its own run, with a session of its own."""
    result = run(deployment, "logout", examples=EXAMPLES, only=LOGOUT)
    assert result.cases > 0 and result.returncode == 0, failures_text(result)


def test_the_contract_names_what_a_client_must_send(deployment):
    """The fixes the run holds us to, each as a reader of the document sees it."""
    doc = httpx.get(f"{deployment.base}/openapi.json", timeout=30).json()
    for path in ("/api/v1/exceptions", "/api/v1/events", "/api/v1/enrolments"):
        key = next(p for p in doc["paths"][path]["post"]["parameters"] if p["name"] == "Idempotency-Key")
        assert key["required"] is True and key["in"] == "header"
    check = doc["components"]["schemas"]["WatchlistCheckCreate"]
    assert {tuple(b["required"]) for b in check["anyOf"]} == {("name",), ("name_hanzi",), ("document_number",)}
    assert doc["paths"]["/metrics"]["get"]["security"] == [{}, {"bearer": []}]
    # OPTIONS (no route has it) answers 405 naming every method of the resource
    r = httpx.options(f"{deployment.base}/api/v1/watchlist/entries/p1", timeout=30)
    assert r.status_code == 405 and r.headers["allow"] == "DELETE, GET"
    r = httpx.options(f"{deployment.base}/api/v1/enrolments/verify", timeout=30)
    assert r.status_code == 405 and r.headers["allow"] == "POST"


def test_a_chunked_body_over_the_limit_is_413(deployment):
    """No Content-Length to refuse it up front: the body is cut where it passes 8 MiB and the answer is 413
    (it was a 400 from the route that read a cut body)."""
    def chunks():
        for _ in range(9):
            yield b" " * (1024 * 1024)

    headers = {"Authorization": f"Bearer {deployment.token('gate')}", "Content-Type": "application/json"}
    r = httpx.post(f"{deployment.base}/api/v1/watchlist/check", content=chunks(), headers=headers, timeout=60)
    assert r.status_code == 413 and r.json()["type"].endswith("/payload-too-large"), r.text
    # the same size within a declared Content-Length is refused before it is read, as before
    r = httpx.post(f"{deployment.base}/api/v1/watchlist/check", content=b" " * (9 * 1024 * 1024), headers=headers,
                   timeout=60)
    assert r.status_code == 413
