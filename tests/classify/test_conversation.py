import pytest

from brownout.classify.conversation import last_user_text
from brownout.classify.conversation import text_of


@pytest.mark.parametrize(
    "body,text",
    [
        ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}, "a"),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}]}]},
            "xy",
        ),
        ({"messages": [{"role": "system", "content": "s"}]}, ""),
        ({"input": "plain string"}, "plain string"),
        ({"input": [{"role": "user", "content": [{"type": "input_text", "text": "r"}]}]}, "r"),
        ({"input": [{"content": "no role means user"}]}, "no role means user"),
        (
            {"contents": [{"role": "user", "parts": [{"text": "g1"}]}, {"role": "model", "parts": [{"text": "m"}]}]},
            "g1",
        ),
        ({"contents": {"parts": [{"text": "single"}]}}, "single"),
        ({"model": "x"}, ""),
        ({"messages": "not a list"}, ""),
    ],
)
def test_last_user_text(body: dict[str, object], text: str) -> None:
    assert last_user_text(body) == text


def test_text_of() -> None:
    assert text_of("s") == "s"
    assert text_of([{"text": "a"}, {"image": "b"}, "c", {"text": 3}]) == "a"
    assert text_of(None) == ""
