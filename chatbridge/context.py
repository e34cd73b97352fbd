"""What a command handler gets: who asked, where, the store session and ways to answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlmodel import Session

from chatbridge.errors import CommandError, NotFound
from chatbridge.model import CommandInvoked, MessageRef, OutgoingMessage, Privilege
from chatbridge.platform import Platform
from chatbridge.registry import CommandSpec
from chatbridge.services.visibility import Audience, ReadCheck, hidden_subforum_ids, reach, reach_member

if TYPE_CHECKING:
    from chatbridge.core import Core
    from chatbridge.services.ingest import Notice
    from chatbridge.store.tables import Community, Member, SubForum, Thread

T = TypeVar("T")


class PlatformNeeded(Exception):
    """A handler needs the platform's answer to `call` before it can decide: the dispatcher rolls
    the transaction back, makes the call with no transaction open, and runs the handler again."""

    def __init__(self, key: str, call: Callable[[], Awaitable[object]]) -> None:
        super().__init__(key)
        self.key = key
        self.call = call


@dataclass(frozen=True, slots=True)
class Raised:
    """A platform call that failed: the handler sees the same exception where it asked."""

    error: Exception


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
    platform_answers: dict[str, object] = field(default_factory=dict)
    """What the platform answered to the calls this invocation made outside its transaction, by
    key (see `from_platform`); kept by the dispatcher across the handler's runs."""
    audience: Audience = field(init=False)
    """Who will read the answer: the room it is asked in, or the asker alone for an ephemeral
    command. `may_show` narrows it to the asker when the answer speaks of a private sub-forum."""

    def __post_init__(self) -> None:
        self.audience = Audience(
            platform=self.event.room.platform,
            # A direct chat holds only the asker and the bot: as private as an ephemeral answer.
            room_id=None if self.spec.ephemeral or self.event.direct else self.event.room.room_id,
            asker_member_id=self.member.id,
            asker_privilege=self.privilege,
            asker_reads=_reads_as(self.platform, self.event.actor.user_id),
        )

    @property
    def target(self) -> MessageRef | None:
        return self.event.target

    def reply(self, template: str, /, *, ephemeral: bool | None = None, **values: Any) -> OutgoingMessage:
        """Render a template from templates/ as this command's answer."""
        text = self.core.renderer.render(template, **values)
        return self.say(text, ephemeral=ephemeral)

    def say(self, markdown: str, *, ephemeral: bool | None = None) -> OutgoingMessage:
        ephemeral = self.spec.ephemeral if ephemeral is None else ephemeral
        return OutgoingMessage(
            markdown=markdown,
            ephemeral=ephemeral or self.audience.private,
            mention_user_ids=tuple(self.mention_user_ids),
        )

    def from_platform(self, key: str, call: Callable[[], Awaitable[T]]) -> T:
        """The platform's answer to `call` (a member's role, the new forum post's id), without
        waiting on the platform while the store transaction is open: a slow or rate-limited call
        would hold the store for everyone. The first time, this stops the handler (see
        `PlatformNeeded`); the next run gets the answer, or the call's exception raised here.
        `key` names the call within this invocation; make a side effect (a new post) the last
        thing a handler asks for, after every check that could refuse the command."""
        if key not in self.platform_answers:
            raise PlatformNeeded(key, call)
        answer = self.platform_answers[key]
        if isinstance(answer, Raised):
            raise answer.error
        return cast(T, answer)

    def require(self, level: Privilege, what: str) -> None:
        """Re-check privilege inside a handler (platform command permissions can be overridden)."""
        if self.privilege < level:
            raise CommandError(f"Only {level.name.lower()}s can {what}.")

    def may_show(self, subforum: SubForum) -> bool:
        """Whether this answer may speak of something in `subforum` (the one visibility rule).

        A member who can read a private sub-forum but asked in a public room is answered privately:
        the audience narrows to them, and every later `say` is ephemeral.
        """
        reached = reach(self.audience, subforum)
        if reached is None:
            return False
        self.audience = reached
        return True

    def private_subforums(self) -> list[SubForum]:
        from sqlmodel import col, select

        from chatbridge.store.tables import SubForum

        return list(
            self.session.exec(
                select(SubForum).where(SubForum.community_id == self.community.id, col(SubForum.private))
            ).all()
        )

    def hidden_subforums(self) -> set[int]:
        """Sub-forums the asker may not hear of at all: lookups treat them as nonexistent."""
        return hidden_subforum_ids(self.audience, self.private_subforums())

    def may_name(self, member: Member) -> bool:
        """Whether this answer may name `member` (see `reach_member`); like `may_show`, a reader of
        a private room asking in public about someone seen only there is answered privately."""
        from chatbridge.services import directory

        if member.id == self.member.id or not directory.is_seen_only_in_private(self.session, member):
            return True
        reached = reach_member(
            self.audience, seen_in_public=False, is_asker=False, private_subforums=self.private_subforums()
        )
        if reached is None:
            return False
        self.audience = reached
        return True

    def names_everyone(self) -> bool:
        """Whether this answer, as it stands, may name members seen only in private rooms (a
        listing keeps its audience and leaves their names out instead of going private)."""
        return any(reach(self.audience, s) is self.audience for s in self.private_subforums())

    def thread_named(self, text: str | None) -> Thread:
        """The thread a command means: the one it was typed in, or one named by number or title.

        A thread the asker may not see reads exactly like one that does not exist; one they may see
        only privately makes the answer private (see `may_show`).
        """
        from chatbridge.services import threads
        from chatbridge.store.tables import SubForum

        if text is None or text.strip().lower() in {"", "here", "this"}:
            if self.thread is None or self.thread.removed:
                raise CommandError(
                    "Name a thread (its number like #12, or its title), or use this inside one."
                )
            return self.thread
        found = threads.find(self.session, self.community, text, hidden=self.hidden_subforums())
        subforum = self.session.get(SubForum, found.subforum_id)
        if subforum is None or not self.may_show(subforum):
            raise NotFound("I can't find that thread.")  # unreachable: `find` left hidden ones out
        return found

    def member_named(self, text: str | None) -> Member:
        """A member named by mention, id or display name; yourself when nothing is given."""
        from chatbridge.services import directory

        if text is None or not text.strip():
            target = self.event.target_user
            if target is None:
                return self.member
            # A right-click on someone the forum has not heard from yet: they are a member too.
            return directory.resolve_member(self.session, self.community, target, self.now)
        return directory.find_member(
            self.session, self.community, text, self.event.room.platform, visible=self.may_name
        )

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


def _reads_as(platform: Platform, user_id: str) -> ReadCheck:
    """The platform's membership check, bound to the asking member."""

    def reads(room_id: str) -> bool:
        return platform.can_read(room_id, user_id)

    return reads
