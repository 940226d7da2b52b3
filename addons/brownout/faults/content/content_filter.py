"""`content_filter`: the provider's safety system stops the answer. `mode: stop` keeps the first
`after_tokens` tokens of text and ends with the provider's filter stop: OpenAI and Azure
`finish_reason: content_filter` (Azure with the filtered category in `content_filter_results`),
Responses `incomplete` for `content_filter`, Anthropic `stop_reason: refusal`, Gemini
`finishReason: SAFETY` with a blocked safety rating. `mode: error` answers Azure's 400
`content_filter` error in place of the answer (Azure only: no other provider answers one)."""

from __future__ import annotations

from typing import Literal

from brownout import providers
from brownout.classify.asks import Asks
from brownout.classify.request import RequestInfo
from brownout.faults.base import FaultRun
from brownout.faults.base import Hangup
from brownout.faults.bounds import Count
from brownout.faults.content.base import ContentFault
from brownout.faults.content.editor import Editor
from brownout.faults.content.editor import Stop
from brownout.faults.content.truncate import Cutting
from brownout.faults.outcome import Outcome
from brownout.providers.base import ErrorOptions
from brownout.providers.base import Reply


class ContentFilterFault(ContentFault):
    type_name = "content_filter"
    summary = "The provider's content-filter stop (or Azure's 400 content_filter error) on the answer."
    applied = Outcome.FILTERED

    mode: Literal["stop", "error"] = "stop"
    after_tokens: Count = 0

    def fits(self, info: RequestInfo, asks: Asks) -> bool:
        return self.mode == "stop" or info.provider == "azure"

    async def on_request(self, run: FaultRun) -> Reply | Hangup | None:
        if self.mode == "error" and run.info.provider == "azure":
            # The prompt itself is filtered: Azure answers its 400 before any model runs.
            run.outcome = self.applied
            return providers.error_reply("azure", ErrorOptions(kind="content_filter", model=run.info.model))
        return await super().on_request(run)

    def editor(self, asks: Asks) -> Editor:
        return Filtering(asks, self.after_tokens, None, stop="filter")


class Filtering(Cutting):
    """Keeps `after_tokens` tokens of text; the filter stops the answer whatever it holds."""

    def stop(self) -> Stop | None:
        self.acted = True
        return "filter"
