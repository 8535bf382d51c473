"""Prometheus metrics and structured JSON logs (never personal data: no bodies, no query strings,
route templates instead of paths, principals by kind and role only)."""

from __future__ import annotations

import json
import logging
import time
import uuid

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["JsonFormatter", "Metrics", "configure_json_logging", "access_log"]

access_log = logging.getLogger("backoffice.access")
log = logging.getLogger("backoffice")


class Metrics:
    """One registry per app, so tests can build many apps."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("backoffice_http_requests_total", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("backoffice_http_request_duration_seconds", "HTTP request latency", ["route"],
                                 registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.ingested = Counter("backoffice_ingested_total", "Records created by devices", ["kind"],
                                registry=self.registry)
        self.replayed = Counter("backoffice_idempotent_replays_total", "Requests answered from the idempotency store",
                                ["kind"], registry=self.registry)
        self.logins = Counter("backoffice_logins_total", "Login attempts", ["outcome"], registry=self.registry)
        self.open_exceptions = Gauge("backoffice_open_exceptions", "Exceptions waiting for review",
                                     registry=self.registry)
        self.watchlist_version = Gauge("backoffice_watchlist_version", "Current watchlist version",
                                       registry=self.registry)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg and the whitelisted ``extra`` fields."""

    FIELDS = ("event", "method", "route", "status", "duration_ms", "request_id", "principal", "role",
              "kind", "count", "error")

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
               "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        for f in self.FIELDS:
            if hasattr(record, f):
                out[f] = getattr(record, f)
        return json.dumps(out, ensure_ascii=False)


def configure_json_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("backoffice")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    for name in ("uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # it logs paths with query strings


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]
