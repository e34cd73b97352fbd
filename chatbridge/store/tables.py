"""Every table of the shared store, as SQLModel classes.

One store serves both platforms: a community may be bound to a Discord guild and a Matrix space at
once, and a member may hold one identity on each. Conventions that hold for every table:

* Integer autoincrement surrogate keys; platform ids (Discord snowflakes, Matrix ids) are strings
  next to a short `platform` column ("discord", "matrix", "memory"), so the store never parses them.
* Timestamps are `UTCDateTime` (aware UTC in Python, naive datetimes refused).
* Idempotency is enforced by unique constraints, not by application checks: applying the same
  platform event twice raises `IntegrityError`, which the forum service treats as "already done".
  Use a savepoint (`session.begin_nested()`) around such inserts to keep the outer transaction.
* Closed vocabularies (statuses, kinds, categories) carry CHECK constraints, so a typo fails loudly
  in tests instead of becoming an unqueryable row; the allowed values are exported as tuples.
* JSON columns are plain `sqlalchemy.JSON`: in-place mutation is not tracked, so assign a new
  list/dict to change them.
* Counters on members and threads are maintained by the forum service for fast cards and listings;
  the tables are the source of truth they can be recomputed from.

Tables live in their own `metadata` (not `SQLModel.metadata`) so the migration comparison only
ever sees the store's schema and the naming convention applies to every constraint.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, MetaData, String, Text, UniqueConstraint, false
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from chatbridge.store.types import UTCDateTime, utcnow

__all__ = [
    "CASE_CATEGORIES",
    "CASE_STATUSES",
    "MODLOG_SOURCES",
    "NAMING_CONVENTION",
    "OUTBOX_KINDS",
    "PLATFORMS",
    "PROFILE_FIELDS",
    "PROFILE_VISIBILITIES",
    "REPORT_CATEGORIES",
    "SANCTION_KINDS",
    "SUBFORUM_KINDS",
    "CallIn",
    "Community",
    "CommunityBinding",
    "Credential",
    "DigestRun",
    "DigestSchedule",
    "Identity",
    "Like",
    "LikeSource",
    "Member",
    "ModCase",
    "ModLogEntry",
    "ModNote",
    "OutboxItem",
    "PileOnAlert",
    "PileOnHit",
    "PlatformCursor",
    "PlatformSession",
    "Post",
    "PostNote",
    "ProcessedEvent",
    "ProfileField",
    "Report",
    "Sanction",
    "SourceRequest",
    "StoreModel",
    "SubForum",
    "Thread",
    "TrophyAward",
    "metadata",
]

# Deterministic constraint names on both databases: autogenerate stays stable and a later migration
# can drop a constraint by name. Every generated name must stay within PostgreSQL's 63 characters
# (a test checks), otherwise the two databases would disagree on truncated names.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

PLATFORMS = ("discord", "matrix", "memory")
SUBFORUM_KINDS = ("forum", "text", "room", "memory")
PROFILE_FIELDS = ("gender", "country", "specialty", "stage", "bio")
PROFILE_VISIBILITIES = ("public", "members", "moderators", "hidden")
REPORT_CATEGORIES = ("harassment", "misinformation", "patient_privacy", "spam", "other")
CASE_CATEGORIES = (*REPORT_CATEGORIES, "pile_on")
"""A case's categories: what members report, and what the bot opens itself (a pile-on)."""
CASE_STATUSES = ("open", "claimed", "resolved", "dismissed")
SANCTION_KINDS = ("mute", "warn")
MODLOG_SOURCES = ("bot", "platform")
# Documented, not enforced: adapters may add kinds without a migration.
OUTBOX_KINDS = ("send", "queue_card", "apply_mute", "lift_mute", "dm", "delete_message")

# Column types. Matrix ids (user, room, event) are at most 255 bytes by spec; snowflakes are shorter.
PLATFORM = String(16)
PLATFORM_ID = String(255)
NAME = String(200)
KEY = String(64)


def _one_of(column: str, values: tuple[str, ...], name: str | None = None) -> CheckConstraint:
    """CHECK that `column` holds one of `values` (named `ck_<table>_<name or column>`)."""
    allowed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=name or column)


def _platform_check(column: str = "platform") -> CheckConstraint:
    return _one_of(column, PLATFORMS)


def _nullable_platform_check(column: str) -> CheckConstraint:
    allowed = ", ".join(f"'{value}'" for value in PLATFORMS)
    return CheckConstraint(f"{column} IS NULL OR {column} IN ({allowed})", name=column)


class StoreModel(SQLModel, registry=registry(metadata=metadata)):
    """Abstract base of every store table: binds them to the store's own `metadata`."""


# --------------------------------------------------------------------------- communities


class Community(StoreModel, table=True):
    """A forum: one medical community, possibly present on several platforms."""

    __tablename__ = "community"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=NAME, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CommunityBinding(StoreModel, table=True):
    """Ties a community to a Discord guild or a Matrix space (several bindings per community)."""

    __tablename__ = "community_binding"
    __table_args__ = (
        UniqueConstraint("platform", "platform_id"),
        _platform_check(),
    )

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", ondelete="CASCADE", index=True)
    platform: str = Field(sa_type=PLATFORM)
    platform_id: str = Field(sa_type=PLATFORM_ID)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SubForum(StoreModel, table=True):
    """A channel/room shown as a sub-forum; `private` ones never appear in digests."""

    __tablename__ = "subforum"
    __table_args__ = (
        UniqueConstraint("platform", "platform_room_id"),
        UniqueConstraint("community_id", "platform", "name"),
        _platform_check(),
        _one_of("kind", SUBFORUM_KINDS),
    )

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", ondelete="CASCADE")
    name: str = Field(sa_type=NAME)
    platform: str = Field(sa_type=PLATFORM)
    platform_room_id: str = Field(sa_type=PLATFORM_ID)
    kind: str = Field(sa_type=String(16))
    private: bool = False
    position: int = 0


# --------------------------------------------------------------------------- members


class Member(StoreModel, table=True):
    """A person in a community, whatever platform(s) they use (see `Identity`).

    The counters back member cards and leaderboards without aggregating over posts and likes.
    """

    __tablename__ = "member"
    __table_args__ = (
        Index(None, "community_id", "trophy_points"),
        Index(None, "community_id", "likes_received"),
    )

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", ondelete="CASCADE")
    display_name: str = Field(sa_type=NAME)
    joined_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    message_count: int = 0
    likes_received: int = 0
    likes_given: int = 0
    threads_started: int = 0
    replies_to_others: int = 0
    trophy_points: int = 0
    is_bot: bool = False
    seen_in_public: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    """Joined a public room; with their posts and likes in public sub-forums, this decides
    whether a public digest may name them (see services/digest)."""


class Identity(StoreModel, table=True):
    """One platform account of a member; the lookup key for every incoming event's author."""

    __tablename__ = "member_identity"
    __table_args__ = (
        UniqueConstraint("community_id", "platform", "platform_user_id"),
        _platform_check(),
    )

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", ondelete="CASCADE", index=True)
    community_id: int = Field(foreign_key="community.id", ondelete="CASCADE")
    platform: str = Field(sa_type=PLATFORM)
    platform_user_id: str = Field(sa_type=PLATFORM_ID)
    display_name: str = Field(sa_type=NAME)


class ProfileField(StoreModel, table=True):
    """One profile field of a member with its own visibility (medical details are sensitive)."""

    __tablename__ = "profile_field"
    __table_args__ = (_one_of("visibility", PROFILE_VISIBILITIES),)

    member_id: int = Field(foreign_key="member.id", ondelete="CASCADE", primary_key=True)
    field: str = Field(sa_type=KEY, primary_key=True)
    value: str = Field(sa_type=Text)
    visibility: str = Field(default="members", sa_type=String(16))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --------------------------------------------------------------------------- threads and posts


class Thread(StoreModel, table=True):
    """A forum thread: a Discord forum post / thread, or a Matrix `m.thread` root."""

    __tablename__ = "thread"
    __table_args__ = (
        UniqueConstraint("platform", "platform_thread_id"),
        Index(None, "subforum_id", "last_activity_at"),
        Index(None, "subforum_id", "pinned", "last_activity_at"),  # thread pages: pinned first, then latest
        Index(None, "subforum_id", "reply_count"),
        Index(None, "subforum_id", "like_count"),
        Index(None, "community_id", "last_activity_at"),
        Index(None, "starter_member_id", "created_at"),
        _platform_check(),
    )

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", ondelete="CASCADE")
    subforum_id: int = Field(foreign_key="subforum.id", ondelete="CASCADE")
    platform: str = Field(sa_type=PLATFORM)
    platform_thread_id: str = Field(sa_type=PLATFORM_ID)
    title: str = Field(sa_type=String(300))
    starter_member_id: int = Field(foreign_key="member.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_activity_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_reply_member_id: int | None = Field(default=None, foreign_key="member.id", ondelete="SET NULL")
    reply_count: int = 0
    like_count: int = 0
    participant_count: int = 0
    locked: bool = False
    pinned: bool = False
    removed: bool = False
    tags: list[str] = Field(default_factory=list, sa_type=JSON)


class Post(StoreModel, table=True):
    """A message in a thread. Deletion is soft (`deleted_at`) so reports stay auditable."""

    __tablename__ = "post"
    __table_args__ = (
        UniqueConstraint("platform", "platform_message_id"),
        Index(None, "thread_id", "created_at"),
        Index(None, "thread_id", "member_id"),  # "has this member posted here before?" on every reply
        Index(None, "member_id", "created_at"),
        Index(None, "community_id", "created_at"),
        _platform_check(),
    )

    id: int | None = Field(default=None, primary_key=True)
    thread_id: int = Field(foreign_key="thread.id", ondelete="CASCADE")
    community_id: int
    """The thread's community, copied for the community-wide indexes; no foreign key of its own:
    the thread's already guarantees it (and takes the post with the thread and its community),
    and on PostgreSQL every key is checked for every inserted post (see migration 0006)."""
    member_id: int = Field(foreign_key="member.id")
    platform: str = Field(sa_type=PLATFORM)
    platform_message_id: str = Field(sa_type=PLATFORM_ID)
    body: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    edited_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    is_opening: bool = False
    counted: bool = True
    like_count: int = 0
    hidden: bool = False
    phi_flagged: bool = False
    """The privacy guard found patient identifiers: `body` holds the masked text, and the post is
    hidden from digests, share quotes and cards (docs/safety.md)."""
    phi_kinds: str = Field(default="", sa_type=String(200))
    """The identifier kinds found, comma-separated (never the identifiers)."""


class LikeSource(StoreModel, table=True):
    """One reason a member likes a post: an emoji reaction (by key) or the like command.

    A member's `Like` exists while at least one source does, so removing one of two reactions does
    not unlike. `platform_event_id` (Matrix reaction event id) maps a later redaction back here.
    """

    __tablename__ = "post_like_source"
    __table_args__ = (UniqueConstraint("post_id", "member_id", "source"),)

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", ondelete="CASCADE")
    member_id: int = Field(foreign_key="member.id", ondelete="CASCADE", index=True)
    source: str = Field(sa_type=KEY)
    platform_event_id: str | None = Field(default=None, sa_type=PLATFORM_ID, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Like(StoreModel, table=True):
    """One like per member per post (the primary key); denormalised for leaderboards.

    `post_author_id` and `community_id` are the post's, copied so a leaderboard window reads one
    index; like `Post.community_id` they have no foreign keys of their own: the post's key
    guarantees both and takes the like with the post (see migration 0006).
    """

    __tablename__ = "post_like"
    __table_args__ = (
        # Covers the weekly/monthly leaderboard: count likes per author in a window, index only.
        Index(None, "community_id", "created_at", "post_author_id"),
        Index(None, "post_author_id", "created_at"),
        Index(None, "member_id", "created_at"),
    )

    post_id: int = Field(foreign_key="post.id", ondelete="CASCADE", primary_key=True)
    member_id: int = Field(foreign_key="member.id", ondelete="CASCADE", primary_key=True)
    post_author_id: int
    community_id: int
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TrophyAward(StoreModel, table=True):
    """A trophy a member earned; awarded once per member (the unique constraint)."""

    __tablename__ = "trophy_award"
    __table_args__ = (UniqueConstraint("member_id", "trophy_key"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", ondelete="CASCADE")
    trophy_key: str = Field(sa_type=KEY)
    points: int = 0
    awarded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --------------------------------------------------------------------------- moderation


class ModCase(StoreModel, table=True):
    """A moderation case in the report queue; several reports may fold into one case.

    `subject_platform`/`subject_platform_user_id` keep the subject even when no member row exists
    (or it was deleted). `queue_platform`/`queue_message_id` locate the case card in the
    moderators' queue, so a button press on the card maps back to exactly one case.
    """

    __tablename__ = "mod_case"
    __table_args__ = (
        UniqueConstraint("queue_platform", "queue_message_id"),
        Index(None, "community_id", "status", "created_at"),
        Index(None, "subject_member_id", "created_at"),
        _one_of("category", CASE_CATEGORIES),
        _one_of("status", CASE_STATUSES),
        _nullable_platform_check("subject_platform"),
        _nullable_platform_check("queue_platform"),
    )

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", ondelete="CASCADE")
    subject_member_id: int | None = Field(default=None, foreign_key="member.id", ondelete="SET NULL")
    subject_platform: str | None = Field(default=None, sa_type=PLATFORM)
    subject_platform_user_id: str | None = Field(default=None, sa_type=PLATFORM_ID)
    post_id: int | None = Field(default=None, foreign_key="post.id", ondelete="SET NULL", index=True)
    category: str = Field(sa_type=String(32))
    status: str = Field(default="open", sa_type=String(16))
    escalated_to_admins: bool = False
    claimed_by_member_id: int | None = Field(default=None, foreign_key="member.id", ondelete="SET NULL")
    outcome: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    queue_platform: str | None = Field(default=None, sa_type=PLATFORM)
    queue_message_id: str | None = Field(default=None, sa_type=PLATFORM_ID)


class Report(StoreModel, table=True):
    """One member's report on a case; a reporter counts once per case."""

    __tablename__ = "mod_report"
    __table_args__ = (
        UniqueConstraint("case_id", "reporter_member_id"),
        _one_of("category", REPORT_CATEGORIES),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="mod_case.id", ondelete="CASCADE")
    reporter_member_id: int = Field(foreign_key="member.id", ondelete="CASCADE", index=True)
    category: str = Field(sa_type=String(32))
    reason: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    platform_event_id: str | None = Field(default=None, sa_type=PLATFORM_ID, unique=True)


class Sanction(StoreModel, table=True):
    """A mute or a warning.

    A mute is active while `lifted_at` is NULL and `ends_at` is NULL (indefinite) or in the future.
    Discord caps timeouts at 28 days, so `platform_applied_until` records how far the platform
    timeout currently reaches and a worker renews it. `previous_state` keeps what the mute replaced
    (e.g. Matrix power levels per room) so lifting restores it exactly.
    """

    __tablename__ = "sanction"
    __table_args__ = (
        # "active mutes ending before T": kind = 'mute' AND lifted_at IS NULL AND ends_at < T
        Index(None, "kind", "lifted_at", "ends_at"),
        # "active mutes whose platform timeout needs renewing before T"
        Index(None, "kind", "lifted_at", "platform_applied_until"),
        # "a member's sanctions active at T" / warning points still counting
        Index(None, "member_id", "kind", "started_at"),
        _one_of("kind", SANCTION_KINDS),
    )

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", ondelete="CASCADE")
    member_id: int = Field(foreign_key="member.id", ondelete="CASCADE")
    kind: str = Field(sa_type=String(16))
    reason: str = Field(default="", sa_type=Text)
    points: int = 0
    moderator_member_id: int | None = Field(default=None, foreign_key="member.id", ondelete="SET NULL")
    case_id: int | None = Field(default=None, foreign_key="mod_case.id", ondelete="SET NULL")
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ends_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lifted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lifted_by_member_id: int | None = Field(default=None, foreign_key="member.id", ondelete="SET NULL")
    previous_state: dict[str, Any] | None = Field(default=None, sa_type=JSON(none_as_null=True))
    platform_applied_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    appeal_text: str | None = Field(default=None, sa_type=Text)
    appealed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ModLogEntry(StoreModel, table=True):
    """The moderation log: actions by the bot and, imported, by the platforms' own audit logs.

    `platform_event_id` (audit-log entry id / state event id) makes the import idempotent.
    """

    __tablename__ = "mod_log_entry"
    __table_args__ = (
        Index(None, "community_id", "subject_member_id", "created_at"),
        Index(None, "community_id", "created_at"),
        _one_of("source", MODLOG_SOURCES),
    )

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", ondelete="CASCADE")
    subject_member_id: int | None = Field(default=None, foreign_key="member.id", ondelete="SET NULL")
    subject_platform_user_id: str | None = Field(default=None, sa_type=PLATFORM_ID)
    actor_member_id: int | None = Field(default=None, foreign_key="member.id", ondelete="SET NULL")
    action: str = Field(sa_type=KEY)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    source: str = Field(default="bot", sa_type=String(16))
    platform_event_id: str | None = Field(default=None, sa_type=PLATFORM_ID, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ModNote(StoreModel, table=True):
    """A private moderator note about a member."""

    __tablename__ = "mod_note"
    __table_args__ = (Index(None, "community_id", "subject_member_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", ondelete="CASCADE")
    subject_member_id: int = Field(foreign_key="member.id", ondelete="CASCADE")
    author_member_id: int = Field(foreign_key="member.id")
    body: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --------------------------------------------------------------------------- credentials and evidence


class Credential(StoreModel, table=True):
    """A clinician credential a verifier checked ("MD · Emergency Medicine"), shown as a badge.

    A member holds at most one live credential (`revoked_at` NULL); revoking keeps the row for the
    case log. `evidence_note` is what the verifier saw (a register entry): moderators only.
    `reminded_at` marks the expiry reminder as sent, so a restart does not send it twice.
    """

    __tablename__ = "credential"
    __table_args__ = (
        Index(None, "community_id", "revoked_at"),
        Index(None, "member_id", "revoked_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", ondelete="CASCADE")
    member_id: int = Field(foreign_key="member.id", ondelete="CASCADE")
    title: str = Field(sa_type=String(200))
    evidence_note: str = Field(default="", sa_type=Text)
    verified_by_member_id: int | None = Field(default=None, foreign_key="member.id", ondelete="SET NULL")
    verified_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lapsed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When the sweep saw it expire (case log entry written, badge role removal queued)."""
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by_member_id: int | None = Field(default=None, foreign_key="member.id", ondelete="SET NULL")


class SourceRequest(StoreModel, table=True):
    """One member asking a post's author for a source; a member counts once per post."""

    __tablename__ = "source_request"
    __table_args__ = (UniqueConstraint("post_id", "member_id"),)

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", ondelete="CASCADE")
    member_id: int = Field(foreign_key="member.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PostNote(StoreModel, table=True):
    """A cited note under a post, by a verified clinician or the post's author; it answers the
    post's source requests. Removal is soft (`removed_at`) like a post's."""

    __tablename__ = "post_note"
    __table_args__ = (
        Index(None, "post_id", "created_at"),
        Index(None, "community_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", ondelete="CASCADE")
    post_id: int = Field(foreign_key="post.id", ondelete="CASCADE")
    author_member_id: int = Field(foreign_key="member.id", ondelete="CASCADE")
    citation: str = Field(sa_type=String(300))
    body: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    edited_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    removed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CallIn(StoreModel, table=True):
    """A private, constructive note from one member to another, delivered by the bot.

    The sender is always stored (moderators see it); `anonymous` hides them from the recipient
    only. The recipient may answer once (`answer`, relayed to the sender) or report it.
    """

    __tablename__ = "call_in"
    __table_args__ = (
        Index(None, "sender_member_id", "created_at"),
        Index(None, "recipient_member_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", ondelete="CASCADE")
    sender_member_id: int = Field(foreign_key="member.id", ondelete="CASCADE")
    recipient_member_id: int = Field(foreign_key="member.id", ondelete="CASCADE")
    post_id: int | None = Field(default=None, foreign_key="post.id", ondelete="SET NULL")
    body: str = Field(sa_type=Text)
    anonymous: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    answer: str | None = Field(default=None, sa_type=Text)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reported_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# --------------------------------------------------------------------------- digests


class DigestSchedule(StoreModel, table=True):
    """A weekly digest posted into a sub-forum at `weekday` (0 = Monday) `hour` in `timezone`."""

    __tablename__ = "digest_schedule"
    __table_args__ = (
        UniqueConstraint("community_id", "subforum_id"),
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("hour BETWEEN 0 AND 23", name="hour"),
    )

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", ondelete="CASCADE")
    subforum_id: int = Field(foreign_key="subforum.id", ondelete="CASCADE")
    weekday: int
    hour: int
    timezone: str = Field(default="UTC", sa_type=KEY)
    template: str | None = Field(default=None, sa_type=Text)
    enabled: bool = True
    created_by_member_id: int | None = Field(default=None, foreign_key="member.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DigestRun(StoreModel, table=True):
    """The exactly-once claim of one digest period: inserting the row *is* the claim.

    `period_end` is stored (not derived from the schedule) because the schedule may change later
    and the run must still say which window it covered.
    """

    __tablename__ = "digest_run"
    __table_args__ = (UniqueConstraint("schedule_id", "period_start"),)

    id: int | None = Field(default=None, primary_key=True)
    schedule_id: int = Field(foreign_key="digest_schedule.id", ondelete="CASCADE")
    period_start: datetime = Field(sa_type=UTCDateTime)
    period_end: datetime = Field(sa_type=UTCDateTime)
    claimed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    claimed_by: str = Field(sa_type=String(128))
    posted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outbox_id: int | None = Field(default=None, foreign_key="outbox_item.id", ondelete="SET NULL")


# --------------------------------------------------------------------------- platform plumbing


class OutboxItem(StoreModel, table=True):
    """A platform side effect to perform at least once, deduplicated by `dedupe_key`.

    Written in the same transaction as the state change that causes it. A worker picks rows with
    `done_at IS NULL AND next_attempt_at <= now` (the index), may push `next_attempt_at` forward
    as a lease while it works, and records `result` (e.g. the sent message id) or `last_error`.
    A row the platform refuses for good, or that failed `outbox.max_attempts` times, is set aside
    (`dead_at`, `dead_reason`: the platform's error summary) until an admin retries or drops it.
    """

    __tablename__ = "outbox_item"
    __table_args__ = (
        Index(None, "done_at", "next_attempt_at"),
        _platform_check(),
    )

    id: int | None = Field(default=None, primary_key=True)
    community_id: int | None = Field(default=None, foreign_key="community.id", ondelete="CASCADE")
    platform: str = Field(sa_type=PLATFORM)
    kind: str = Field(sa_type=String(32))
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    dedupe_key: str = Field(sa_type=String(255), unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=Text)
    result: dict[str, Any] | None = Field(default=None, sa_type=JSON(none_as_null=True))
    dead_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    dead_reason: str | None = Field(default=None, sa_type=Text)


class PlatformCursor(StoreModel, table=True):
    """Where an adapter left off: the Matrix sync token, the last seen message id per channel."""

    __tablename__ = "platform_cursor"
    __table_args__ = (_platform_check(),)

    platform: str = Field(sa_type=PLATFORM, primary_key=True)
    scope: str = Field(sa_type=PLATFORM_ID, primary_key=True)
    value: str = Field(sa_type=Text)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PlatformSession(StoreModel, table=True):
    """A bot login to reuse across restarts (a Matrix device), so each start is not a new device.

    The access token is a secret: it is kept out of `repr()` so it never reaches a log line.
    """

    __tablename__ = "platform_session"
    __table_args__ = (_platform_check(),)

    platform: str = Field(sa_type=PLATFORM, primary_key=True)
    account: str = Field(sa_type=PLATFORM_ID, primary_key=True)
    device_id: str = Field(sa_type=PLATFORM_ID)
    access_token: str = Field(sa_type=Text, repr=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProcessedEvent(StoreModel, table=True):
    """Idempotency for events without a natural key (edits, deletions, reaction removals, commands).

    Insert the row in the same transaction as the event's effects; a duplicate insert means the
    event was already applied. Old rows can be pruned by `processed_at`.
    """

    __tablename__ = "processed_event"
    __table_args__ = (_platform_check(),)

    platform: str = Field(sa_type=PLATFORM, primary_key=True)
    event_id: str = Field(sa_type=PLATFORM_ID, primary_key=True)
    processed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


# --------------------------------------------------------------------------- pile-on detection


class PileOnHit(StoreModel, table=True):
    """One hostile message aimed at a member: the detector's window, kept in the store so that a
    restart neither forgets a pile-on under way nor alerts twice. Only hostile, aimed messages are
    written (a small fraction of traffic); rows older than the window are pruned as they age out.
    """

    __tablename__ = "pileon_hit"
    __table_args__ = (
        UniqueConstraint("platform", "message_id", "target_member_id"),
        Index("ix_pileon_hit_target", "community_id", "target_member_id", "thread_key", "at"),
        _platform_check(),
    )

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", ondelete="CASCADE")
    target_member_id: int = Field(foreign_key="member.id", ondelete="CASCADE")
    author_member_id: int = Field(foreign_key="member.id", ondelete="CASCADE", index=True)
    thread_key: str = Field(sa_type=PLATFORM_ID)
    """The platform thread id, or the room id for chat outside threads."""
    platform: str = Field(sa_type=PLATFORM)
    room_id: str = Field(sa_type=PLATFORM_ID)
    thread_id: str | None = Field(default=None, sa_type=PLATFORM_ID)
    message_id: str = Field(sa_type=PLATFORM_ID)
    at: datetime = Field(sa_type=UTCDateTime)
    score: float = 0.0
    how: str = Field(default="reply", sa_type=String(16))
    """How the message was aimed: reply, mention, name or thread (at the thread's starter)."""


class PileOnAlert(StoreModel, table=True):
    """A pile-on the detector reported: one per target, thread and window, and the case it opened.

    `dismissed_at` is set when a moderator says it was not a pile-on; recent dismissals raise the
    community's threshold (see `services.pileon.detector.threshold`).
    """

    __tablename__ = "pileon_alert"
    __table_args__ = (
        Index("ix_pileon_alert_target", "community_id", "target_member_id", "thread_key", "alerted_at"),
        Index(None, "community_id", "dismissed_at"),
        _platform_check(),
    )

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", ondelete="CASCADE")
    target_member_id: int = Field(foreign_key="member.id", ondelete="CASCADE")
    thread_key: str = Field(sa_type=PLATFORM_ID)
    platform: str = Field(sa_type=PLATFORM)
    room_id: str = Field(sa_type=PLATFORM_ID)
    thread_id: str | None = Field(default=None, sa_type=PLATFORM_ID)
    window_start: datetime = Field(sa_type=UTCDateTime)
    alerted_at: datetime = Field(sa_type=UTCDateTime)
    """The moment of the message that completed the pile-on (the stream's clock)."""
    case_id: int | None = Field(default=None, foreign_key="mod_case.id", ondelete="SET NULL", index=True)
    participants: int = 0
    dismissed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    pace_seconds: int | None = None
    """The pace a moderator set on the thread ("Slow the thread"): while the case is open, the bot
    removes a member's post that comes sooner than this after their previous one there."""
