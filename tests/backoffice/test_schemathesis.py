"""Property-based run of the OpenAPI document against the app (schemathesis, in-process ASGI):
no 5xx, responses conform to their documented schema, content type and status codes. Each
operation is called with a credential of a role allowed on it (from the role matrix)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis not installed (pip install schemathesis)")
from hypothesis import HealthCheck, Phase, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.backoffice.conftest import build_world, make_config  # noqa: E402
from tests.backoffice.test_roles import EXPECTED, PUBLIC  # noqa: E402

_tmp = tempfile.TemporaryDirectory(prefix="bo-schemathesis-")
WORLD = build_world(make_config(db_path=Path(_tmp.name) / "st.db"))
# a little data so that GETs of lists return items
WORLD.client.post("/api/v1/watchlist/persons", json={"id": "p1", "name": "Nguyễn Văn Đức", "date_of_birth": "1980"},
                  headers=WORLD.h("supervisor"))
schema = schemathesis.openapi.from_asgi("/openapi.json", WORLD.app)
PREFERENCE = ("supervisor", "border_guard", "privacy_officer", "admin", "gate", "kiosk")


def _credential(method: str, path: str) -> dict:
    allowed = EXPECTED[(method.upper(), path)]
    if PUBLIC in allowed:
        return {}
    who = next(p for p in PREFERENCE if p in allowed)
    if who in ("gate", "kiosk"):
        return {"Authorization": f"Bearer {WORLD.tokens[who]}"}
    # a fresh staff token per case: the run may call logout
    token, _ = WORLD.ctx.auth.login(who.replace("_", "-"), "correct horse battery", "schemathesis-auth")
    return {"Authorization": f"Bearer {token}"}


@schema.parametrize()
@settings(max_examples=int(__import__("os").environ.get("BO_SCHEMATHESIS_EXAMPLES", "6")), deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck), derandomize=True, database=None)
def test_openapi_conformance(case):
    headers = _credential(case.operation.method, case.operation.path)
    case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance,
                                                    content_type_conformance, status_code_conformance])
