"""Verified clinician credentials, source requests, cited notes under posts, and call-ins.

Revision ID: 0009
Revises: 0008

Four new tables, nothing existing changes: `credential` (a badge a verifier checked, with the
moderators-only evidence note and the expiry reminder mark), `source_request` (one per member and
post), `post_note` (a note with a citation under a post) and `call_in` (a private note from one
member to another, with its one answer).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chatbridge.store.types import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, target: str, ondelete: str | None) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "credential",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("evidence_note", sa.Text(), nullable=False),
        sa.Column("verified_by_member_id", sa.Integer(), nullable=True),
        sa.Column("verified_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("reminded_at", UTCDateTime(), nullable=True),
        sa.Column("lapsed_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_by_member_id", sa.Integer(), nullable=True),
        _fk("credential", "community_id", "community", "CASCADE"),
        _fk("credential", "member_id", "member", "CASCADE"),
        _fk("credential", "verified_by_member_id", "member", "SET NULL"),
        _fk("credential", "revoked_by_member_id", "member", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credential")),
    )
    op.create_index(
        op.f("ix_credential_community_id_revoked_at"), "credential", ["community_id", "revoked_at"]
    )
    op.create_index(op.f("ix_credential_member_id_revoked_at"), "credential", ["member_id", "revoked_at"])
    op.create_table(
        "source_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _fk("source_request", "post_id", "post", "CASCADE"),
        _fk("source_request", "member_id", "member", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_request")),
        sa.UniqueConstraint("post_id", "member_id", name=op.f("uq_source_request_post_id_member_id")),
    )
    op.create_table(
        "post_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("author_member_id", sa.Integer(), nullable=False),
        sa.Column("citation", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("edited_at", UTCDateTime(), nullable=True),
        sa.Column("removed_at", UTCDateTime(), nullable=True),
        _fk("post_note", "community_id", "community", "CASCADE"),
        _fk("post_note", "post_id", "post", "CASCADE"),
        _fk("post_note", "author_member_id", "member", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_note")),
    )
    op.create_index(op.f("ix_post_note_post_id_created_at"), "post_note", ["post_id", "created_at"])
    op.create_index(op.f("ix_post_note_community_id_created_at"), "post_note", ["community_id", "created_at"])

    op.create_table(
        "call_in",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("sender_member_id", sa.Integer(), nullable=False),
        sa.Column("recipient_member_id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("reported_at", UTCDateTime(), nullable=True),
        _fk("call_in", "community_id", "community", "CASCADE"),
        _fk("call_in", "sender_member_id", "member", "CASCADE"),
        _fk("call_in", "recipient_member_id", "member", "CASCADE"),
        _fk("call_in", "post_id", "post", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_in")),
    )
    op.create_index(
        op.f("ix_call_in_sender_member_id_created_at"), "call_in", ["sender_member_id", "created_at"]
    )
    op.create_index(
        op.f("ix_call_in_recipient_member_id_created_at"), "call_in", ["recipient_member_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_call_in_recipient_member_id_created_at"), table_name="call_in")
    op.drop_index(op.f("ix_call_in_sender_member_id_created_at"), table_name="call_in")
    op.drop_table("call_in")
    op.drop_index(op.f("ix_post_note_community_id_created_at"), table_name="post_note")
    op.drop_index(op.f("ix_post_note_post_id_created_at"), table_name="post_note")
    op.drop_table("post_note")
    op.drop_table("source_request")
    op.drop_index(op.f("ix_credential_member_id_revoked_at"), table_name="credential")
    op.drop_index(op.f("ix_credential_community_id_revoked_at"), table_name="credential")
    op.drop_table("credential")
