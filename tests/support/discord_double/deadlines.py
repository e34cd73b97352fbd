"""An interaction's two deadlines: 3 seconds for the first response, 15 minutes for its token.

developers/interactions/receiving-and-responding.mdx ("Responding to an Interaction"): "Interaction
tokens are valid for 15 minutes ... but you must send an initial response within 3 seconds of
receiving the event. If the 3 second deadline is exceeded, the token will be invalidated."
A late callback is answered 404 10062 Unknown interaction; the webhook routes of an invalidated
or expired token answer 401 50027 Invalid Webhook Token (codes from
developers/topics/opcodes-and-status-codes.mdx).
"""

from __future__ import annotations

from .clock import DoubleClock
from .rest_app import ApiError
from .state import InteractionState

FIRST_RESPONSE_SECONDS = 3.0
TOKEN_SECONDS = 15 * 60.0


def check_first_response(state: InteractionState, clock: DoubleClock) -> None:
    """A callback must come within 3 s of the dispatch; after that the interaction is gone."""
    if state.acknowledged:
        return
    if state.token_invalidated or clock.now() - state.created_at > FIRST_RESPONSE_SECONDS:
        state.token_invalidated = True
        raise ApiError(404, 10062, "Unknown interaction")


def check_token(state: InteractionState, clock: DoubleClock) -> None:
    """Followups and edits need a token that was acknowledged in time and is under 15 min old."""
    if not state.acknowledged and clock.now() - state.created_at > FIRST_RESPONSE_SECONDS:
        state.token_invalidated = True
    if state.token_invalidated or clock.now() - state.created_at > TOKEN_SECONDS:
        raise ApiError(401, 50027, "Invalid Webhook Token")
