"""`usage_spike`: the answer's usage figures (input, output, total, and their details) multiplied by
`factor`, as a billing or metering fault shows them; the answer itself is untouched."""

from __future__ import annotations

from typing import Annotated
from typing import Any

from pydantic import Field

from brownout.classify.asks import Asks
from brownout.faults.content.base import ContentFault
from brownout.faults.content.editor import Editor
from brownout.faults.content.editor import TextTokens
from brownout.faults.content.framing.common import scaled
from brownout.faults.outcome import Outcome

# Large enough for any cost alarm, small enough that a figure stays an exact integer in JSON.
SpikeFactor = Annotated[float, Field(gt=0.0, le=1_000_000.0, allow_inf_nan=False)]


class UsageSpikeFault(ContentFault):
    type_name = "usage_spike"
    summary = "The answer's token usage figures multiplied by `factor`; the answer itself unchanged."
    applied = Outcome.USAGE_SPIKED

    factor: SpikeFactor = 10.0

    def editor(self, asks: Asks) -> Editor:
        return Spiking(asks, self.factor)


class Spiking(Editor):
    def __init__(self, asks: Asks, factor: float) -> None:
        super().__init__(asks)
        self.factor = factor

    def usage(self, usage: dict[str, Any], output: str, total: str, text: TextTokens | None) -> dict[str, Any] | None:
        self.acted = True
        spiked: dict[str, Any] = scaled(usage, self.factor)
        return spiked
