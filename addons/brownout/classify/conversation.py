"""Read the conversation out of a request body, whichever provider's shape it has.

Chat Completions and Anthropic Messages carry `messages`, the Responses API `input`, Gemini
`contents`; the last user turn is what identifies a conversation when an app moves it to
another provider or model.
"""

from __future__ import annotations

from collections.abc import Mapping


def text_of(content: object) -> str:
    """The text of a message's content: a string, or the `text` of its parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str))
    return ""


def _last_user(turns: object, content_key: str, role_default: str | None) -> str:
    if isinstance(turns, dict):  # Gemini accepts a single Content in place of a list
        turns = [turns]
    if not isinstance(turns, list):
        return ""
    for turn in reversed(turns):
        if isinstance(turn, dict) and turn.get("role", role_default) == "user":
            return text_of(turn.get(content_key))
    return ""


def last_user_text(body: Mapping[str, object]) -> str:
    """The text of the last user turn of a chat, messages, responses or generateContent body."""
    if "messages" in body:
        return _last_user(body["messages"], "content", None)
    if "contents" in body:
        return _last_user(body["contents"], "parts", "user")
    items = body.get("input")
    if isinstance(items, str):
        return items
    return _last_user(items, "content", "user")


def turns_of(body: Mapping[str, object]) -> list[object]:
    """The conversation's turns in order (`messages`, `contents` or `input`), system prompt and
    parameters left out; a Responses `input` string is one turn."""
    if "messages" in body:
        turns = body["messages"]
    elif "contents" in body:
        turns = body["contents"]
    else:
        turns = body.get("input")
    if isinstance(turns, (dict, str)):
        return [turns]
    return list(turns) if isinstance(turns, list) else []
