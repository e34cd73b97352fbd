"""The Matrix adapter: matrix-nio shell (`client`) around pure translation (`translate`, `rooms`)."""

from chatbridge.adapters.matrix.client import (
    MatrixLoginError,
    MatrixOptions,
    MatrixPlatform,
    PlatformState,
    RateLimited,
    StoredSession,
)
from chatbridge.adapters.matrix.rooms import Levels

__all__ = [
    "Levels",
    "MatrixLoginError",
    "MatrixOptions",
    "MatrixPlatform",
    "PlatformState",
    "RateLimited",
    "StoredSession",
]
