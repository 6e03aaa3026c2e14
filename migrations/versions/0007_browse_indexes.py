"""browse indexes

``/mentor browse`` and ``/mentor suggest`` filter, order and page the in-memory mentor
listing (core/usecases/mentor_index.py), checked against the database on every use. Its
refresh reads (id, updated_at) of recently changed mentor rows; with ``id`` in the index
that read never touches the table, so a bulk import sharing one ``updated_at`` costs an
index range scan, not a reload. The new index replaces (community_id, updated_at), which
it covers.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('mentors', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_mentors_community_id_updated_at_id'),
            ['community_id', 'updated_at', 'id'],
            unique=False,
        )
        batch_op.drop_index(batch_op.f('ix_mentors_community_id_updated_at'))


def downgrade() -> None:
    with op.batch_alter_table('mentors', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_mentors_community_id_updated_at'),
            ['community_id', 'updated_at'],
            unique=False,
        )
        batch_op.drop_index(batch_op.f('ix_mentors_community_id_updated_at_id'))
