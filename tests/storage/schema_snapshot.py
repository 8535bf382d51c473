"""A backend-neutral description of a database's schema by SQLAlchemy reflection, to compare SQLite and PostgreSQL."""

from __future__ import annotations

import re

import sqlalchemy as sa

#: bookkeeping tables, not schema: the legacy history, Alembic's version, SQLite's AUTOINCREMENT counters
BOOKKEEPING = {"_migrations", "alembic_version", "sqlite_sequence"}
#: SQLite's declared type -> the PostgreSQL type the baselines use (SQLite's INTEGER is 64-bit)
SQLITE_TO_POSTGRES = {"INTEGER": "BIGINT", "TEXT": "TEXT", "REAL": "DOUBLE PRECISION", "BLOB": "BYTEA"}


def _expr(text: object) -> str:
    """A default, a partial index's WHERE or a CHECK, without the casts, parentheses and case that differ."""
    text = re.sub(r"::[a-z ]+", "", str(text)).replace("(", "").replace(")", "")
    return " ".join(text.split()).lower()


def _where(index: dict) -> str | None:
    for key in ("sqlite_where", "postgresql_where"):
        where = index.get("dialect_options", {}).get(key)
        if where is not None:
            return _expr(where)
    return None


def snapshot(engine: sa.Engine) -> dict[str, dict]:
    """Tables -> columns (name, type in PostgreSQL's terms, nullable, default), primary key, unique constraints,
    indexes (name, columns, unique, partial WHERE), foreign keys and checks; bookkeeping tables left out."""
    insp = sa.inspect(engine)
    sqlite = engine.dialect.name == "sqlite"
    out: dict[str, dict] = {}
    for table in sorted(set(insp.get_table_names()) - BOOKKEEPING):
        pk = insp.get_pk_constraint(table)["constrained_columns"]
        columns = []
        for c in insp.get_columns(table):
            kind = str(c["type"])
            if sqlite:
                kind = SQLITE_TO_POSTGRES[kind]
            # SQLite lets a PRIMARY KEY column hold NULL unless it says NOT NULL (a legacy quirk); PostgreSQL never
            nullable = bool(c["nullable"]) and c["name"] not in pk
            default = None if c.get("default") is None else _expr(c["default"])
            columns.append((c["name"], kind, nullable, default))
        out[table] = {
            "columns": columns,
            "primary_key": pk,
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]), _where(i))
                              for i in insp.get_indexes(table) if not i.get("duplicates_constraint")),
            "foreign_keys": sorted((tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                                   for f in insp.get_foreign_keys(table)),
            "checks": sorted(_expr(c["sqltext"]) for c in insp.get_check_constraints(table)),
        }
    return out


def identity_columns(engine: sa.Engine) -> set[tuple[str, str]]:
    """(table, column) of PostgreSQL's identity columns."""
    insp = sa.inspect(engine)
    return {(t, c["name"]) for t in insp.get_table_names() for c in insp.get_columns(t) if c.get("identity")}


def sqlite_master(engine: sa.Engine) -> list[tuple]:
    """SQLite's own record of the schema (every CREATE as it now reads, bookkeeping included)."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").all()]
