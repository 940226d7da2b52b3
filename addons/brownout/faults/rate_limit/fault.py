"""`rate_limit`: real requests-per-minute and tokens-per-minute limits, as the provider enforces them.

Every request the rule matches is counted against token buckets (per model, or per API key and
model). A request that fits goes upstream and its answer carries the provider's rate-limit
headers; its token charge (estimated from the request) is corrected from the usage the answer
reports. A request that does not fit gets the provider's own 429 with a truthful retry delay.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable
from collections.abc import Iterable
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal
from typing import Self

from pydantic import Field
from pydantic import PrivateAttr
from pydantic import model_validator

from brownout.faults.base import Fault
from brownout.faults.base import FaultRun
from brownout.faults.rate_limit.buckets import RateLimiter
from brownout.faults.rate_limit.buckets import Verdict
from brownout.faults.rate_limit.usage import SseUsageWatcher
from brownout.faults.rate_limit.usage import UsageCounter
from brownout.faults.rate_limit.usage import estimate_tokens
from brownout.providers.rate_limits import limit_headers
from brownout.providers.rate_limits import rate_limited_reply

if TYPE_CHECKING:
    from mitmproxy import http

log = logging.getLogger(__name__)


class RateLimitFault(Fault):
    type_name = "rate_limit"
    summary = "RPM/TPM token buckets per model or API key, with the provider's rate-limit headers and 429s."
    needs_upstream = True

    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    burst: int | None = Field(default=None, gt=0)
    per: Literal["model", "key"] = "model"

    # The buckets live as long as this rule: a reload of the scenario starts them full again.
    _limiter: RateLimiter = PrivateAttr()

    @model_validator(mode="after")
    def _some_limit(self) -> Self:
        if self.rpm is None and self.tpm is None:
            raise ValueError("a rate_limit fault needs `rpm` (requests per minute), `tpm` (tokens per minute) or both")
        if self.burst is not None and self.rpm is None:
            raise ValueError("`burst` caps the request bucket, so it needs `rpm`")
        self._limiter = RateLimiter(self.rpm, self.tpm, self.burst)
        return self

    @property
    def limiter(self) -> RateLimiter:
        return self._limiter

    def bucket_key(self, model: str, key_hash: str) -> Hashable:
        return model if self.per == "model" else (key_hash, model)

    async def on_request(self, flow: http.HTTPFlow, run: FaultRun) -> None:
        from brownout.mitm.flows import answer

        info = run.info
        key = self.bucket_key(info.model, info.key_hash)
        charged = estimate_tokens(flow.request.raw_content) if self.tpm else 0
        verdict = self._limiter.admit(key, charged)
        wall = time.time()
        if not verdict.allowed:
            answer(flow, rate_limited_reply(info.provider, verdict, info.model, wall))
            run.outcome = "429"
            run.notes.update(limit=verdict.exhausted, wait_seconds=verdict.wait)
            return
        run.outcome = "admitted"
        run.notes.update(key=key, charged=charged, verdict=verdict, wall=wall)

    def on_responseheaders(self, flow: http.HTTPFlow, run: FaultRun) -> None:
        verdict: Verdict | None = run.notes.get("verdict")
        if verdict is None or flow.response is None:
            return
        # The figures as they stood when the request was let through, as the provider reports them.
        for name, value in limit_headers(run.info.provider, verdict, run.notes["wall"]):
            flow.response.headers[name] = value
        if self.tpm and flow.response.stream:
            run.notes["watcher"] = watcher = SseUsageWatcher()
            flow.response.stream = _watching(flow.response.stream, watcher)

    def on_response(self, flow: http.HTTPFlow, run: FaultRun) -> None:
        if not self.tpm or "verdict" not in run.notes or flow.response is None:
            return
        watcher: SseUsageWatcher | None = run.notes.get("watcher")
        if watcher is not None:
            watcher.close()
            used = watcher.total
        else:
            counter = UsageCounter()
            counter.feed_body(flow.response.get_content(strict=False))
            used = counter.total
        if used is not None:
            self._limiter.settle(run.notes["key"], run.notes["charged"], used)
            run.notes["used_tokens"] = used


def _watching(inner: object, watcher: SseUsageWatcher) -> Any:
    """A stream function that relays every chunk unchanged and lets the watcher read it."""

    def relay(chunk: bytes) -> Iterable[bytes] | bytes:
        try:
            if chunk:
                watcher.feed(chunk)
            else:
                watcher.close()
        except Exception:  # reading usage must never break the stream it reads
            log.exception("brownout: could not read usage from a stream")
        if callable(inner):
            result: Iterable[bytes] | bytes = inner(chunk)
            return result
        # Never hand back b"" (on HTTP/1 it would end the chunked body early).
        return [chunk] if chunk else []

    return relay
