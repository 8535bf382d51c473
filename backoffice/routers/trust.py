"""The trust store feed for gates and kiosks (signed, versioned, ETag) and which version each device uses."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response

from backoffice._errors import BackofficeError, NotFound
from backoffice._trust_feed import TrustFeedUnavailable
from backoffice.deps import Ctx, require
from backoffice.schemas import ProblemPublic

router = APIRouter(prefix="/api/v1/trust-store", tags=["trust"])

TrustReader = Annotated[object, Depends(require("device:gate", "device:kiosk", "supervisor", "admin"))]
TrustAdmin = Annotated[object, Depends(require("supervisor", "admin"))]
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class TrustStoreNotConfigured(NotFound):
    slug, title = "trust-store-not-configured", "No trust store is distributed"


class TrustStoreUnavailable(BackofficeError):
    status, slug, title = 503, "trust-store-unavailable", "The trust store cannot be served"


_SIGNED_LIST = {
    "type": "object",
    "required": ["format", "list", "version", "issued_at", "alg", "key_id", "payload", "signature"],
    "properties": {
        "format": {"type": "string", "const": "smartborder-signed-list/1"},
        "list": {"type": "string", "const": "trust-store"},
        "version": {"type": "integer", "minimum": 0},
        "issued_at": {"type": "string"}, "alg": {"type": "string"}, "key_id": {"type": "string"},
        "signature": {"type": "string"},
        "payload": {"type": "object", "required": ["format", "version", "digest", "objects"]},
    },
}


@router.get("", response_class=Response, responses={
    200: {"description": "The trust store as a signed list (privacy.sign_list), ETag naming version and digest",
          "content": {"application/json": {"schema": _SIGNED_LIST}}},
    304: {"description": "Not modified (If-None-Match matched)"},
    **{s: {"model": ProblemPublic} for s in (401, 403, 404)},
    503: {"description": "The trust store on disk does not verify: nothing is served",
          "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}})
def trust_store(ctx: Ctx, caller: TrustReader,
                if_none_match: Annotated[str | None, Header(alias="If-None-Match", max_length=500)] = None,
                # int, not int | None: an absent header is None, and the document says "integer" (no "null")
                x_trust_store_version: Annotated[int, Header(alias="X-Trust-Store-Version", ge=0,
                                                             le=2**62)] = None,
                x_trust_store_digest: Annotated[str | None, Header(alias="X-Trust-Store-Digest",
                                                                  max_length=71)] = None) -> Response:
    """The versioned trust store (CSCAs, Master Lists, DSCs, CRLs) signed by the back office's signed-list key:
    verify it (pinned key, list ``trust-store``, version not below the one held) before using it. Send the
    version and digest in use as ``X-Trust-Store-Version`` / ``X-Trust-Store-Digest`` (a device's are kept and
    listed at ``/api/v1/trust-store/devices``) and the last ETag as If-None-Match (304 when unchanged)."""
    if x_trust_store_version is not None and getattr(caller, "kind", "") == "device":
        digest = x_trust_store_digest if x_trust_store_digest and _DIGEST.match(x_trust_store_digest) else ""
        ctx.trust.report(caller.id, x_trust_store_version, digest)
    try:
        served = ctx.trust.current()
    except TrustFeedUnavailable as e:
        if e.missing:
            raise TrustStoreNotConfigured(str(e)) from e
        raise TrustStoreUnavailable(str(e)) from e
    headers = {"ETag": served.etag, "Cache-Control": "no-cache", "X-Trust-Store-Version": str(served.version)}
    if if_none_match and (if_none_match.strip() == "*" or
                          served.etag in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]):
        return Response(status_code=304, headers=headers)
    return Response(served.blob, media_type="application/json", headers=headers)


@router.get("/devices", responses={s: {"model": ProblemPublic} for s in (401, 403)})
def devices(ctx: Ctx, caller: TrustAdmin) -> list[dict]:
    """The trust store version each gate and kiosk last said it uses, and whether it is the one served now."""
    return ctx.trust.devices()


@router.get("/signing-key", responses={s: {"model": ProblemPublic} for s in (401, 403)})
def signing_key(ctx: Ctx, caller: TrustAdmin) -> dict:
    """The public key gates pin (``[gate] trust_list_key``) and its id; compare it out of band."""
    from privacy import list_key_id, public_key_b64

    key = ctx.trust.public_key()
    return {"key_id": list_key_id(key), "public_key": public_key_b64(key), "alg": "Ed25519"}
