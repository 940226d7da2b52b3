from brownout.classify.asks import Asks
from brownout.faults.content.editor import MAX_HELD
from brownout.faults.content.editor import Editor
from brownout.faults.content.editor import Held
from brownout.faults.content.editor import tokens_in


class Upper(Editor):
    def edit_text(self, piece: str) -> str:
        return piece.upper() + "!" if piece else piece


def test_text_tokens_are_counted_as_sent_and_as_received() -> None:
    editor = Upper(Asks())
    assert editor.text("two words") == "TWO WORDS!" and editor.text("") == ""
    assert (editor.seen, editor.sent, editor.changed) == (2, 3, True)


def test_usage_follows_the_text_and_keeps_what_is_not_text() -> None:
    editor = Editor(Asks())
    usage = {"output_tokens": 10, "total_tokens": 15}
    # 4 tokens of text sent as 1: the 6 the upstream counted beyond the text stay.
    assert editor.usage(dict(usage), "output_tokens", "total_tokens", (4, 1)) == {
        "output_tokens": 7,
        "total_tokens": 12,
    }
    # More text counted than the upstream reported: none left beyond it.
    assert editor.usage(dict(usage), "output_tokens", "total_tokens", (30, 2))["output_tokens"] == 2
    assert editor.usage(dict(usage), "output_tokens", "total_tokens", None) == usage  # the text did not change
    assert editor.usage({"output_tokens": "many"}, "output_tokens", "", (1, 0)) == {"output_tokens": "many"}


def test_tokens_are_counted_per_piece() -> None:
    assert tokens_in("") == 0 and tokens_in(" retry.") == 1  # a word or less is one token, as a delta
    assert tokens_in("Hello, world!") == 4


def test_held_text_past_the_cap_goes_out_as_it_came_then_flows() -> None:
    held = Held()
    piece = "x" * 1000
    outs = [held.add(piece) for _ in range(MAX_HELD // len(piece))]
    assert outs == [None] * len(outs) and held.size <= MAX_HELD
    assert held.add(piece) == piece * (len(outs) + 1)
    assert held.over and held.size == 0 and held.add("next") == "next"


def test_a_body_already_whole_is_held_without_a_cap() -> None:
    held = Held(None)
    assert held.add("x" * (2 * MAX_HELD)) is None and held.take() == "x" * (2 * MAX_HELD)
