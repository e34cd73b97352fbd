"""A local Synapse homeserver for trying chatbridge without any platform account, and for the
end-to-end tests. Needs the ``sandbox`` extra (matrix-synapse) only when a server is started."""

from chatbridge.sandbox.config import DEFAULT_SERVER_NAME, RateLimits
from chatbridge.sandbox.homeserver import (
    Homeserver,
    HomeserverError,
    HomeserverStartError,
    RegisteredUser,
    UserExistsError,
)

__all__ = [
    "DEFAULT_SERVER_NAME",
    "Homeserver",
    "HomeserverError",
    "HomeserverStartError",
    "RateLimits",
    "RegisteredUser",
    "UserExistsError",
]
