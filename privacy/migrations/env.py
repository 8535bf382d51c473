"""Alembic environment of the stand-alone privacy database: runs on the connection storage.upgrade passes."""

from storage import run_alembic_env

run_alembic_env()
