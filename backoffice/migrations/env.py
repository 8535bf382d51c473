"""Alembic environment of the back office database: runs on the connection storage.upgrade passes."""

from storage import run_alembic_env

run_alembic_env()
