import json

import pytest

from brownout.providers.upstream import CAUSES
from brownout.providers.upstream import upstream_cause
from brownout.providers.upstream import upstream_error_reply


@pytest.mark.parametrize(
    ("message", "cause"),
    [
        ("[Errno 111] Connect call failed ('127.0.0.1', 1)", "refused"),
        ("[Errno -2] Name or service not known", "dns"),
        ("[Errno -3] Temporary failure in name resolution", "dns"),
        ("TLS connect failed: certificate verify failed", "tls"),
        ("[Errno 110] Connection timed out", "timeout"),
        ("[Errno 113] No route to host", "unreachable"),
        ("something else entirely", "other"),
    ],
)
def test_the_cause_is_one_of_a_few_labels(message: str, cause: str) -> None:
    assert upstream_cause(message) == cause
    assert cause in CAUSES


def message_of(provider: str, body: bytes) -> str:
    error = json.loads(body)["error"]
    assert isinstance(error, dict)
    return str(error["message"])


@pytest.mark.parametrize("provider", ["openai", "openai-compatible", "azure", "anthropic", "gemini"])
def test_the_502_is_labelled_and_in_the_providers_envelope(provider: str) -> None:
    reply = upstream_error_reply(provider, "http://127.0.0.1:1", "[Errno 111] Connect call failed")
    headers = dict(reply.headers)
    assert reply.status == 502
    assert headers["x-brownout"] == "upstream-error"
    assert headers["x-brownout-upstream"] == "http://127.0.0.1:1"
    assert headers["x-brownout-cause"] == "refused"
    assert headers["content-type"] == "application/json"
    assert not any(name in headers for name in ("server", "cf-ray"))  # nothing pretends to be the provider
    message = message_of(provider, reply.body)
    assert "brownout could not reach the upstream http://127.0.0.1:1 (refused:" in message
    assert "not the provider's" in message


@pytest.mark.parametrize(
    ("provider", "kind"),
    [("openai", "upstream_error"), ("anthropic", "timeout_error"), ("gemini", "DEADLINE_EXCEEDED")],
)
def test_a_timeout_is_a_labelled_504(provider: str, kind: str) -> None:
    reply = upstream_error_reply(provider, "http://127.0.0.1:1", "no response headers within 5 s (first-byte timeout)")
    headers = dict(reply.headers)
    assert reply.status == 504 and reply.reason == "Gateway Timeout"
    assert headers["x-brownout"] == "upstream-error" and headers["x-brownout-cause"] == "timeout"
    error = json.loads(reply.body)["error"]
    assert kind in (error.get("type"), error.get("status"))
    assert "brownout timed out waiting for the upstream http://127.0.0.1:1 (timeout:" in error["message"]
    assert "This 504 is brownout's" in error["message"]


def test_an_upstream_that_closed_without_answering() -> None:
    assert upstream_cause("server closed connection") == "closed"
    reply = upstream_error_reply("openai", "http://127.0.0.1:1", "server closed connection")
    assert reply.status == 502 and dict(reply.headers)["x-brownout-cause"] == "closed"


def test_the_idle_stream_error_is_the_providers_own_event() -> None:
    from brownout.providers.upstream import stream_idle_events

    chat = stream_idle_events("openai", "chat", "http://127.0.0.1:1", "nothing for 5 s")
    assert chat.startswith(b'data: {"error":{"message":"brownout ended the stream') and chat.endswith(
        b"data: [DONE]\n\n"
    )
    claude = stream_idle_events("anthropic", "messages", "http://127.0.0.1:1", "nothing for 5 s")
    assert claude.startswith(b'event: error\ndata: {"type":"error","error":{"type":"api_error"')
    gemini = json.loads(stream_idle_events("gemini", "generate", "http://127.0.0.1:1", "x").removeprefix(b"data: "))
    assert gemini["error"]["status"] == "INTERNAL"
