"""The OpenAPI document, completed: every 4xx documented as ``application/problem+json``
(RFC 9457), bearer security on every non-public operation, the ``X-Ledger-Head`` header on the
answers of the operations a device may call."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

__all__ = ["LEDGER_HEAD_HEADER", "LOOPBACK_OR_BEARER_OPERATIONS", "PUBLIC_OPERATIONS", "REQUIRED_HEADERS", "device_operations", "install_openapi"]

#: on every response to a device-authenticated request (backoffice/API.md, "Ledger head")
LEDGER_HEAD_HEADER = "X-Ledger-Head"
_LEDGER_HEAD = {
    "description": "The audit ledger's signed head, on every response to a device: base64url (unpadded) of the "
                   "compact JSON object {seq, entry_hash, at, key_id, signature} (Ed25519 over "
                   "smartborder-ledger-checkpoint/1). Keep the one with the highest seq: an auditor verifies the "
                   "ledger against it (smartborder gate witness / kiosk witness).",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]+={0,2}$", "maxLength": 2048},
}

PUBLIC_OPERATIONS = {("POST", "/api/v1/auth/token"), ("GET", "/healthz")}
#: anonymous for a caller on loopback without proxy headers (a local scraper), a bearer token otherwise
LOOPBACK_OR_BEARER_OPERATIONS = {("GET", "/metrics")}
#: headers a route reads as optional (to answer their absence with its own problem) but that are required
REQUIRED_HEADERS = {"Idempotency-Key"}
_TITLES = {"400": "Bad request (malformed body, missing Idempotency-Key)", "401": "Not authenticated",
           "403": "Role not allowed", "404": "Not found", "409": "Conflict with the current state",
           "413": "Body or image too large", "422": "Invalid request (schema, values, idempotency key reuse)",
           "429": "Too many failed logins (see Retry-After)"}
_PROBLEM = {
    "type": "object", "title": "Problem", "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                   "detail": {"type": "string"}, "instance": {"type": "string"}},
}
_VALIDATION_PROBLEM = {
    "allOf": [{"$ref": "#/components/schemas/Problem"}, {"type": "object", "properties": {"errors": {
        "type": "array", "items": {"type": "object", "properties": {
            "loc": {"type": "array", "items": {"type": "string"}}, "msg": {"type": "string"},
            "type": {"type": "string"}}}}}}],
    "title": "ValidationProblem",
}


def _roles(dependant) -> set[str]:
    """The roles the role-check dependencies of a route admit (``require(...)``'s ``allowed``)."""
    out: set[str] = set(getattr(dependant.call, "allowed", ()) or ())
    for sub in dependant.dependencies:
        out |= _roles(sub)
    return out


def device_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(METHOD, path) of every API operation a device role may call."""
    from fastapi import routing

    # FastAPI >= 0.16x wraps included routers; iter_route_contexts yields each route with its full path
    contexts = routing.iter_route_contexts(app.routes) if hasattr(routing, "iter_route_contexts") else app.routes
    out = set()
    for context in contexts:
        route = getattr(context, "original_route", context)
        dependant = getattr(route, "dependant", None)
        if dependant is not None and any(r.startswith("device:") for r in _roles(dependant)):
            out |= {(m, context.path_format) for m in getattr(route, "methods", ())}
    return out


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes,
                             tags=app.openapi_tags)
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas["Problem"] = _PROBLEM
        schemas["ValidationProblem"] = _VALIDATION_PROBLEM
        components["securitySchemes"] = {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "Staff: token from POST /api/v1/auth/token (sbs_...). Devices: token issued by an admin (sbd_...)."}}
        devices = device_operations(app)
        for path, operations in schema.get("paths", {}).items():
            for method, op in operations.items():
                responses = op.setdefault("responses", {})
                if (method.upper(), path) in devices:
                    for code, response in responses.items():
                        if code.startswith(("2", "3")):
                            response.setdefault("headers", {})[LEDGER_HEAD_HEADER] = _LEDGER_HEAD
                public = (method.upper(), path) in PUBLIC_OPERATIONS
                codes = {"400", "404", "413", "422"} | {c for c in responses if c.startswith("4")}
                if not public:
                    codes |= {"401", "403"}
                    op["security"] = [{"bearer": []}]
                    if (method.upper(), path) in LOOPBACK_OR_BEARER_OPERATIONS:
                        op["security"] = [{}, {"bearer": []}]
                for parameter in op.get("parameters", ()):
                    if parameter.get("in") == "header" and parameter.get("name") in REQUIRED_HEADERS:
                        parameter["required"] = True  # its absence answers 400 (idempotency-key-missing)
                if path == "/api/v1/auth/token":
                    codes |= {"401", "429"}
                for code in sorted(codes):
                    ref = "ValidationProblem" if code == "422" else "Problem"
                    responses[code] = {"description": _TITLES.get(code, "Client error"), "content": {
                        "application/problem+json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}
        for unused in ("HTTPValidationError", "ValidationError", "ProblemPublic"):
            schemas.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
