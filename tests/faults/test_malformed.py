import json

import pytest

from brownout.faults.malformed import MalformedFault


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini", "azure"])
def test_invalid_body_is_not_json(provider: str) -> None:
    reply = MalformedFault(mode="invalid").invalid_reply(provider)
    assert reply.status == 200 and dict(reply.headers)["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.body)


def test_empty_body() -> None:
    assert MalformedFault(mode="empty").invalid_reply("openai").body == b""


def test_truncation_keeps_a_fraction() -> None:
    body = json.dumps({"choices": [{"message": {"content": "x" * 100}}]}).encode()
    cut = MalformedFault(keep=0.25).truncated(body)
    assert cut == body[: len(body) // 4]
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut)
    assert MalformedFault().truncated(b"") == b""
