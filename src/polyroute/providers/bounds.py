"""Bounds on what an upstream can make the gateway hold: body size, event size, decompression.

An upstream is a server the gateway does not control (a client's `user_config` upstream always,
an operator's one may be compromised or broken). Without bounds a 201 KB gzip body unpacks to
200 MB, and an event that never ends grows a buffer until the process dies. So:

  * bodies are decompressed here, not by aiohttp, in steps of at most `_STEP` output bytes
    (zlib's `max_length`), and every step checks the total and the ratio to the input so far;
  * a whole (non-streamed) answer may hold at most `upstream_max_body_mb` after decompression;
  * a stream's events are bounded one by one (protocol/sse.py); the stream as a whole may carry
    at most `upstream_max_stream_mb` (a long generation is a few MB of SSE).

Settings are `general_settings` keys (docs/configuration.md).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from polyroute.errors import UpstreamError, UpstreamTooLargeError

MB = 1024 * 1024
_STEP = 256 * 1024  # most output bytes one decompression step may produce
# Ratios below this floor of output are never refused: tiny answers compress unevenly.
_RATIO_FLOOR = 128 * 1024
# What the gateway asks upstreams for: only what it can decompress in bounded steps.
ACCEPT_ENCODING = "gzip, deflate"


class UpstreamLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: largest whole (non-streamed) answer, after decompression
    upstream_max_body_mb: float = Field(default=64.0, gt=0, le=4096)
    #: largest single SSE event of a stream
    upstream_max_event_kb: float = Field(default=1024.0, gt=0, le=1024 * 1024)
    #: largest stream, all events together, after decompression
    upstream_max_stream_mb: float = Field(default=256.0, gt=0, le=65536)
    #: most bytes one compressed byte may unpack to (gzip of JSON text is 5-20; a bomb is ~1000)
    upstream_max_decompression_ratio: float = Field(default=100.0, ge=2, le=10_000)

    @property
    def max_body_bytes(self) -> int:
        return int(self.upstream_max_body_mb * MB)

    @property
    def max_event_bytes(self) -> int:
        return int(self.upstream_max_event_kb * 1024)

    @property
    def max_stream_bytes(self) -> int:
        return int(self.upstream_max_stream_mb * MB)


UPSTREAM_LIMIT_KEYS = frozenset(UpstreamLimits.model_fields)


class BoundedBody:
    """Turns the raw (maybe compressed) bytes of one upstream answer into its content, refusing
    more than `max_bytes` of content or a content-to-input ratio above `max_ratio`."""

    __slots__ = ("_decoder", "_encoding", "_max_bytes", "_max_ratio", "_in", "_out", "_what")

    def __init__(self, content_encoding: str | None, max_bytes: int, max_ratio: float, what: str) -> None:
        encoding = (content_encoding or "identity").strip().lower()
        if encoding not in ("identity", "", "gzip", "x-gzip", "deflate"):
            raise UpstreamError(f"{what} is encoded as {encoding[:32]!r}, which the gateway did not ask for")
        self._encoding = encoding
        self._decoder = _new_decoder(encoding)
        self._max_bytes = max_bytes
        self._max_ratio = max_ratio
        self._in = 0
        self._out = 0
        self._what = what

    @property
    def size(self) -> int:
        """Content bytes produced so far."""
        return self._out

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The content of `data`, in pieces of at most `_STEP` bytes each, checked as they come."""
        if self._decoder is None:
            self._in += len(data)
            self._count(len(data))
            if data:
                yield data
            return
        self._in += len(data)
        pending = data
        while pending:
            try:
                piece = self._decoder.decompress(pending, _STEP)
            except zlib.error as exc:
                if self._out == 0 and self._encoding == "deflate" and self._in == len(data):
                    # Some servers send raw deflate without the zlib header (aiohttp accepts both).
                    self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise UpstreamError(f"{self._what} is not valid {self._encoding} data") from exc
            pending = self._decoder.unconsumed_tail
            if self._decoder.eof and self._decoder.unused_data:
                pending = self._decoder.unused_data  # a further gzip member
                self._decoder = _new_decoder(self._encoding)
            self._count(len(piece), consumed=self._in - len(pending))
            if piece:
                yield piece

    def _count(self, produced: int, consumed: int | None = None) -> None:
        self._out += produced
        if self._out > self._max_bytes:
            raise UpstreamTooLargeError(f"{self._what} is larger than {self._max_bytes} bytes")
        if consumed is None or self._out <= _RATIO_FLOOR:
            return
        if self._out > self._max_ratio * max(consumed, 1):
            raise UpstreamTooLargeError(
                f"{self._what} unpacks to over {self._max_ratio:g} times its compressed size"
            )


def _new_decoder(encoding: str) -> zlib._Decompress | None:
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj(zlib.MAX_WBITS)
    return None
