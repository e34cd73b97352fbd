"""The outbox side of moderation: carry out an action, then write back what the platform said.

The plain executors in `services.outbox` only talk to the platform. These wrap them with the store:
they re-read the sanction or case when the row runs (so a delayed row acts on the state as it is
now, never on a stale copy), keep what the platform reports (the card's message id, the state a mute
replaced), and turn a refusal (`PlatformError`: a missing permission) into a log entry, a line on
the case card and a plain-words notice to the moderators. Rate limits (`RetryLater`) and other
errors propagate, so the worker retries them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlmodel import Session

from chatbridge.model import MessageRef, OutgoingMessage, PlatformName, Room
from chatbridge.platform import Platform, PlatformError, RetryLater
from chatbridge.services.moderation import log, notices, queue, sanctions
from chatbridge.services.moderation.policy import Policy
from chatbridge.services.outbox import (
    Executor,
    execute_apply_mute,
    execute_delete_message,
    execute_lift_mute,
)
from chatbridge.store.tables import Member, ModCase, Sanction

if TYPE_CHECKING:
    from chatbridge.core import Core

logger = logging.getLogger(__name__)


def moderation_executors(core: Core) -> dict[str, Executor]:
    """The outbox kinds moderation carries out; the application adds them to the defaults."""
    return ModerationExecutors(core.engine, Policy.of(core), core.clock).as_dict()


@dataclass
class ModerationExecutors:
    engine: Engine
    policy: Policy
    clock: Callable[[], datetime]

    def as_dict(self) -> dict[str, Executor]:
        return {
            "queue_card": self.queue_card,
            "apply_mute": self.apply_mute,
            "lift_mute": self.lift_mute,
            "delete_message": self.delete_message,
            "slowmode": self.slowmode,
        }

    # -- the case card ----------------------------------------------------------------------------

    async def queue_card(self, platform: Platform, payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        """Post the card (first row) or edit it (later rows), rendered from the case as it is now.

        A refused post is set aside for an admin (`chatbridge outbox retry` posts it once the bot
        may post in the queue room); a refused edit is final, since the case itself is safe in the
        store and in `!queue`.
        """
        case_id = int(payload["case_id"])
        prepared = await asyncio.to_thread(self._prepare_card, platform, case_id)
        if prepared is None:
            return {"skipped": "no such case, or no queue room on this platform"}
        room, message, existing = prepared
        if existing is not None:
            try:
                await platform.edit_message(existing, message)
            except RetryLater:
                raise
            except PlatformError as refusal:
                logger.warning("could not update the card of case %s: %s", case_id, refusal)
                return {"refused": str(refusal)}
            return {"edited": existing.message_id}
        if not payload.get("post", False):
            # An update that overtook the first post (which was rate limited): the post, when it
            # goes out, shows the case as it is then, this update included.
            return {"skipped": "the card is not posted yet"}
        ref = await platform.send(room, message, idempotency_key=f"case-card-{case_id}")
        await asyncio.to_thread(self._card_posted, case_id, platform.name, ref)
        return {"message_id": ref.message_id, "room_id": ref.room_id, "thread_id": ref.thread_id}

    def _prepare_card(
        self, platform: Platform, case_id: int
    ) -> tuple[Room, OutgoingMessage, MessageRef | None] | None:
        with Session(self.engine) as session:
            case = session.get(ModCase, case_id)
            if case is None:
                return None
            room = notices.queue_room(
                session, self.policy, case.community_id, platform.name, escalated=case.escalated_to_admins
            )
            if room is None:
                return None
            message = queue.render_card(session, self.policy, case, platform.permalink)
            return room, message, queue.card_ref(session, case)

    def _card_posted(self, case_id: int, platform: PlatformName, ref: MessageRef) -> None:
        with Session(self.engine) as session:
            case = session.get(ModCase, case_id)
            if case is None:
                return
            case.queue_platform = platform.value
            case.queue_message_id = ref.message_id
            session.commit()

    # -- mutes ------------------------------------------------------------------------------------

    async def apply_mute(self, platform: Platform, payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        sanction_id = int(payload["sanction_id"])
        current = await asyncio.to_thread(self._active_mute, sanction_id)
        if current is None:
            return {"skipped": "the mute was lifted or has ended"}
        until, reason = current
        try:
            result = await execute_apply_mute(
                platform, {**payload, "until": until.isoformat(), "reason": reason}, key
            )
        except RetryLater:
            raise
        except PlatformError as refusal:
            await asyncio.to_thread(self._refused, "mute", platform.name, payload, refusal, key)
            return {"refused": str(refusal)}
        await asyncio.to_thread(self._mute_applied, sanction_id, platform.name, payload, result)
        return result

    def _active_mute(self, sanction_id: int) -> tuple[datetime, str] | None:
        with Session(self.engine) as session:
            sanction = session.get(Sanction, sanction_id)
            now = self.clock()
            if (
                sanction is None
                or sanction.lifted_at is not None
                or sanction.ends_at is None
                or sanction.ends_at <= now
            ):
                return None
            return sanction.ends_at, sanction.reason

    def _mute_applied(
        self, sanction_id: int, platform: PlatformName, payload: Mapping[str, Any], result: Mapping[str, Any]
    ) -> None:
        """Keep the first previous state per account: a re-application (re-join, renewal, retry)
        must not record the bot's own mute as the state to restore."""
        with Session(self.engine) as session:
            sanction = session.get(Sanction, sanction_id)
            if sanction is None:
                return
            account = f"{platform.value}:{payload['user_id']}"
            states = dict(sanction.previous_state or {})
            if account not in states:
                states[account] = dict(result.get("previous_state") or {})
                sanction.previous_state = states
            applied = result.get("applied_until")
            sanction.platform_applied_until = datetime.fromisoformat(applied) if applied else None
            session.commit()

    async def lift_mute(self, platform: Platform, payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        sanction_id = int(payload["sanction_id"])
        previous = await asyncio.to_thread(self._previous_state, sanction_id, platform.name, payload)
        if previous is None:
            return {"skipped": "a newer mute is active"}
        try:
            await execute_lift_mute(platform, {**payload, "previous_state": previous}, key)
        except RetryLater:
            raise
        except PlatformError as refusal:
            await asyncio.to_thread(self._refused, "unmute", platform.name, payload, refusal, key)
            return {"refused": str(refusal)}
        return {"lifted": True}

    def _previous_state(
        self, sanction_id: int, platform: PlatformName, payload: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """What to restore, read now (the apply may have finished after the lift was queued);
        None when another mute of the same member is active, which a late lift must not undo."""
        with Session(self.engine) as session:
            sanction = session.get(Sanction, sanction_id)
            if sanction is None:
                return dict(payload.get("previous_state") or {})
            member = session.get(Member, sanction.member_id)
            newer = sanctions.active_mute(session, member, self.clock()) if member else None
            if newer is not None and newer.id != sanction.id:
                return None
            stored = (sanction.previous_state or {}).get(f"{platform.value}:{payload['user_id']}")
            return dict(stored if stored is not None else payload.get("previous_state") or {})

    # -- deleting the reported message ------------------------------------------------------------

    async def delete_message(
        self, platform: Platform, payload: Mapping[str, Any], key: str
    ) -> Mapping[str, Any]:
        try:
            await execute_delete_message(platform, payload, key)
        except RetryLater:
            raise
        except PlatformError as refusal:
            if "case_id" not in payload:
                raise
            await asyncio.to_thread(self._refused, "delete", platform.name, payload, refusal, key)
            return {"refused": str(refusal)}
        return {"deleted": True}

    # -- slowing a thread (a pile-on case) -------------------------------------------------------

    async def slowmode(self, platform: Platform, payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        room = Room(platform.name, payload["community_id"], payload["room_id"], payload["room_id"])
        try:
            await platform.set_slowmode(room, payload.get("thread_id"), int(payload["seconds"]))
        except RetryLater:
            raise
        except PlatformError as refusal:
            await asyncio.to_thread(self._refused, "slow the thread", platform.name, payload, refusal, key)
            return {"refused": str(refusal)}
        return {"seconds": int(payload["seconds"])}

    # -- refusals ---------------------------------------------------------------------------------

    def _refused(
        self,
        action: str,
        platform: PlatformName,
        payload: Mapping[str, Any],
        refusal: PlatformError,
        key: str,
    ) -> None:
        """Record a refusal in the case log and on the card, and tell the moderators in plain words."""
        now = self.clock()
        with Session(self.engine) as session:
            sanction = session.get(Sanction, payload["sanction_id"]) if "sanction_id" in payload else None
            case_id = sanction.case_id if sanction is not None else payload.get("case_id")
            case = session.get(ModCase, case_id) if case_id is not None else None
            subject_id = (
                sanction.member_id if sanction is not None else (case.subject_member_id if case else None)
            )
            subject = session.get(Member, subject_id) if subject_id is not None else None
            moderator_id = (
                sanction.moderator_member_id if sanction is not None else payload.get("moderator_member_id")
            )
            moderator = session.get(Member, moderator_id) if moderator_id is not None else None
            community_id = (
                sanction.community_id if sanction is not None else case.community_id if case else None
            )
            if community_id is None:
                logger.warning("a %s was refused for an unknown case: %s", action, refusal)
                return
            entry = log.record(
                session,
                community_id=community_id,
                action=f"{action}_failed",
                now=now,
                subject=subject,
                case=case,
                platform=platform.value,
                error=str(refusal)[:500],
                sanction_id=sanction.id if sanction else None,
            )
            if case is not None:
                case.updated_at = now
                queue.card_changed(session, self.policy, case, entry, now)
            notices.to_moderators(
                session,
                self.policy,
                community_id=community_id,
                platform=platform,
                template="action_refused",
                dedupe_key=f"refused:{key}",
                now=now,
                escalated=bool(case and case.escalated_to_admins),
                fallback=moderator,
                action=action,
                subject=subject.display_name if subject else "that member",
                error=str(refusal),
                case=case,
                platform_name=platform.value.capitalize(),
                prefix=self.policy.prefix,
            )
            session.commit()
