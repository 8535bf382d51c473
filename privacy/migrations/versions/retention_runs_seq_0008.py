"""Purge runs get an explicit insertion order (privacy.migrations.add_retention_runs_seq).

Revision ID: privacy_0008_retention_runs_seq
"""

from alembic import op

from privacy.migrations import add_retention_runs_seq

revision = "privacy_0008_retention_runs_seq"
down_revision = "privacy_0007_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_retention_runs_seq(op)


def downgrade() -> None:
    op.execute("DROP INDEX retention_runs_seq")
    op.execute("ALTER TABLE retention_runs DROP COLUMN seq")
