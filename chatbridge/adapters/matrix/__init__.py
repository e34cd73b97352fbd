"""The Matrix adapter: matrix-nio shell (`client`) around pure translation (`translate`, `rooms`)."""

from chatbridge.adapters.matrix.client import MatrixOptions, MatrixPlatform
from chatbridge.adapters.matrix.errors import HomeserverUnavailable, MatrixLoginError, RateLimited
from chatbridge.adapters.matrix.login import PlatformState, StoredSession
from chatbridge.adapters.matrix.rooms import Levels

__all__ = [
    "HomeserverUnavailable",
    "Levels",
    "MatrixLoginError",
    "MatrixOptions",
    "MatrixPlatform",
    "PlatformState",
    "RateLimited",
    "StoredSession",
]
