"""The table of scenarios that `brownout scenarios list`, `ctl list` and `ctl status` print.

The first column is a scenario's name, which users copy into `ctl activate`, `--scenario` and
`scenarios show`: it stands whole on one line at any width, in a terminal or in a pipe (where
rich assumes 80 columns unless $COLUMNS says otherwise). Every other cell, the description above
all, is one line, cut with an ellipsis when the width runs short.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence

from rich import box as boxes
from rich.box import Box
from rich.table import Column
from rich.table import Table
from rich.text import Text

Cell = str | Text


def scenario_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    title: str | None = None,
    box: Box | None = boxes.HEAVY_HEAD,
    pad_edge: bool = True,
) -> Table:
    """A table whose first column holds scenario names; `rows` hold one cell per header."""
    lines = [[_name(row[0]), *(_one_line(cell) for cell in row[1:])] for row in rows]
    longest_name = max((line[0].cell_len for line in lines), default=0)
    name_header, *other_headers = headers
    table = Table(
        # no_wrap keeps rich from ever shrinking the column, min_width from squeezing it when
        # nothing else is left to shrink.
        Column(name_header, no_wrap=True, min_width=longest_name),
        # Not no_wrap on the columns: rich narrows only the columns that may wrap, the widest
        # first; their cells do not wrap but end in an ellipsis (see _one_line).
        *(Column(_one_line(header)) for header in other_headers),
        title=title,
        box=box,
        pad_edge=pad_edge,
    )
    for line in lines:
        table.add_row(*line)
    return table


def _name(cell: Cell) -> Text:
    # A Text, not a str: a name such as `[red]x` would otherwise be read as rich markup.
    return Text(cell) if isinstance(cell, str) else cell


def _one_line(cell: Cell) -> Text:
    """The cell on one line: a description written as a YAML block has line breaks of its own."""
    text = Text(cell) if isinstance(cell, str) else cell
    return Text(" ".join(text.plain.split()), style=text.style, no_wrap=True, overflow="ellipsis")
