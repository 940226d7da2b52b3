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
