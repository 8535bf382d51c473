"""The OpenAPI document, completed: every 4xx documented as ``application/problem+json``
(RFC 9457), bearer security on every non-public operation."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

__all__ = ["PUBLIC_OPERATIONS", "install_openapi"]

PUBLIC_OPERATIONS = {("POST", "/api/v1/auth/token"), ("GET", "/healthz"), ("GET", "/metrics")}
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
        for path, operations in schema.get("paths", {}).items():
            for method, op in operations.items():
                responses = op.setdefault("responses", {})
                public = (method.upper(), path) in PUBLIC_OPERATIONS
                codes = {"400", "404", "413", "422"} | {c for c in responses if c.startswith("4")}
                if not public:
                    codes |= {"401", "403"}
                    op["security"] = [{"bearer": []}]
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
