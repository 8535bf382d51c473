"""The enrolment galleries' generation: one counter, bumped in the transaction of every change that takes
templates out of the 1:N duplicate check or puts them in (an enrolment stored, one rejected, a subject erased,
records purged). A process holding galleries in memory compares it before a check and reloads when another
process or worker moved it (it replaces SQLite's ``PRAGMA data_version``, which PostgreSQL has no equivalent of).

Revision ID: 0012_galleries_generation
"""

from alembic import op

revision = "0012_galleries_generation"
down_revision = "0011_officer_calls_seq"
branch_labels = None
depends_on = None


def upgrade() -> None:
    integer = "INTEGER" if op.get_bind().dialect.name == "sqlite" else "BIGINT"
    op.execute(f"CREATE TABLE galleries_generation (id {integer} PRIMARY KEY CHECK (id = 1), "
               f"generation {integer} NOT NULL)")
    op.execute("INSERT INTO galleries_generation (id, generation) VALUES (1, 0)")


def downgrade() -> None:
    op.execute("DROP TABLE galleries_generation")
