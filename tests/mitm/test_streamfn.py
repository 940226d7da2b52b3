from mitmproxy import http

from brownout.mitm.streamfn import joined
from brownout.mitm.streamfn import pieces
from brownout.mitm.streamfn import previous
from brownout.mitm.streamfn import read_stream
from brownout.mitm.streamfn import watch_sent


def streamed(stream: object = True) -> http.Response:
    response = http.Response.make(200, b"", {"content-type": "text/event-stream"})
    response.stream = stream  # type: ignore[assignment]
    return response


def test_pieces_drop_empty_ones_and_keep_the_previous_functions_output() -> None:
    assert pieces(None, b"data") == [b"data"]
    assert pieces(None, b"") == []  # never b"": HTTP/1 would read it as the end of the body
    assert pieces(lambda data: data.upper(), b"abc") == [b"ABC"]
    assert pieces(lambda data: [data, b"", data], b"x") == [b"x", b"x"]
    assert pieces(lambda data: b"", b"x") == []
    assert joined(lambda data: [data, b"!"], b"x") == b"x!"
    assert joined(None, b"x") == b"x"


def test_previous_is_only_a_function() -> None:
    assert previous(streamed(True)) is None
    fn = bytes.upper
    assert previous(streamed(fn)) is fn


def test_read_stream_sees_the_upstreams_chunks_before_the_function_that_was_set() -> None:
    seen: list[bytes] = []
    response = streamed(lambda data: data.replace(b"tok", b"TOK"))
    read_stream(response, seen.append)
    assert callable(response.stream)
    assert response.stream(b"data: tok\n\n") == [b"data: TOK\n\n"]
    assert response.stream(b"") == []
    assert seen == [b"data: tok\n\n", b""]


def test_watch_sent_sees_what_goes_to_the_client() -> None:
    sent: list[bytes] = []
    response = streamed(lambda data: [data, data] if data else [])
    watch_sent(response, sent.append)
    assert callable(response.stream)
    assert response.stream(b"a") == [b"a", b"a"]
    assert response.stream(b"") == []
    assert sent == [b"a", b"a"]
