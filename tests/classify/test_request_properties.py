"""Property tests: any request at all (binary, compressed or falsely labelled so, huge, odd paths and
headers, arbitrary JSON) is read and classified without an exception, in bounded values."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import brotli
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from brownout.classify.clients import client_family
from brownout.classify.conversation import last_user_text
from brownout.classify.encoding import DECODED_LIMIT
from brownout.classify.request import ENDPOINTS
from brownout.classify.request import PROVIDERS
from brownout.classify.request import RequestInfo
from brownout.classify.request import api_key_hash
from brownout.classify.request import classify
from brownout.classify.request import plain_headers
from brownout.classify.request import read_view
from brownout.observe import retry_signals
from property_budget import budget

# JSON as clients and attackers write it: NaN and Infinity too, which Python's json reads.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
turns = st.lists(
    st.dictionaries(
        st.sampled_from(["role", "content", "parts", "text", "type"]) | st.text(max_size=6),
        json_values | st.sampled_from(["user", "assistant", "model"]),
        max_size=4,
    )
    | json_values,
    max_size=4,
)
# Bodies shaped like the providers' (so the readers' branches run), with any value in any key.
shaped = st.fixed_dictionaries(
    {},
    optional={
        "model": json_values | st.text(max_size=60),
        "stream": json_values,
        "messages": turns | json_values,
        "contents": turns | json_values,
        "input": turns | json_values,
        "max_tokens": json_values,
    },
)
json_bytes = (json_values | shaped).map(lambda value: json.dumps(value).encode())


def huge(size: int) -> bytes:
    return json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "a" * size}]}).encode()


plain_bodies = st.one_of(
    st.binary(max_size=600),
    json_bytes,
    json_bytes.map(lambda body: b" \n\t" + body),
    st.sampled_from([1 << 20, DECODED_LIMIT + 1]).map(huge),
)

ENCODERS = {
    "gzip": lambda data: gzip.compress(data, 1),
    "deflate": lambda data: zlib.compress(data, 1),
    "br": lambda data: brotli.compress(data, quality=1),
    "zstd": lambda data: zstandard.ZstdCompressor(level=1).compress(data),
}
labels = st.sampled_from([*ENCODERS, "identity", "x-gzip", "compress", "GZIP", ""]) | st.text(max_size=12)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    """A body and its Content-Encoding: compressed as labelled, labelled but not compressed,
    compressed twice, truncated, or a label of any text."""
    body = draw(plain_bodies)
    how = draw(st.sampled_from(["plain", "true", "false", "twice", "truncated", "any"]))
    coding = draw(st.sampled_from(sorted(ENCODERS)))
    if how == "true":
        return ENCODERS[coding](body), coding
    if how == "false":
        return body, coding
    if how == "twice":
        other = draw(st.sampled_from(sorted(ENCODERS)))
        return ENCODERS[other](ENCODERS[coding](body)), f"{coding}, {other}"
    if how == "truncated":
        encoded = ENCODERS[coding](body)
        return encoded[: draw(st.integers(0, len(encoded)))], coding
    if how == "any":
        return body, draw(labels)
    return body, ""


header_names = st.sampled_from(
    [
        "authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "user-agent",
        "x-stainless-lang",
        "x-stainless-retry-count",
        "x-stainless-timeout",
        "x-stainless-package-version",
        "x-goog-api-client",
        "content-type",
        "content-encoding",
    ]
) | st.text(min_size=1, max_size=20)
# Header values as bytes on the wire: any text, any bytes, and numbers as a client might garble
# them (read as Latin-1, b"\xb2" is "²", which isdigit() takes and int() refuses).
header_values = st.one_of(
    st.text(max_size=60).map(lambda value: value.encode("utf-8", "surrogateescape")),
    st.binary(max_size=12),
    st.text(alphabet="0123456789 .-+eEinfa", max_size=8).map(lambda value: value.encode("latin-1")),
    st.lists(st.sampled_from(["0", "7", "\xb2", "\xb3", "\xb9"]), min_size=1, max_size=3).map(
        lambda digits: "".join(digits).encode("latin-1")  # what str.isdigit() calls digits
    ),
    st.sampled_from([b"Bearer sk-test", b"OpenAI/Python 1.50.0", b"gzip"]),
)
# Header fields as mitmproxy holds them: bytes, in any case, repeated or not.
fields = st.lists(
    st.tuples(header_names.map(lambda name: name.encode("utf-8", "surrogateescape")), header_values),
    max_size=8,
)
hosts = st.sampled_from(
    ["api.openai.com", "api.anthropic.com", "generativelanguage.googleapis.com", "x.openai.azure.com", "127.0.0.1"]
) | st.text(max_size=40)
path_shapes = st.sampled_from(
    [
        "/v1/chat/completions",
        "/v1/messages",
        "/v1/messages/count_tokens",
        "/v1beta/models/{}:generateContent",
        "/v1beta/models/{}:streamGenerateContent",
        "/openai/deployments/{}/chat/completions",
        "/v1/responses/{}",
        "/v1/models/{}",
        "/{}",
    ]
)
paths = st.builds(
    lambda shape, part, query: shape.replace("{}", part) + query,
    path_shapes,
    st.text(max_size=30),
    st.just("") | st.text(max_size=30).map(lambda q: "?" + q) | st.just("?key=AIza-planted&alt=sse"),
)


@budget(300)
@given(
    host=hosts,
    path=paths,
    raw_fields=fields,
    body=bodies(),
    hint=st.none() | st.sampled_from(PROVIDERS) | st.text(max_size=10),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]) | st.text(max_size=8),
)
def test_any_request_is_read_and_classified_without_an_exception(
    host: str,
    path: str,
    raw_fields: list[tuple[bytes, bytes]],
    body: tuple[bytes, str],
    hint: str | None,
    method: str,
) -> None:
    raw, coding = body
    headers: dict[str, Any] = plain_headers(raw_fields)
    view = read_view(headers, raw, coding)
    assert isinstance(view.body, dict)
    assert view.content is not None and len(view.content) <= max(len(raw), DECODED_LIMIT)
    assert (view.refused == "") or (view.body == {} and view.content == raw)
    info = classify(host=host, path=path, headers=view.headers, body=view.body, provider_hint=hint)
    if info is not None:
        assert isinstance(info, RequestInfo)
        assert info.endpoint in ENDPOINTS
        assert info.provider in (*PROVIDERS, hint)
        assert isinstance(info.model, str) and isinstance(info.stream, bool)
        assert len(info.key_hash) in (0, 16) and "planted" not in info.key_hash
    # The readers the observer runs on the same view.
    assert isinstance(last_user_text(view.body), str)
    assert isinstance(retry_signals.conversation_key(view.body), str)
    assert isinstance(retry_signals.fingerprint(method, info.provider if info else "", path, raw, view.body), str)
    assert retry_signals.retry_count(view.headers) is None or retry_signals.retry_count(view.headers) >= 0
    retry_signals.declared_timeout(view.headers)
    # The raw body parsed directly gives the same model when it was not encoded at all.
    if not coding:
        assert classify(host=host, path=path, headers=view.headers, body=raw, provider_hint=hint) == info


@budget(300)
@given(st.dictionaries(header_names, header_values, max_size=6), st.text(max_size=40))
def test_any_header_values_into_the_header_readers(raw: dict[str, bytes], query: str) -> None:
    headers = plain_headers((name.encode("utf-8", "surrogateescape"), value) for name, value in raw.items())
    assert isinstance(client_family(headers), str)
    assert len(api_key_hash(headers, query)) in (0, 16)
    count = retry_signals.retry_count(headers)
    assert count is None or count >= 0
    timeout = retry_signals.declared_timeout(headers)
    assert timeout is None or timeout > 0
