"""mitmproxy's stream functions (`flow.response.stream = fn`), chained.

Several parts of brownout read or change a streamed body, and so may another addon: each keeps
the function that was set before it and runs it in turn. `pieces` is that one step: what the
previous function makes of a chunk, as a list of non-empty pieces. A function never hands
mitmproxy `b""` for a chunk: on HTTP/1 an empty piece would be written as the final chunk and end
the body early.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable

from mitmproxy import http

StreamFunction = Callable[[bytes], bytes | Iterable[bytes]]


def previous(response: http.Response) -> StreamFunction | None:
    """The stream function already set on a response, if any."""
    stream = response.stream
    return stream if callable(stream) else None


def pieces(before: StreamFunction | None, data: bytes) -> list[bytes]:
    """What `before` (the identity when None) makes of a chunk, empty pieces dropped."""
    if before is None:
        return [data] if data else []
    out = before(data)
    if isinstance(out, bytes):
        return [out] if out else []
    return [piece for piece in out if piece]


def joined(before: StreamFunction | None, data: bytes) -> bytes:
    """`pieces` as one chunk."""
    if before is None:
        return data
    found = pieces(before, data)
    return found[0] if len(found) == 1 else b"".join(found)


def read_stream(response: http.Response, reader: Callable[[bytes], None]) -> None:
    """Let `reader` see every chunk the upstream sends (then b"" at the end), changing nothing;
    whatever stream function was set runs after it."""
    before = previous(response)

    def relay(data: bytes) -> list[bytes]:
        reader(data)
        return pieces(before, data)

    response.stream = relay


def watch_sent(response: http.Response, sent: Callable[[bytes], None]) -> None:
    """Relay the body through whatever stream function was set, and let `sent` see each piece as
    it goes to the client."""
    before = previous(response)

    def relay(data: bytes) -> list[bytes]:
        out = pieces(before, data)
        for piece in out:
            sent(piece)
        return out

    response.stream = relay
