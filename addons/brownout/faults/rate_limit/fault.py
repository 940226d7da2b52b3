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
from dataclasses import dataclass
from dataclasses import field
from typing import Literal
from typing import Self

from pydantic import PrivateAttr
from pydantic import model_validator

from brownout.faults.base import Answer
from brownout.faults.base import Fault
from brownout.faults.base import FaultRun
from brownout.faults.base import Hangup
from brownout.faults.base import HeaderEdit
from brownout.faults.bounds import PositiveCount
from brownout.faults.outcome import Outcome
from brownout.faults.rate_limit.buckets import RateLimiter
from brownout.faults.rate_limit.usage import SseUsageWatcher
from brownout.faults.rate_limit.usage import UsageCounter
from brownout.faults.rate_limit.usage import request_charge
from brownout.faults.shared import shared_name
from brownout.providers.base import Reply
from brownout.providers.rate_limits import Verdict
from brownout.providers.rate_limits import limit_headers
from brownout.providers.rate_limits import rate_limited_reply

log = logging.getLogger(__name__)


class RateLimitFault(Fault):
    type_name = "rate_limit"
    summary = "RPM/TPM token buckets per model or API key, with the provider's rate-limit headers and 429s."
    needs_upstream = True

    rpm: PositiveCount | None = None
    tpm: PositiveCount | None = None
    burst: PositiveCount | None = None
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

    async def on_request(self, run: FaultRun) -> Reply | Hangup | None:
        info = run.info
        key = self.bucket_key(info.model, info.key_hash)
        charged = request_charge(run.body) if self.tpm else 0
        verdict, bucket = None, None
        if run.shared is not None and run.shared.buckets is not None:
            bucket = shared_name(run.shared.rule, self.per, key)
            verdict = await run.shared.buckets.admit(bucket, self._limiter.limits, charged)
        if verdict is None:
            # Alone, or the fleet's buckets out of reach: this replica's own buckets decide.
            bucket = None
            verdict = self._limiter.admit(key, charged)
        wall = time.time()
        if not verdict.allowed:
            run.outcome = Outcome.ANSWERED
            return rate_limited_reply(info.provider, verdict, info.model, wall)
        run.outcome = Outcome.ADMITTED
        run.state = Admission(key, charged, verdict, wall, bucket)
        return None

    def on_response_headers(self, run: FaultRun, answer: Answer) -> HeaderEdit | None:
        admission = run.state
        if not isinstance(admission, Admission):
            return None
        # The figures as they stood when the request was let through, as the provider reports them.
        headers = limit_headers(run.info.provider, admission.verdict, admission.wall)
        reader = None
        if self.tpm and answer.streamed:
            admission.watcher = SseUsageWatcher()
            reader = admission.watcher.read
        return HeaderEdit(headers, reader)

    def on_response(self, run: FaultRun, answer: Answer) -> bytes | None:
        admission = run.state
        if not self.tpm or not isinstance(admission, Admission):
            return None
        if admission.watcher is not None:
            admission.watcher.close()
            used = admission.watcher.total
        else:
            counter = UsageCounter()
            counter.feed_body(answer.content)
            used = counter.total
        if used is not None:
            shared = run.shared.buckets if run.shared is not None else None
            if admission.bucket is not None and shared is not None:
                # Settled where it was taken: the shared bucket, or this replica's own.
                shared.settle(admission.bucket, self._limiter.limits, used - admission.charged)
            else:
                self._limiter.settle(admission.key, admission.charged, used)
            admission.used = used
        return None


@dataclass(slots=True)
class Admission:
    """A request the limiter let through: what it was charged, and what its answer reported."""

    key: Hashable
    charged: int
    verdict: Verdict
    wall: float  # Unix time of the admission, for the reset times in the headers
    bucket: str | None = None  # the fleet's bucket it was taken from (None: this replica's own)
    watcher: SseUsageWatcher | None = field(default=None)
    used: int | None = None
