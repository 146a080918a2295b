"""Reading a request body without ever holding more than the cap.

The cap applies to the decoded body (rudder-server's `maxReqSizeInKB` does too). A plain body is
refused as soon as its running length passes the cap, or before reading if Content-Length already
does. A gzip or deflate body is decoded while it streams, each step asking zlib for at most the
bytes still allowed plus one, so a decompression bomb stops at cap+1 decoded bytes whatever it
would expand to. The compressed bytes are bounded too: a stream of empty deflate blocks decodes to
nothing yet could otherwise be sent forever.

Content-Type is ignored on purpose: SDKs send `text/plain`, `application/json` and variants.
"""

from __future__ import annotations

import zlib

from headwater.collect.errors import ClientDisconnected, RequestRefused
from headwater.collect.responses import BODY_READ_FAILED, BODY_TOO_LARGE, UNSUPPORTED_ENCODING
from headwater.collect.types import Receive

__all__ = ["compressed_cap", "read_body"]

CHECK_SIZE = "body_size"
CHECK_ENCODING = "body_encoding"

_GZIP = 16 + zlib.MAX_WBITS
_ZLIB = zlib.MAX_WBITS
_RAW_DEFLATE = -zlib.MAX_WBITS
_GZIP_MAGIC = b"\x1f\x8b"


def compressed_cap(cap: int) -> int:
    """The most compressed bytes a body within `cap` can need (stored blocks: 5 bytes per 64 KiB, headers)."""
    return cap + cap // 1024 + 1024


def _too_large() -> RequestRefused:
    return RequestRefused(BODY_TOO_LARGE, CHECK_SIZE)


def _bad_stream() -> RequestRefused:
    return RequestRefused(BODY_READ_FAILED, CHECK_ENCODING)


def _content_length(headers: dict[bytes, bytes]) -> int | None:
    raw = headers.get(b"content-length")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


async def read_body(receive: Receive, headers: dict[bytes, bytes], cap: int) -> bytes:
    """The decoded body, or RequestRefused (413 over the cap, 400 for a broken or unknown encoding)."""
    encoding = headers.get(b"content-encoding")
    if encoding is not None:
        encoding = encoding.strip().lower()
        if encoding in (b"", b"identity"):
            encoding = None
        elif encoding not in (b"gzip", b"x-gzip", b"deflate"):
            raise RequestRefused(UNSUPPORTED_ENCODING, CHECK_ENCODING)
    length = _content_length(headers)
    if encoding is None:
        if length is not None and length > cap:
            raise _too_large()
        return await _read_plain(receive, cap)
    if length is not None and length > compressed_cap(cap):
        raise _too_large()
    return await _read_compressed(receive, cap, encoding != b"deflate")


async def _read_plain(receive: Receive, cap: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnected()
        chunk: bytes = message.get("body", b"")
        if chunk:
            total += len(chunk)
            if total > cap:
                raise _too_large()
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if len(chunks) == 1:
        return chunks[0]
    return b"".join(chunks)


class _Decoder:
    """zlib with a hard output budget; gzip may hold several members back to back (Go reads them all)."""

    __slots__ = ("_gzip", "_obj", "budget", "out")

    def __init__(self, cap: int, gzip: bool) -> None:
        self._gzip = gzip
        self._obj: zlib._Decompress | None = None
        self.budget = cap
        self.out: list[bytes] = []

    def _new(self, data: bytes) -> zlib._Decompress:
        if self._gzip:
            return zlib.decompressobj(_GZIP)
        # HTTP "deflate" means zlib-wrapped, but some clients send raw deflate: tell them apart by the header.
        if len(data) >= 2 and data[0] & 0x0F == 8 and ((data[0] << 8) | data[1]) % 31 == 0:
            return zlib.decompressobj(_ZLIB)
        return zlib.decompressobj(_RAW_DEFLATE)

    def feed(self, data: bytes) -> None:
        while data:
            obj = self._obj
            if obj is None:
                obj = self._obj = self._new(data)
            elif obj.eof:
                if not (self._gzip and data[:2] == _GZIP_MAGIC[: len(data)]):
                    raise _bad_stream()
                obj = self._obj = self._new(data)
            try:
                piece = obj.decompress(data, self.budget + 1)
            except zlib.error:
                raise _bad_stream() from None
            if len(piece) > self.budget:
                raise _too_large()
            self.budget -= len(piece)
            if piece:
                self.out.append(piece)
            data = obj.unused_data if obj.eof else obj.unconsumed_tail

    def finish(self) -> bytes:
        if self._obj is None or not self._obj.eof:
            raise _bad_stream()
        return b"".join(self.out)


async def _read_compressed(receive: Receive, cap: int, gzip: bool) -> bytes:
    decoder = _Decoder(cap, gzip)
    compressed = 0
    limit = compressed_cap(cap)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnected()
        chunk: bytes = message.get("body", b"")
        if chunk:
            compressed += len(chunk)
            if compressed > limit:
                raise _too_large()
            decoder.feed(chunk)
        if not message.get("more_body", False):
            break
    return decoder.finish()
