"""`usage_missing`: the answer arrives without its usage figures (the `usage` / `usageMetadata`
object gone, in a body and in every stream event); the answer itself is untouched."""

from __future__ import annotations

from typing import Any

from brownout.classify.asks import Asks
from brownout.faults.content.base import ContentFault
from brownout.faults.content.editor import Editor
from brownout.faults.content.editor import TextTokens
from brownout.faults.outcome import Outcome


class UsageMissingFault(ContentFault):
    type_name = "usage_missing"
    summary = "The answer without its usage figures; the answer itself unchanged."
    applied = Outcome.USAGE_MISSING

    def editor(self, asks: Asks) -> Editor:
        return Unmetered(asks)


class Unmetered(Editor):
    def usage(self, usage: dict[str, Any], output: str, total: str, text: TextTokens | None) -> dict[str, Any] | None:
        self.acted = True
        return None
