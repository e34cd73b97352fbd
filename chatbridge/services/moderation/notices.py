"""What the bot tells people about moderation, always through the outbox.

Nothing here talks to a platform: a notice is an outbox row written in the caller's transaction,
so it goes out once the decision is durable, and a restart or a rate limit only delays it.
Member-facing notices are direct messages (never a public post), and they never mention anyone.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from sqlmodel import Session, select

from chatbridge.model import OutgoingMessage, PlatformName, Room
from chatbridge.services.moderation.policy import Policy
from chatbridge.services.outbox import enqueue, message_payload, send_payload
from chatbridge.store.tables import CommunityBinding, Identity, Member, SubForum

log = logging.getLogger(__name__)


def platform_community_id(session: Session, community_id: int, platform: PlatformName) -> str | None:
    """The guild or space id a community has on one platform."""
    binding = session.exec(
        select(CommunityBinding).where(
            CommunityBinding.community_id == community_id, CommunityBinding.platform == platform.value
        )
    ).first()
    return binding.platform_id if binding is not None else None


def identities(session: Session, member: Member, prefer: PlatformName | None = None) -> list[Identity]:
    """A member's platform accounts, the preferred platform's first."""
    found = list(session.exec(select(Identity).where(Identity.member_id == member.id)).all())
    return sorted(found, key=lambda i: (prefer is None or i.platform != prefer.value, i.id or 0))


def dm(
    session: Session,
    policy: Policy,
    *,
    member: Member,
    template: str,
    dedupe_key: str,
    now: datetime,
    prefer: PlatformName | None = None,
    **values: object,
) -> bool:
    """Queue a direct message to a member on one of their platforms; False if they have none."""
    message = OutgoingMessage(policy.render(template, member=member, **values))
    if enqueue_dm(session, member, message, dedupe_key=dedupe_key, now=now, prefer=prefer) is None:
        log.warning("member %s has no platform account to write to", member.id)
        return False
    return True


def enqueue_dm(
    session: Session,
    member: Member,
    message: OutgoingMessage,
    *,
    dedupe_key: str,
    now: datetime,
    prefer: PlatformName | None = None,
) -> Identity | None:
    """Queue `message` as a direct message on the first of the member's platforms the community
    is on (`prefer` first); the identity written to, or None when there is none."""
    for identity in identities(session, member, prefer):
        platform = PlatformName(identity.platform)
        community_platform_id = platform_community_id(session, member.community_id, platform)
        if community_platform_id is None:
            continue
        enqueue(
            session,
            platform=platform,
            kind="dm",
            payload={
                "community_id": community_platform_id,
                "user_id": identity.platform_user_id,
                "message": message_payload(message),
            },
            dedupe_key=dedupe_key,
            now=now,
            community_id=member.community_id,
        )
        return identity
    return None


def queue_room(
    session: Session, policy: Policy, community_id: int, platform: PlatformName, *, escalated: bool
) -> Room | None:
    """The moderators' room (or the admins' room for a case about a moderator) on a platform.

    The setting names a sub-forum (as it is called, loosely) or gives a platform room id; None when
    it is not set or the community is not on that platform.
    """
    wanted = policy.config.admin_queue_room if escalated else policy.config.queue_room
    community_platform_id = platform_community_id(session, community_id, platform)
    if not wanted or community_platform_id is None:
        return None
    for subforum in session.exec(
        select(SubForum).where(SubForum.community_id == community_id, SubForum.platform == platform.value)
    ).all():
        if subforum.platform_room_id == wanted or _fold(subforum.name) == _fold(wanted):
            return Room(platform, community_platform_id, subforum.platform_room_id, subforum.name)
    return Room(platform, community_platform_id, wanted, wanted)


def _fold(name: str) -> str:
    """ "Mod Queue", "#mod-queue" and "mod_queue" name the same room."""
    return re.sub(r"[\s\-_#]+", " ", name).strip().casefold()


def to_moderators(
    session: Session,
    policy: Policy,
    *,
    community_id: int,
    platform: PlatformName,
    template: str,
    dedupe_key: str,
    now: datetime,
    escalated: bool = False,
    fallback: Member | None = None,
    **values: object,
) -> None:
    """Tell the moderators something (a platform refused an action): in the queue room, or by
    direct message to `fallback` (the moderator who acted) when there is no queue room."""
    room = queue_room(session, policy, community_id, platform, escalated=escalated)
    if room is None:
        if fallback is not None:
            dm(
                session,
                policy,
                member=fallback,
                template=template,
                dedupe_key=dedupe_key,
                now=now,
                prefer=platform,
                **values,
            )
        else:
            log.warning("no moderators' room to tell about %s", dedupe_key)
        return
    message = OutgoingMessage(policy.render(template, **values))
    enqueue(
        session,
        platform=platform,
        kind="send",
        payload=send_payload(room, message),
        dedupe_key=dedupe_key,
        now=now,
        community_id=community_id,
    )
