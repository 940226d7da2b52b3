"""`empty_answer`: a valid answer whose text is empty; its stop reason and tool calls as the upstream
sent them, its output tokens less the text's."""

from __future__ import annotations

from brownout.classify.asks import Asks
from brownout.faults.content.base import ContentFault
from brownout.faults.content.editor import Editor
from brownout.faults.outcome import Outcome


class Emptying(Editor):
    def edit_text(self, piece: str) -> str:
        if piece:
            self.acted = True
        return ""


class EmptyAnswerFault(ContentFault):
    type_name = "empty_answer"
    summary = "A valid 200 answer with its text emptied; the stop reason stays, usage counts the text gone."
    applied = Outcome.EMPTIED

    def editor(self, asks: Asks) -> Editor:
        return Emptying(asks)
