"""Officer calls get an explicit insertion order, ``seq``: the tiebreak of calls raised in the same second (the
list showed them in SQLite's ``rowid`` order, which PostgreSQL has no equivalent of).

Revision ID: 0011_officer_calls_seq
Existing rows keep the order they had: ``rowid`` on SQLite, (created_at, id) on PostgreSQL. A new call's seq is
max + 1, taken in its INSERT (backoffice._calls).
"""

from alembic import op

revision = "0011_officer_calls_seq"
down_revision = "0010_legacy_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE officer_calls ADD COLUMN seq INTEGER NOT NULL DEFAULT 0")
        op.execute("UPDATE officer_calls SET seq = rowid")
    else:
        op.execute("ALTER TABLE officer_calls ADD COLUMN seq BIGINT NOT NULL DEFAULT 0")
        op.execute("UPDATE officer_calls SET seq = ordered.n FROM (SELECT id, row_number() OVER "
                   "(ORDER BY created_at, id) AS n FROM officer_calls) AS ordered WHERE officer_calls.id = ordered.id")
    op.execute("CREATE INDEX officer_calls_seq ON officer_calls(seq)")


def downgrade() -> None:
    op.execute("DROP INDEX officer_calls_seq")
    op.execute("ALTER TABLE officer_calls DROP COLUMN seq")
