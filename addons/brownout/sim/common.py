"""What the provider builders share: a response's time and identity, one generation, a stream.

The builders (`openai.py`, `anthropic.py`, `gemini.py`) are pure: a request body and a `Turn`
in, bytes out. Randomness and the clock enter only through `Stamp`, so that a simulator with a
fixed clock answers the same request with the same bytes.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import uuid
from dataclasses import dataclass
from dataclasses import field

HEX = string.digits + "abcdef"
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
URLSAFE = BASE62 + "-_"


@dataclass(frozen=True, slots=True)
class Stamp:
    """When a response was made and where its ids come from.

    `seed` is a digest of the request when the simulator runs on a fixed clock: ids are then
    derived from it (same request, same ids). Without a seed, ids are random as in production,
    drawn from a random `nonce` per response: one id asked for twice under the same salt (a tool
    call's id in its opening event and in the finished item) is the same id.
    """

    created: int
    seed: bytes | None = None
    nonce: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    @property
    def fixed(self) -> bool:
        return self.seed is not None

    @property
    def _source(self) -> bytes:
        return self.seed if self.seed is not None else self.nonce

    def ident(self, salt: str, length: int, alphabet: str = HEX) -> str:
        """An id body of `length` characters; `salt` keeps different ids of one response apart."""
        chars: list[str] = []
        counter = 0
        while len(chars) < length:
            block = hashlib.sha256(self._source + salt.encode() + counter.to_bytes(4, "big")).digest()
            chars.extend(alphabet[byte % len(alphabet)] for byte in block)
            counter += 1
        return "".join(chars[:length])

    def uuid(self, salt: str) -> str:
        """A version-4 UUID, as Azure and Anthropic put in headers."""
        digest = hashlib.sha256(self._source + b"uuid" + salt.encode()).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    def number(self, salt: str, low: int, high: int) -> int:
        """An integer in [low, high]: random, or fixed by the seed."""
        digest = hashlib.sha256(self._source + b"number" + salt.encode()).digest()
        return low + int.from_bytes(digest[:8], "big") % (high - low + 1)


@dataclass(frozen=True, slots=True)
class Turn:
    """One simulated generation, already decided: the builders only format it."""

    model: str
    pieces: tuple[str, ...]  # the reply, one text piece per token (streamed one per event)
    truncated: bool  # the request's output-token cap cut the reply short
    prompt_tokens: int
    stamp: Stamp
    tool_name: str | None = None  # the reply is a call of this tool; `pieces` are its JSON arguments
    thinking: tuple[str, ...] = ()  # reasoning before the reply, one piece per token
    show_thinking: bool = False  # the answer carries `thinking` as text (else only its count)

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def thinking_text(self) -> str:
        return "".join(self.thinking)

    @property
    def answer_tokens(self) -> int:
        """Tokens of the reply itself, reasoning not counted (Gemini reports them apart)."""
        return len(self.pieces)

    @property
    def reasoning_tokens(self) -> int:
        return len(self.thinking)

    @property
    def completion_tokens(self) -> int:
        """Output tokens, reasoning included, as OpenAI and Anthropic bill them."""
        return len(self.pieces) + len(self.thinking)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """A streamed body split by timing: the server paces only the token frames.

    `head` goes out as soon as generation starts (a role chunk, `message_start`...), `tokens`
    one per token at the configured pace, `tail` right after the last token (finish reason,
    usage, terminator).
    """

    head: tuple[bytes, ...]
    tokens: tuple[bytes, ...]
    tail: tuple[bytes, ...]
    lead: int = 0  # ticks of reasoning the stream does not show, waited before the first token

    @property
    def frames(self) -> tuple[bytes, ...]:
        return self.head + self.tokens + self.tail

    @property
    def body(self) -> bytes:
        return b"".join(self.frames)


def int_field(body: dict[str, object], *names: str) -> int | None:
    """The first of `names` that holds a (non-boolean) integer."""
    for name in names:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None
