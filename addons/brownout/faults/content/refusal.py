"""`refusal`: the model declines. OpenAI chat and Responses answer in their `refusal` shape (the
`refusal` field, a `refusal` content part); Anthropic and Gemini, which have no such field, answer
the refusal as their text with a normal stop. Usage counts the refusal's tokens."""

from __future__ import annotations

from brownout.classify.asks import Asks
from brownout.faults.content.base import ContentFault
from brownout.faults.content.editor import Editor
from brownout.faults.content.editor import Stop
from brownout.faults.outcome import Outcome

REFUSAL = "I'm sorry, but I can't help with that request."


class RefusalFault(ContentFault):
    type_name = "refusal"
    summary = "The model's refusal in the provider's shape (OpenAI's `refusal` field, else refusal text)."
    applied = Outcome.REFUSED

    message: str = REFUSAL

    def editor(self, asks: Asks) -> Editor:
        return Refusing(asks, self.message)


class Refusing(Editor):
    """The first piece of text becomes the refusal, the rest goes; the turn ends normally."""

    refuses = True

    def __init__(self, asks: Asks, message: str) -> None:
        super().__init__(asks)
        self.message = message

    def edit_text(self, piece: str) -> str:
        if not piece:
            return piece
        first = not self.acted
        self.acted = True
        return self.message if first else ""

    def stop(self) -> Stop | None:
        return "normal" if self.acted else None
