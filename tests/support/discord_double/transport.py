"""Gateway transport compression, matching what the client asks for in the URL query.

https://discord.com/developers/docs/events/gateway#transport-compression

discord.py 2.7 always connects with ``compress=zlib-stream`` (or ``zstd-stream`` when the
``zstandard`` package or Python 3.14's ``compression.zstd`` is importable) and always decompresses
binary frames through one shared context per connection.  The double therefore compresses with
one shared context per connection too; sending plain text to such a client would work today but
would hide a broken decompression path.
"""

from __future__ import annotations

import importlib
import zlib
from typing import Any, Protocol

ZLIB_SUFFIX = b"\x00\x00\xff\xff"


class Encoder(Protocol):
    """Turns one JSON text into one websocket frame's payload."""

    binary: bool

    def encode(self, text: str) -> bytes | str: ...


class PlainEncoder:
    """No transport compression: JSON text frames."""

    binary = False

    def encode(self, text: str) -> str:
        return text


class ZlibStreamEncoder:
    """zlib-stream: one deflate context per connection, each message ending in Z_SYNC_FLUSH."""

    binary = True

    def __init__(self) -> None:
        self._context = zlib.compressobj()

    def encode(self, text: str) -> bytes:
        data = self._context.compress(text.encode("utf-8")) + self._context.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(ZLIB_SUFFIX)
        return data


class ZstdStreamEncoder:
    """zstd-stream: one zstd context per connection, each message a flushed block of one frame."""

    binary = True

    def __init__(self) -> None:
        self._compress = _zstd_block_compressor()

    def encode(self, text: str) -> bytes:
        return bytes(self._compress(text.encode("utf-8")))


def _zstd_block_compressor() -> Any:
    # Imported lazily and dynamically: neither module is a declared dependency; discord.py only
    # asks for zstd-stream when one of them is importable, so one of them is present whenever
    # this runs.
    try:
        zstandard: Any = importlib.import_module("zstandard")
    except ImportError:
        stdlib: Any = importlib.import_module("compression.zstd")
        compressor = stdlib.ZstdCompressor()
        return lambda data: compressor.compress(data, mode=stdlib.ZstdCompressor.FLUSH_BLOCK)
    context = zstandard.ZstdCompressor().compressobj()
    return lambda data: context.compress(data) + context.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)


class UnsupportedCompressionError(ValueError):
    """The client asked for a transport compression Discord does not offer."""


def encoder_for(compress: str | None) -> Encoder:
    if compress is None:
        return PlainEncoder()
    if compress == "zlib-stream":
        return ZlibStreamEncoder()
    if compress == "zstd-stream":
        return ZstdStreamEncoder()
    raise UnsupportedCompressionError(compress)
