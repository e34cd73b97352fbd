"""The timeouts the bot gives itself, remembered so their member updates are not taken for a
moderator's."""

from __future__ import annotations

from datetime import datetime

from chatbridge.adapters.discord.state import PlatformState

OWN_TIMEOUTS = 1024


class OwnTimeouts(PlatformState):
    """The bot's own timeout changes, bounded."""

    def _timing_out(self, guild_id: int, user_id: int, until: datetime | None) -> None:
        """Remember a timeout change the bot is about to make, so its GUILD_MEMBER_UPDATE is not
        taken for a moderator's (bounded: an update that never came is forgotten eventually).
        Discord keeps the end to the millisecond, so it is compared to the second."""
        self._own_timeouts[(guild_id, user_id, to_second(until))] = True
        while len(self._own_timeouts) > OWN_TIMEOUTS:
            self._own_timeouts.popitem(last=False)


def to_second(moment: datetime | None) -> datetime | None:
    return moment.replace(microsecond=0) if moment is not None else None
