"""Deterministic reply text, token estimates and embedding vectors.

Everything here is a pure function of its arguments: the same prompt always yields the same
words, whatever the process, so a streamed reply can be compared with a non-streamed one and a
recording made today matches one made tomorrow. Hashes (SHA-256 in counter mode) drive every
choice rather than `random`, whose algorithms are not promised to stay stable across versions.
"""

from __future__ import annotations

import array
import hashlib
import json
import math
import sys
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping

# Plain, neutral vocabulary: replies read as (bland) prose, each word is one "token".
WORDS: tuple[str, ...] = (
    "the",
    "system",
    "is",
    "running",
    "within",
    "normal",
    "limits",
    "and",
    "every",
    "request",
    "gets",
    "a",
    "steady",
    "answer",
    "from",
    "this",
    "simulated",
    "model",
    "while",
    "latency",
    "stays",
    "low",
    "for",
    "now",
    "but",
    "outages",
    "happen",
    "so",
    "clients",
    "should",
    "retry",
    "with",
    "backoff",
    "respect",
    "rate",
    "headers",
    "stream",
    "tokens",
    "slowly",
    "or",
    "quickly",
    "depending",
    "on",
    "load",
    "today",
    "weather",
    "looks",
    "calm",
    "across",
    "regions",
    "service",
    "remains",
    "available",
    "to",
    "users",
    "who",
    "ask",
    "questions",
    "about",
    "graphs",
    "metrics",
    "dashboards",
    "alerts",
    "queues",
    "timeouts",
    "budgets",
    "errors",
    "recover",
    "after",
    "short",
    "pauses",
    "when",
    "capacity",
    "returns",
    "plan",
    "ahead",
    "measure",
    "everything",
    "that",
    "matters",
    "keep",
    "calm",
    "carry",
    "on",
    "deploy",
    "safely",
    "roll",
    "back",
    "if",
    "needed",
    "observe",
    "fallbacks",
    "work",
    "well",
    "under",
    "pressure",
    "of",
    "real",
    "traffic",
    "at",
    "scale",
    "over",
    "time",
)

# Roughly one sentence break every nine words and a comma every eleven, chosen by the hash so
# the rhythm is as reproducible as the words.
_SENTENCE_EVERY = 9
_COMMA_EVERY = 11


def _blocks(seed: bytes) -> Iterator[bytes]:
    """An endless, reproducible byte stream: SHA-256 of the seed and a counter."""
    counter = 0
    while True:
        yield hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1


def reply_words(prompt: str, count: int) -> list[str]:
    """`count` words of prose chosen by `prompt`; the last one ends the sentence.

    A shorter reply for the same prompt is a prefix of a longer one (punctuation aside), as a
    reply cut by a token cap would be.
    """
    if count <= 0:
        return []
    seed = hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).digest()
    words: list[str] = []
    start_sentence = True
    for index, block in zip(range(count), _blocks(seed), strict=False):
        word = WORDS[int.from_bytes(block[:4], "big") % len(WORDS)]
        if start_sentence:
            word = word[:1].upper() + word[1:]
        start_sentence = False
        last = index == count - 1
        if last or block[4] % _SENTENCE_EVERY == 0:
            word += "."
            start_sentence = True
        elif block[5] % _COMMA_EVERY == 0:
            word += ","
        words.append(word)
    return words


def token_pieces(words: Iterable[str]) -> list[str]:
    """The text pieces a stream sends, one per word: a leading space on all but the first.

    Joining the pieces gives exactly the non-streamed text.
    """
    return [word if index == 0 else " " + word for index, word in enumerate(words)]


# About how many characters of JSON one token carries; argument deltas come in pieces this long.
JSON_PIECE_CHARS = 4


def json_pieces(value: object) -> list[str]:
    """`value` as compact JSON, cut into token-sized pieces (their join is the whole text)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return [text[start : start + JSON_PIECE_CHARS] for start in range(0, len(text), JSON_PIECE_CHARS)]


def usage_tokens(text: str) -> int:
    """The tokens a provider's usage figures would give `text`: about four characters per token,
    as the providers' own rules of thumb say; at least 1."""
    return max(1, math.ceil(len(text) / 4))


# Keys whose values are not prose (roles, ids, media payloads): they would inflate estimates.
_NOT_PROSE = frozenset(
    {
        "role",
        "type",
        "id",
        "tool_call_id",
        "cache_control",
        "image_url",
        "url",
        "data",
        "inline_data",
        "inlineData",
        "file_data",
        "fileData",
        "source",
        "mime_type",
        "mimeType",
        "detail",
        "format",
    }
)


def prose(value: object) -> str:
    """Every string in a JSON value except under non-prose keys, joined by newlines."""
    return "\n".join(_strings(value))


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key not in _NOT_PROSE:
                yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """A unit-length vector chosen by `text`, with float32 values.

    The values are rounded to float32 so that the float and base64 (packed float32) encodings of
    one embedding decode to exactly the same numbers, as they do from the real API.
    """
    if dimensions <= 0:
        return []
    seed = b"embedding\x00" + text.encode("utf-8", "surrogatepass")
    raw: list[float] = []
    for block in _blocks(seed):
        for offset in range(0, len(block), 4):
            # Map 32 bits onto [-1, 1).
            raw.append(int.from_bytes(block[offset : offset + 4], "big") / 2**31 - 1.0)
        if len(raw) >= dimensions:
            break
    del raw[dimensions:]
    norm = math.sqrt(sum(value * value for value in raw)) or 1.0
    return array.array("f", (value / norm for value in raw)).tolist()


def float32_bytes(values: list[float]) -> bytes:
    """Little-endian packed float32, the layout OpenAI's base64 embeddings use."""
    packed = array.array("f", values)
    if sys.byteorder == "big":  # pragma: no cover - the wire format is little-endian everywhere
        packed.byteswap()
    return packed.tobytes()
