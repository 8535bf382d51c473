"""Small shared helpers: the injectable clock, timestamps, transactions on a shared connection."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlite_utils

__all__ = ["Clock", "iso", "system_clock", "transaction", "utc"]

Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def utc(t: dt.datetime) -> dt.datetime:
    """An aware UTC datetime (naive values are taken as UTC)."""
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def iso(t: dt.datetime) -> str:
    return utc(t).isoformat(timespec="microseconds").replace("+00:00", "Z")


@contextmanager
def transaction(db: sqlite_utils.Database, lock: threading.RLock) -> Iterator[sqlite_utils.Database]:
    """BEGIN IMMEDIATE ... COMMIT, or join the caller's open transaction (the caller commits)."""
    with lock:
        conn = db.conn
        if conn.in_transaction:
            yield db
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
