"""What a command handler gets: who asked, where, the store session and ways to answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from chatbridge.errors import CommandError
from chatbridge.model import CommandInvoked, MessageRef, OutgoingMessage, Privilege
from chatbridge.platform import Platform
from chatbridge.registry import CommandSpec

if TYPE_CHECKING:
    from chatbridge.core import Core
    from chatbridge.services.ingest import Notice
    from chatbridge.store.tables import Community, Member, SubForum, Thread


@dataclass
class Context:
    """One command invocation, valid for the duration of its store transaction."""

    core: Core
    platform: Platform
    event: CommandInvoked
    spec: CommandSpec
    session: Session
    community: Community
    member: Member
    subforum: SubForum | None
    thread: Thread | None
    privilege: Privilege
    now: datetime
    mention_user_ids: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    """Further messages (trophy announcements) sent after the transaction commits."""

    @property
    def target(self) -> MessageRef | None:
        return self.event.target

    def reply(self, template: str, /, *, ephemeral: bool | None = None, **values: Any) -> OutgoingMessage:
        """Render a template from templates/ as this command's answer."""
        text = self.core.renderer.render(template, **values)
        return self.say(text, ephemeral=ephemeral)

    def say(self, markdown: str, *, ephemeral: bool | None = None) -> OutgoingMessage:
        return OutgoingMessage(
            markdown=markdown,
            ephemeral=self.spec.ephemeral if ephemeral is None else ephemeral,
            mention_user_ids=tuple(self.mention_user_ids),
        )

    def require(self, level: Privilege, what: str) -> None:
        """Re-check privilege inside a handler (platform command permissions can be overridden)."""
        if self.privilege < level:
            raise CommandError(f"Only {level.name.lower()}s can {what}.")

    def thread_named(self, text: str | None) -> Thread:
        """The thread a command means: the one it was typed in, or one named by number or title."""
        from chatbridge.services import threads

        if text is None or text.strip().lower() in {"", "here", "this"}:
            if self.thread is None or self.thread.removed:
                raise CommandError(
                    "Name a thread (its number like #12, or its title), or use this inside one."
                )
            return self.thread
        return threads.find(self.session, self.community, text)

    def member_named(self, text: str | None) -> Member:
        """A member named by mention, id or display name; yourself when nothing is given."""
        from chatbridge.services import directory

        if text is None or not text.strip():
            target = self.event.target_user
            if target is None:
                return self.member
            # A right-click on someone the forum has not heard from yet: they are a member too.
            return directory.resolve_member(self.session, self.community, target, self.now)
        return directory.find_member(self.session, self.community, text, self.event.room.platform)

    def log_action(self, action: str, subject: Member | None = None, **detail: object) -> None:
        """Every moderation action lands in the case log, in the same transaction as the action."""
        from chatbridge.store.tables import ModLogEntry

        assert self.community.id is not None
        self.session.add(
            ModLogEntry(
                community_id=self.community.id,
                subject_member_id=subject.id if subject else None,
                actor_member_id=self.member.id,
                action=action,
                detail=dict(detail),
                created_at=self.now,
            )
        )
