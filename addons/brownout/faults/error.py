"""`error`: answer in the provider's place with its exact error body and headers."""

from __future__ import annotations

from typing import Self

from pydantic import Field
from pydantic import model_validator

from brownout import providers
from brownout.classify.request import RequestInfo
from brownout.faults.base import Duration
from brownout.faults.base import Fault
from brownout.faults.base import FaultRun
from brownout.faults.base import Hangup
from brownout.faults.bounds import Millis
from brownout.faults.outcome import Outcome
from brownout.providers import KindName
from brownout.providers.base import ErrorOptions
from brownout.providers.base import Reply


class ErrorFault(Fault):
    type_name = "error"
    summary = "Answer with the provider's exact error body and headers for a status or kind."

    status: int | None = Field(default=None, ge=400, le=599)
    kind: KindName | None = None
    message: str | None = None
    retry_after: Duration | None = None
    retry_after_ms: Millis | None = None
    should_retry: bool | None = None

    @model_validator(mode="after")
    def _status_or_kind(self) -> Self:
        if self.status is None and self.kind is None:
            raise ValueError("an error fault needs `status` (400-599) or `kind`, or both")
        return self

    def reply(self, info: RequestInfo) -> Reply:
        opts = ErrorOptions(
            status=self.status,
            kind=self.kind,
            message=self.message,
            retry_after=self.retry_after,
            retry_after_ms=self.retry_after_ms,
            should_retry=self.should_retry,
            model=info.model,
        )
        return providers.error_reply(info.provider, opts, info.platform)

    async def on_request(self, run: FaultRun) -> Reply | Hangup | None:
        run.outcome = Outcome.ANSWERED
        return self.reply(run.info)
