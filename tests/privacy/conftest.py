"""Fixtures: a travelling clock, a KEK, and a privacy stack on files (data DB + separate key store)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from privacy import RawKek, open_privacy

T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self, t: dt.datetime = T0) -> None:
        self.t = t

    def __call__(self) -> dt.datetime:
        return self.t

    def travel(self, **delta) -> dt.datetime:
        self.t = self.t + dt.timedelta(**delta)
        return self.t


@dataclass
class Stack:
    p: object
    clock: Clock
    data_path: object
    keys_path: object
    kek: RawKek


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def kek() -> RawKek:
    return RawKek(bytes(range(32)))


@pytest.fixture()
def stack(tmp_path, clock, kek) -> Stack:
    data, keys = tmp_path / "data.db", tmp_path / "keys.db"
    return Stack(open_privacy(data, keys, kek, clock=clock), clock, data, keys, kek)


class Rows(list):
    def fetchone(self):
        return self[0] if self else None

    def fetchall(self):
        return list(self)


def raw(db, sql: str, params=()) -> Rows:
    """Legacy SQL (sqlite3 ``?`` placeholders) on a privacy object's SQLite :class:`storage.Database`, committed at
    once: the tests edit the tables as someone holding the file would."""
    with db.tx() as conn:
        result = conn.connection.exec_driver_sql(sql, tuple(params))
        return Rows(tuple(r) for r in result.fetchall()) if result.returns_rows else Rows()
