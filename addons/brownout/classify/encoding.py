"""A request body's content coding undone (gzip, deflate, br, zstd), with a bound, for reading it.

Clients may compress what they send (`Content-Encoding: gzip`); the model, the stream flag and the
conversation are inside. Reading them must not let a small body expand without end (a
decompression bomb: 10 KB of gzip that is 10 MB of zeros, or far more): every decoder here works
in steps and stops once its output passes `limit`, or once it has grown a hundredfold past a
mebibyte, so the work and the memory are bounded whatever the ratio. Only the reading is decoded;
what is forwarded stays the bytes the client sent.

Pure functions over bytes.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import brotli
import zstandard

# What a body may expand to for reading: far above any chat request without images.
DECODED_LIMIT = 8 * 1024 * 1024
# Past this much output, a body that has grown more than MAX_RATIO-fold is taken for a bomb at
# once, rather than expanded up to the limit: a bomb then costs the loop a millisecond or two, not
# the 10 to 30 ms that 8 MiB take. JSON that people send compresses 3 to 20-fold.
RATIO_FLOOR = 1024 * 1024
MAX_RATIO = 100
# How much each decoder step may produce before the bounds are checked again.
STEP = 256 * 1024
# `Content-Encoding: gzip, gzip, ...`: each layer is bounded, but not their number.
MAX_LAYERS = 3
# zstd frames may ask for a window of up to 2 GiB; 8 MiB is what RFC 9659 asks of HTTP's encoders.
ZSTD_MAX_WINDOW = 8 * 1024 * 1024


class TooLarge(Exception):
    """The decoded body passes the limit."""


@dataclass(frozen=True, slots=True)
class DecodedBody:
    """A body as its sender wrote it before encoding.

    `content` is the decoded body; the body as sent when it is not encoded, or when it does not
    decode (an unknown coding, a false label) and so is read as it is. `refused` says why it was
    not read at all (it expands past the limit, too many codings): `content` is then None.
    """

    content: bytes | None
    refused: str = ""


def codings(content_encoding: str) -> list[str]:
    """The codings a `Content-Encoding` value names, in the order they were applied."""
    return [c for c in (part.strip().lower() for part in content_encoding.split(",")) if c and c != "identity"]


def decode_body(raw: bytes, content_encoding: str, limit: int = DECODED_LIMIT) -> DecodedBody:
    """Undo the body's content codings, last applied first, each bounded by `limit`."""
    applied = codings(content_encoding)
    if not applied or not raw:
        return DecodedBody(raw)
    if len(applied) > MAX_LAYERS:
        return DecodedBody(None, f"{len(applied)} content codings ({content_encoding}); at most {MAX_LAYERS} are read")
    content = raw
    for coding in reversed(applied):
        decoder = _DECODERS.get(coding)
        if decoder is None:
            return DecodedBody(raw)  # a coding brownout cannot read: the body as sent
        try:
            content = decoder(content, _Bound(limit, len(content)))
        except TooLarge as exc:
            return DecodedBody(None, f"Content-Encoding {content_encoding}: {exc}")
        except (zlib.error, brotli.error, zstandard.ZstdError, TypeError, ValueError):
            return DecodedBody(raw)  # labelled so but not so: the body as sent
    return DecodedBody(content)


@dataclass(frozen=True, slots=True)
class _Bound:
    """How far one layer's output may grow: `limit` bytes, and not past RATIO_FLOOR at more than
    MAX_RATIO times its `source` (the encoded size)."""

    limit: int
    source: int

    def room(self, have: int) -> int:
        """How much the next step may produce: never more than one byte past the limit."""
        return max(1, min(STEP, self.limit + 1 - have))

    def check(self, have: int) -> None:
        if have > self.limit:
            raise TooLarge(f"expands beyond {self.limit} bytes")
        if have > RATIO_FLOOR and have > MAX_RATIO * self.source:
            raise TooLarge(f"{self.source} bytes expand more than {MAX_RATIO}-fold (a decompression bomb?)")


def _inflate(data: bytes, wbits: int, bound: _Bound, members: bool) -> bytes:
    out = bytearray()
    while True:
        decoder = zlib.decompressobj(wbits)
        pending = data
        while not decoder.eof:
            before = len(out)
            # max_length: the input it did not need yet waits in unconsumed_tail.
            out += decoder.decompress(pending, bound.room(len(out)))
            bound.check(len(out))
            pending = decoder.unconsumed_tail
            if not pending and len(out) == before:
                raise zlib.error("incomplete stream")
        data = decoder.unused_data
        if not (members and data):
            return bytes(out)


def _gzip(data: bytes, bound: _Bound) -> bytes:
    return _inflate(data, 16 + zlib.MAX_WBITS, bound, members=True)


def _deflate(data: bytes, bound: _Bound) -> bytes:
    # HTTP's "deflate" is the zlib format, but some clients send raw deflate.
    try:
        return _inflate(data, zlib.MAX_WBITS, bound, members=False)
    except zlib.error:
        return _inflate(data, -zlib.MAX_WBITS, bound, members=False)


def _brotli(data: bytes, bound: _Bound) -> bytes:
    decoder = brotli.Decompressor()
    out = bytearray(decoder.process(data, output_buffer_limit=bound.room(0)))
    bound.check(len(out))
    while not decoder.is_finished():
        if decoder.can_accept_more_data():
            raise brotli.error("incomplete stream")  # all input read, and no end of stream
        out += decoder.process(b"", output_buffer_limit=bound.room(len(out)))
        bound.check(len(out))
    return bytes(out)


def _zstd(data: bytes, bound: _Bound) -> bytes:
    decompressor = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    out = bytearray()
    with decompressor.stream_reader(data, read_across_frames=True) as reader:
        while chunk := reader.read(bound.room(len(out))):
            out += chunk
            bound.check(len(out))
    return bytes(out)


_DECODERS: dict[str, Callable[[bytes, _Bound], bytes]] = {
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _deflate,
    "br": _brotli,
    "zstd": _zstd,
}


_ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": lambda data: gzip.compress(data, mtime=0),
    "x-gzip": lambda data: gzip.compress(data, mtime=0),
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}


def encode_body(content: bytes, content_encoding: str) -> bytes | None:
    """Apply the codings `Content-Encoding` names, in order; None when one is unknown or there
    are more than MAX_LAYERS (what `decode_body` would not read either)."""
    names = codings(content_encoding)
    if len(names) > MAX_LAYERS or any(name not in _ENCODERS for name in names):
        return None
    for name in names:
        content = _ENCODERS[name](content)
    return content
