"""Token counts of AI-API calls: an estimate from the request, the truth from the response's usage.

Pure functions over bytes and parsed JSON. The estimate follows the providers' own rate-limit
accounting closely enough for a rehearsal: about four bytes of request per token, plus the
output tokens the request asks for at most (OpenAI charges `max_tokens` up front, then settles).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping

from brownout.classify.request import parse_json_body

log = logging.getLogger(__name__)

BYTES_PER_TOKEN = 4

# Where each provider's request says how many tokens it may produce.
_MAX_OUTPUT_KEYS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


def request_charge(body: bytes | None) -> int:
    """Tokens a request is charged before its answer, as the providers' rate limits count them: an
    estimate of its input plus the output it may produce at most."""
    size = len(body or b"")
    estimate = math.ceil(size / BYTES_PER_TOKEN)
    parsed = parse_json_body(body)
    for key in _MAX_OUTPUT_KEYS:
        value = parsed.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return estimate + value
    config = parsed.get("generationConfig") or parsed.get("generation_config")
    if isinstance(config, Mapping):
        value = config.get("maxOutputTokens") or config.get("max_output_tokens")
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return estimate + value
    return max(1, estimate)


class UsageCounter:
    """The total tokens a response reports, from one JSON body or the events of a stream.

    Usage appears in different places per provider and in pieces while streaming (Anthropic:
    input tokens in `message_start`, the output count in `message_delta`), so the latest input,
    output and total figures are kept and combined at the end.
    """

    def __init__(self) -> None:
        self.input: int | None = None
        self.output: int | None = None
        self.total_reported: int | None = None

    @property
    def total(self) -> int | None:
        if self.total_reported is not None:
            return self.total_reported
        if self.input is None and self.output is None:
            return None
        return (self.input or 0) + (self.output or 0)

    def feed_json(self, doc: object) -> None:
        if not isinstance(doc, Mapping):
            return
        for holder in (doc, doc.get("message"), doc.get("response")):
            if isinstance(holder, Mapping):
                usage = holder.get("usage")
                if isinstance(usage, Mapping):
                    self._read(usage, ("prompt_tokens", "input_tokens"), ("completion_tokens", "output_tokens"))
        metadata = doc.get("usageMetadata")
        if isinstance(metadata, Mapping):  # Gemini
            self._read(metadata, ("promptTokenCount",), ("candidatesTokenCount",), total_key="totalTokenCount")

    def _read(
        self, usage: Mapping[str, object], inputs: tuple[str, ...], outputs: tuple[str, ...], total_key: str = ""
    ) -> None:
        def number(keys: tuple[str, ...]) -> int | None:
            for key in keys:
                value = usage.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    return value
            return None

        given_input, given_output = number(inputs), number(outputs)
        if given_input is not None:
            self.input = given_input
        if given_output is not None:
            self.output = given_output
        total = number((total_key or "total_tokens",))
        if total is not None:
            self.total_reported = total
        elif self.total_reported is not None:
            # A later partial figure (a stream's delta) supersedes an earlier total.
            self.total_reported = None

    def feed_body(self, body: bytes | None) -> None:
        self.feed_json(parse_json_body(body))


class SseUsageWatcher:
    """Reads usage out of a server-sent-event stream as its chunks pass, changing nothing.

    Chunks split events anywhere, so an unfinished line is kept until the next chunk. Only
    `data:` lines that mention usage are parsed, which keeps the cost per chunk small.
    """

    MAX_PENDING = 1 << 20  # a line longer than this is not an event worth reading

    def __init__(self) -> None:
        self.counter = UsageCounter()
        self._pending = b""

    def feed(self, chunk: bytes) -> None:
        data = self._pending + chunk
        lines = data.split(b"\n")
        self._pending = lines.pop()
        if len(self._pending) > self.MAX_PENDING:
            self._pending = b""
        for line in lines:
            self._line(line)

    def read(self, chunk: bytes) -> None:
        """A chunk of the stream as it passes (b"" at its end); reading never breaks the stream."""
        try:
            if chunk:
                self.feed(chunk)
            else:
                self.close()
        except Exception:
            log.exception("brownout: could not read usage from a stream")

    def close(self) -> None:
        if self._pending:
            self._line(self._pending)
            self._pending = b""

    def _line(self, line: bytes) -> None:
        line = line.rstrip(b"\r")
        if not line.startswith(b"data:") or b"usage" not in line:  # also finds Gemini's usageMetadata
            return
        try:
            self.counter.feed_json(json.loads(line[5:]))
        except ValueError:
            return

    @property
    def total(self) -> int | None:
        return self.counter.total
