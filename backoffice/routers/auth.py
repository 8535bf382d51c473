"""Staff login for the API (bearer tokens), logout, and who-am-I."""

from __future__ import annotations

from fastapi import APIRouter, Request

from backoffice._errors import BackofficeError, LoginThrottled
from backoffice.deps import Caller, Ctx
from backoffice.schemas import MePublic, ProblemPublic, TokenCreate, TokenPublic

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
_PROBLEMS = {401: {"model": ProblemPublic}, 429: {"model": ProblemPublic}}


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/token", responses=_PROBLEMS)
def create_token(body: TokenCreate, request: Request, ctx: Ctx) -> TokenPublic:
    """Exchange a username and password for a bearer token (failed attempts are throttled)."""
    try:
        token, principal = ctx.auth.login(body.username, body.password, client_of(request), kind="api")
    except LoginThrottled:
        ctx.metrics.logins.labels("throttled").inc()  # no password check ran
        raise
    except BackofficeError:
        ctx.metrics.logins.labels("failed").inc()
        raise
    ctx.metrics.logins.labels("ok").inc()
    request.state.principal = principal
    return TokenPublic(access_token=token, expires_in=ctx.config.token_ttl_s, role=principal.role)


@router.post("/logout", status_code=204, responses=_PROBLEMS)
def logout(caller: Caller, ctx: Ctx) -> None:
    """Revoke the bearer token used for this request (devices: no effect; ask an admin to revoke)."""
    ctx.auth.logout(caller)


@router.get("/me", responses=_PROBLEMS)
def me(caller: Caller) -> MePublic:
    return MePublic(kind=caller.kind, id=caller.id, role=caller.role)
