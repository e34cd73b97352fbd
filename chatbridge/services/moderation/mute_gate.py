"""While a mute is active the bot does not act for the muted member.

The platform's timeout stops their messages; this stops the bot doing things for them on their
behalf (opening threads, liking, reporting, moderating), on every platform and in the console,
because dispatch asks here once before any handler runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session

from chatbridge.registry import Syntax
from chatbridge.services.moderation.policy import Policy
from chatbridge.services.moderation.sanctions import active_mute
from chatbridge.store.tables import Member, Sanction

if TYPE_CHECKING:
    from chatbridge.core import Core


def check(core: Core, session: Session, member: Member, now: datetime, syntax: Syntax) -> str | None:
    """The refusal for a muted member in the syntax they used (None when they are not muted)."""
    mute = active_mute(session, member, now)
    if mute is None:
        return None
    appeal = core.registry.specs.get(("appeal",))
    how = core.registry.invocation(appeal, syntax, full=False) if appeal else "appeal"
    return _refusal(Policy.of(core), mute, appeal=how)


def _refusal(policy: Policy, mute: Sanction, *, appeal: str) -> str:
    until = f"until {policy.when(mute.ends_at)}" if mute.ends_at is not None else "for now"
    if mute.appealed_at is not None:
        how = "Your appeal is with the moderators."
    else:
        how = f"If you think it is wrong, you can appeal once: `{appeal}` followed by why."
    return f"You are muted {until}, so I can't do that for you while the mute lasts. {how}"
