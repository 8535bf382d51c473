"""The partner link's receiving end (issue #26 item 3): a small FastAPI app of its own, served by uvicorn on its
own port over mutual TLS, NOT mounted in the back office's app (the partner is not a user of the back office).

- :func:`create_partner_app` (one route, ``POST /bilateral/v1/messages``: reads at most the exchange's
  envelope size, hands it to :meth:`bilateral.Inbox.receive` with the administration the verified client
  certificate names, and turns a :class:`bilateral.ExchangeError` into its 4xx and reason code);
- :func:`partner_tls_config` / :func:`serve_partner_link` (uvicorn with ``ssl_certfile``/``ssl_keyfile``,
  ``ssl_ca_certs`` = the PARTNER's link CA only, ``ssl_cert_reqs=CERT_REQUIRED``, TLS 1.3 only).

uvicorn does not put the client certificate in the ASGI scope, so :class:`PeerCertH11Protocol` (its h11
protocol, one method more) adds the ASGI TLS extension (``client_cert_chain``: the PEM of the verified TLS
connection's peer; ``client_cert_error``: None). The app does not rely on how it is served: it refuses a
request without that extension, with a ``client_cert_error`` other than None, or with no certificate
(``no_client_certificate``), and verifies ``client_cert_chain[0]`` against the partner's link CA itself
(the CA's signature, both certificates' validity now, the CA a CA that signs certificates, the leaf not a CA
and for client authentication: ``wrong_administration`` otherwise), so served any other way it fails closed.
Both ends are ours, so the link is TLS 1.3 only (the tests negotiate it); no websockets, no proxy headers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID
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
        tls = {"client_cert_chain": chain, "client_cert_error": None if der else "no client certificate"}
        app = self.app

        async def with_tls(scope, receive, send):
            if scope.get("type") == "http":
                scope = {**scope, "extensions": {**(scope.get("extensions") or {}), "tls": tls}}
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


def _load_cas(partner_ca: str | Path) -> list[x509.Certificate]:
    cas = x509.load_pem_x509_certificates(Path(partner_ca).read_bytes())
    if not cas:
        raise ValueError(f"{partner_ca}: no certificate")
    return cas


def _verify_leaf(leaf: x509.Certificate, cas: list[x509.Certificate], now: dt.datetime) -> None:
    """``leaf`` issued by one of ``cas`` (signature), both valid at ``now``, the CA a certificate-signing CA,
    the leaf no CA and for client authentication; :class:`WrongAdministration` otherwise."""
    def ext(cert, cls):
        try:
            return cert.extensions.get_extension_for_class(cls).value
        except x509.ExtensionNotFound:
            return None

    for ca in cas:
        if ca.subject != leaf.issuer:
            continue
        try:
            leaf.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature) as e:
            raise WrongAdministration(f"the client certificate is not the partner's link CA's: {e}") from e
        for cert in (ca, leaf):
            if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
                raise WrongAdministration("the client certificate or its CA is not valid now")
        ca_bc, ca_ku = ext(ca, x509.BasicConstraints), ext(ca, x509.KeyUsage)
        if ca_bc is None or not ca_bc.ca or (ca_ku is not None and not ca_ku.key_cert_sign):
            raise WrongAdministration("the partner's link CA is not a certificate-signing CA")
        bc, ku, eku = ext(leaf, x509.BasicConstraints), ext(leaf, x509.KeyUsage), ext(leaf, x509.ExtendedKeyUsage)
        if (bc is not None and bc.ca) or (ku is not None and not ku.digital_signature) or eku is None \
                or ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            raise WrongAdministration("the client certificate is not for client authentication")
        return
    raise WrongAdministration("the client certificate is not issued by the partner's link CA")


def _peer(request: Request, cas: list[x509.Certificate]) -> str:
    tls = (request.scope.get("extensions") or {}).get("tls")
    if not isinstance(tls, dict) or "client_cert_error" not in tls or tls["client_cert_error"] is not None:
        raise NoClientCertificate("no verified client certificate on this connection")
    chain = tls.get("client_cert_chain") or []
    if not chain or not isinstance(chain[0], str):
        raise NoClientCertificate("no verified client certificate on this connection")
    try:
        leaf = x509.load_pem_x509_certificate(chain[0].encode("ascii"))
    except (ValueError, UnicodeEncodeError) as e:
        raise WrongAdministration(f"the client certificate cannot be read: {e}") from e
    _verify_leaf(leaf, cas, dt.datetime.now(dt.UTC))
    try:
        return link_administration(leaf)
    except BilateralError as e:
        raise WrongAdministration(f"the client certificate names no administration: {e}") from e


def create_partner_app(inbox: Inbox, *, partner_ca: str | Path) -> FastAPI:
    """The receiving app over ``inbox`` (no docs, no OpenAPI: one route for one partner); ``partner_ca``: the
    partner's link CA (PEM), against which the app verifies the client certificate itself."""
    cas = _load_cas(partner_ca)
    app = FastAPI(title="partner link", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post(MESSAGES_PATH)
    async def receive(request: Request) -> JSONResponse:
        try:
            peer = _peer(request, cas)
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
    trust anchor, a client certificate required, TLS 1.3 only (both ends are ours), no websockets, no proxy
    headers (the peer is the TLS connection's)."""
    config = uvicorn.Config(app, host=host, port=port, ssl_certfile=str(certfile), ssl_keyfile=str(keyfile),
                            ssl_ca_certs=str(partner_ca), ssl_cert_reqs=ssl.CERT_REQUIRED,
                            http=PeerCertH11Protocol, ws="none", proxy_headers=False, lifespan="off",
                            log_level="warning", access_log=False, timeout_graceful_shutdown=10)
    config.load()
    config.ssl.minimum_version = ssl.TLSVersion.TLSv1_3
    return config


def serve_partner_link(inbox: Inbox, *, host: str, port: int, certfile: str | Path, keyfile: str | Path,
                       partner_ca: str | Path) -> None:
    """Serve the partner link until interrupted (blocks)."""
    config = partner_tls_config(create_partner_app(inbox, partner_ca=partner_ca), host=host, port=port, certfile=certfile,
                                keyfile=keyfile, partner_ca=partner_ca)
    uvicorn.Server(config).run()
