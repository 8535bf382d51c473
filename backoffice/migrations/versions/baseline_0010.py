"""Baseline: the back office database as the legacy history left it (0001_auth .. 0010_liveness, with
privacy_0001 .. privacy_0007).

Revision ID: 0010_legacy_baseline
On SQLite storage.upgrade stamps it after running the legacy history, so it does nothing there; on
PostgreSQL it creates the tables (backoffice.migrations.POSTGRESQL_BASELINE and
privacy.migrations.POSTGRESQL_BASELINE).
"""

from alembic import op

from backoffice.migrations import POSTGRESQL_BASELINE
from privacy.migrations import POSTGRESQL_BASELINE as PRIVACY_BASELINE
from storage import MigrationError

revision = "0010_legacy_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        return  # the legacy history built it (storage.upgrade stamps this revision)
    if dialect != "postgresql":
        raise MigrationError(f"no baseline for the {dialect} dialect")
    for statement in (*POSTGRESQL_BASELINE, *PRIVACY_BASELINE):
        op.execute(statement)


def downgrade() -> None:
    raise MigrationError("the baseline cannot be downgraded")
