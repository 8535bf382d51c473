"""The partner link's receiving end (issue #26 item 3): a small FastAPI app of its own, served by uvicorn on its
own port over mutual TLS, NOT mounted in the back office's app (the partner is not a user of the back office).

- :func:`create_partner_app` (one route, ``POST /bilateral/v1/messages``: reads at most the exchange's
  envelope size, hands it to :meth:`bilateral.Inbox.receive` with the administration the verified client
  certificate names, and turns a :class:`bilateral.ExchangeError` into its 4xx and reason code);
- :func:`partner_tls_config` / :func:`serve_partner_link` (uvicorn with ``ssl_certfile``/``ssl_keyfile``,
  ``ssl_ca_certs`` = the PARTNER's link CA only, ``ssl_cert_reqs=CERT_REQUIRED``, TLS 1.2 at least).

uvicorn does not put the client certificate in the ASGI scope, so :class:`PeerCertH11Protocol` (its h11
protocol, one method more) adds the ASGI TLS extension's ``client_cert_chain`` (PEM) from the verified TLS
connection; the app refuses a request without it (``no_client_certificate``), so the app served any other way
fails closed.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from uvicorn.protocols.http.h11_impl import H11Protocol

from bilateral import (
    MAX_ENVELOPE_BYTES,
    MESSAGES_PATH,
    BilateralError,
    ExchangeError,
    Inbox,
    MessageTooLarge,
    WrongAdministration,
    link_administration,
)

__all__ = ["create_partner_app", "partner_tls_config", "serve_partner_link", "PeerCertH11Protocol"]


class NoClientCertificate(ExchangeError):
    reason = "no_client_certificate"
    status = 403


class PeerCertH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, adding the verified client certificate to each request's scope as the ASGI TLS
    extension (``scope["extensions"]["tls"]["client_cert_chain"]``, PEM)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(True) if ssl_object is not None else None
        chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
        app = self.app

        async def with_tls(scope, receive, send):
            if scope.get("type") == "http":
                scope = {**scope, "extensions": {**(scope.get("extensions") or {}),
                                                 "tls": {"client_cert_chain": chain}}}
            await app(scope, receive, send)

        self.app = with_tls


def _error(e: ExchangeError) -> JSONResponse:
    return JSONResponse({"reason": e.reason, "detail": str(e)}, status_code=e.status)


async def _read_capped(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_ENVELOPE_BYTES):
        raise MessageTooLarge(f"content-length {declared!r}: the exchange takes at most {MAX_ENVELOPE_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_ENVELOPE_BYTES:
            raise MessageTooLarge(f"the message is more than {MAX_ENVELOPE_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _peer(request: Request) -> str:
    chain = ((request.scope.get("extensions") or {}).get("tls") or {}).get("client_cert_chain") or []
    if not chain:
        raise NoClientCertificate("no verified client certificate on this connection")
    try:
        return link_administration(chain[0].encode("ascii"))
    except BilateralError as e:
        raise WrongAdministration(f"the client certificate names no administration: {e}") from e


def create_partner_app(inbox: Inbox) -> FastAPI:
    """The receiving app over ``inbox`` (no docs, no OpenAPI: one route for one partner)."""
    app = FastAPI(title="partner link", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post(MESSAGES_PATH)
    async def receive(request: Request) -> JSONResponse:
        try:
            peer = _peer(request)
            data = await _read_capped(request)
        except ExchangeError as e:
            await run_in_threadpool(inbox.refuse, e)
            return _error(e)
        try:
            receipt = await run_in_threadpool(inbox.receive, data, peer=peer)
        except ExchangeError as e:  # ledgered by the inbox
            return _error(e)
        return JSONResponse({"outcome": receipt.outcome, "message_id": receipt.message_id})

    return app


def partner_tls_config(app: Any, *, host: str, port: int, certfile: str | Path, keyfile: str | Path,
                       partner_ca: str | Path) -> uvicorn.Config:
    """uvicorn's configuration for the link: this side's server certificate, the partner's link CA as the only
    trust anchor, a client certificate required, TLS 1.2 at least (1.3 negotiated when both offer it)."""
    config = uvicorn.Config(app, host=host, port=port, ssl_certfile=str(certfile), ssl_keyfile=str(keyfile),
                            ssl_ca_certs=str(partner_ca), ssl_cert_reqs=ssl.CERT_REQUIRED,
                            http=PeerCertH11Protocol, lifespan="off", log_level="warning", access_log=False,
                            timeout_graceful_shutdown=10)
    config.load()
    config.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
    return config


def serve_partner_link(inbox: Inbox, *, host: str, port: int, certfile: str | Path, keyfile: str | Path,
                       partner_ca: str | Path) -> None:
    """Serve the partner link until interrupted (blocks)."""
    config = partner_tls_config(create_partner_app(inbox), host=host, port=port, certfile=certfile,
                                keyfile=keyfile, partner_ca=partner_ca)
    uvicorn.Server(config).run()
