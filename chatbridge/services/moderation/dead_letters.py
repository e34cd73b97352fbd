"""Telling the moderators, once, that an action was set aside (an outbox dead letter).

The notice goes to the moderators' queue room (on the item's platform, else on another platform
the community has one on), through the outbox like every notice. It names the item by id, its
kind and the platform's error summary, never the payload (which may hold member text or a
moderation reason). Without a queue room, or for a notice that itself could not be posted, the
warning the worker logs (with the ids) is the whole notice, so one failing room cannot start a
chain of notices about notices.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session

from chatbridge.model import OutgoingMessage, PlatformName
from chatbridge.services.moderation.notices import queue_room
from chatbridge.services.moderation.policy import Policy
from chatbridge.services.outbox import DeadLetterHook, enqueue, send_payload
from chatbridge.store.tables import OutboxItem

log = logging.getLogger(__name__)

NOTICE_KEY = "outbox-dead:"
"""The dedupe key prefix of these notices: one per item and time it was set aside."""

KINDS = {
    "send": "a post",
    "dm": "a direct message",
    "queue_card": "a case card",
    "apply_mute": "a mute",
    "lift_mute": "an unmute",
    "delete_message": "a message deletion",
    "digest": "a digest",
}


def dead_letter_notices(policy: Policy) -> DeadLetterHook:
    """The outbox worker's hook: queue the moderators' notice in the transaction that sets aside."""

    def notify(session: Session, item: OutboxItem, now: datetime) -> None:
        if item.dedupe_key.startswith(NOTICE_KEY) or item.community_id is None or item.id is None:
            return
        platform = PlatformName(item.platform)
        others = [p for p in PlatformName if p is not platform]
        for where in (platform, *others):
            room = queue_room(session, policy, item.community_id, where, escalated=False)
            if room is None:
                continue
            message = OutgoingMessage(
                policy.render(
                    "outbox_dead",
                    item_id=item.id,
                    what=KINDS.get(item.kind, item.kind),
                    platform_name=platform.value.capitalize(),
                    attempts=item.attempts,
                    reason=item.dead_reason or "",
                )
            )
            stamp = (item.dead_at or now).isoformat()
            enqueue(
                session,
                platform=where,
                kind="send",
                payload=send_payload(room, message),
                dedupe_key=f"{NOTICE_KEY}{item.id}:{stamp}",
                now=now,
                community_id=item.community_id,
            )
            return
        log.warning("no moderators' room to tell that outbox item %s was set aside", item.id)

    return notify
