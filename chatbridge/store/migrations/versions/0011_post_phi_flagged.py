"""Mark posts the patient-privacy guard flagged, and which identifier kinds it found.

Revision ID: 0011
Revises: 0010

A flagged post is stored with its identifiers masked and kept out of digests, share quotes and
cards (`hidden`); `phi_flagged` says why it is hidden, and `phi_kinds` (e.g. "name,date") lets
moderators see what was found without the identifiers themselves.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phi_flagged", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("phi_kinds", sa.String(200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("post", schema=None) as batch_op:
        batch_op.drop_column("phi_kinds")
        batch_op.drop_column("phi_flagged")
