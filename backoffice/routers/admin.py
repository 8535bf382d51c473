"""Admin: staff users and device credentials (issue, rotate, revoke)."""

from __future__ import annotations

from fastapi import APIRouter

from backoffice.deps import Admin, Ctx
from backoffice.schemas import (
    DeviceCreate,
    DeviceCredentialPublic,
    DevicePublic,
    ProblemPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["admin"])
_P = {r: {"model": ProblemPublic} for r in (401, 403, 404, 409, 422)}


@router.get("/users", responses=_P)
def list_users(admin: Admin, ctx: Ctx) -> list[UserPublic]:
    return [UserPublic(**u) for u in ctx.auth.list_users()]


@router.post("/users", status_code=201, responses=_P)
def create_user(body: UserCreate, admin: Admin, ctx: Ctx) -> UserPublic:
    return UserPublic(**ctx.auth.create_user(body.username, body.password, body.role.value, body.display_name))


@router.patch("/users/{username}", responses=_P)
def update_user(username: str, body: UserUpdate, admin: Admin, ctx: Ctx) -> UserPublic:
    """Change role, password or display name, or deactivate; role/password changes end the user's sessions."""
    return UserPublic(**ctx.auth.update_user(username, role=body.role.value if body.role else None,
                                             active=body.active, password=body.password,
                                             display_name=body.display_name))


@router.get("/devices", responses=_P)
def list_devices(admin: Admin, ctx: Ctx) -> list[DevicePublic]:
    return [DevicePublic(**d) for d in ctx.auth.list_devices()]


@router.post("/devices", status_code=201, responses=_P)
def issue_device(body: DeviceCreate, admin: Admin, ctx: Ctx) -> DeviceCredentialPublic:
    """Register a gate or kiosk and issue its bearer token (shown once)."""
    device, token = ctx.auth.issue_device(body.id, body.kind, body.name, body.location)
    return DeviceCredentialPublic(device=DevicePublic(**device), token=token)


@router.post("/devices/{device_id}/rotate", responses=_P)
def rotate_device(device_id: str, admin: Admin, ctx: Ctx) -> DeviceCredentialPublic:
    """Issue a new token; the old one stops working at once (also re-activates a revoked device)."""
    device, token = ctx.auth.rotate_device(device_id)
    return DeviceCredentialPublic(device=DevicePublic(**device), token=token)


@router.post("/devices/{device_id}/revoke", responses=_P)
def revoke_device(device_id: str, admin: Admin, ctx: Ctx) -> DevicePublic:
    return DevicePublic(**ctx.auth.revoke_device(device_id))
