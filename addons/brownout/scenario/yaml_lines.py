"""YAML read with the line of every key, and the problems a scenario can have, each located by
file, line and key (`file:line: key: message`)."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass

import yaml

Key = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    source: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ScenarioError(ValueError):
    """One or more problems in a scenario; `str()` gives one `file:line: key: message` per line."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def single(cls, source: str, message: str, key: str = "", line: int | None = None) -> ScenarioError:
        return cls([Problem(source, line, key, message)])


def parse_yaml(text: str, source: str) -> tuple[object, dict[Key, int]]:
    """The document and, for every key path, the line (1-based) where that key or item stands."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError([Problem(source, None, "", "the file is empty; a scenario needs `rules:`")])
        lines: dict[Key, int] = {(): node.start_mark.line + 1}
        problems: list[Problem] = []
        _record_lines(node, (), lines, problems, source)
        if problems:
            raise ScenarioError(problems)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ScenarioError([Problem(source, line, "", f"not valid YAML: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([Problem(source, None, "", f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    return data, lines


def _record_lines(node: yaml.Node, key: Key, lines: dict[Key, int], problems: list[Problem], source: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            name = str(key_node.value)
            path = (*key, name)
            if name in seen:
                problems.append(Problem(source, key_node.start_mark.line + 1, dotted(path), "duplicate key"))
            seen.add(name)
            lines[path] = key_node.start_mark.line + 1
            _record_lines(value_node, path, lines, problems, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*key, index)] = item.start_mark.line + 1
            _record_lines(item, (*key, index), lines, problems, source)


def dotted(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def line_for(lines: dict[Key, int], path: Key) -> int | None:
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path)
