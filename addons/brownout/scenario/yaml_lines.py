"""YAML read with the line of every key, and the problems a scenario can have, each located by
file, line and key (`file:line: key: message`).

Reading is bounded, since a scenario may come from anyone who can reach the admin port: the text
is at most LARGEST_TEXT, nesting at most DEEPEST levels, and the document at most MOST_NODES
nodes counted as its aliases would expand them, so a few hundred bytes of aliases ("billion
laughs") are refused after a few thousand steps instead of taking the proxy's memory and loop.
A number written with more than LONGEST_NUMBER characters is refused before Python converts it.
Whatever the text, the answer is the document or a ScenarioError, never another exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

Key = tuple[str | int, ...]

# 256 KiB: two hundred times the largest built-in scenario, and read in a fraction of a second.
LARGEST_TEXT = 256 * 1024
# Levels of nested mappings and lists; a scenario needs five or six.
DEEPEST = 32
# Nodes (keys, values, items) with every alias counted as the nodes it repeats; the largest
# built-in scenario has about 150.
MOST_NODES = 10_000
# Characters of an integer as written (Python refuses past 4,300 digits, after a slow read).
LONGEST_NUMBER = 100
# Problems listed in a ScenarioError's message (all of them stay in `problems`).
MOST_SHOWN = 50
# What YAML counts as a line break (so the lines of problems are its lines).
LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")


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
        shown = [str(p) for p in self.problems[:MOST_SHOWN]]
        if len(self.problems) > MOST_SHOWN:
            shown.append(f"... and {len(self.problems) - MOST_SHOWN} more problems")
        super().__init__("\n".join(shown))

    @classmethod
    def single(cls, source: str, message: str, key: str = "", line: int | None = None) -> ScenarioError:
        return cls([Problem(source, line, key, message)])


class _Refused(yaml.MarkedYAMLError):
    """A document refused while it is read: too deep, too large, or recursive."""

    def __init__(self, path: Key, message: str, mark: Any) -> None:
        super().__init__(problem=message, problem_mark=mark)
        self.path = path


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting as it composes: depth, and nodes as aliases expand them.

    Each node's size (nodes, nested levels) is known once it is composed, so an alias costs the
    size of the node it names without expanding it, and the count stops at the first node past
    the budget. The composer recurses per level, so depth is checked before it goes down one.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.path: list[str | int] = []
        self.sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes, levels of collections)
        self.where: dict[int, Key] = {}  # id(node) -> its key path, for problems found constructing it
        self.nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if parent is not None:
            self.path.append(_part(parent, index))
        try:
            if self.check_event(yaml.AliasEvent):
                self._alias(self.peek_event())
            elif self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent) and len(self.path) >= DEEPEST:
                raise _Refused(tuple(self.path), _too_deep(), self.peek_event().start_mark)
            node = super().compose_node(parent, index)
            if node is not None and id(node) not in self.sizes:
                self.where[id(node)] = tuple(self.path)
                self._count(node)
            return node
        finally:
            if parent is not None:
                self.path.pop()

    def fetch_flow_collection_start(self, TokenClass: type[yaml.Token]) -> None:  # noqa: N803 (PyYAML's name)
        # The scanner looks ahead over every open `[` or `{` for each character it reads (a key
        # may follow): refused here, deep flow nesting costs no quadratic scan before the composer
        # would see it. Where the composer stands is the nearest key path known.
        if self.flow_level >= DEEPEST:
            raise _Refused(tuple(self.path), _too_deep(), self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def _alias(self, event: yaml.AliasEvent) -> None:
        target = self.anchors.get(event.anchor)
        if target is None:
            return  # PyYAML reports the undefined alias
        size = self.sizes.get(id(target))
        if size is None:  # the alias stands inside the node it names
            raise _Refused(
                tuple(self.path), "an alias inside the node it names (a recursive structure)", event.start_mark
            )
        nodes, levels = size
        if len(self.path) + levels > DEEPEST:
            raise _Refused(tuple(self.path), _too_deep(" once its aliases are expanded"), event.start_mark)
        self._add(nodes, event.start_mark)

    def _count(self, node: yaml.Node) -> None:
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        sizes = [self.sizes[id(child)] for child in children]
        nodes = 1 + sum(size[0] for size in sizes)
        levels = 0 if isinstance(node, yaml.ScalarNode) else 1 + max((size[1] for size in sizes), default=0)
        self.sizes[id(node)] = (nodes, levels)
        self._add(1, node.start_mark)  # its children counted themselves as they were composed

    def _add(self, nodes: int, mark: Any) -> None:
        self.nodes += nodes
        if self.nodes > MOST_NODES:
            raise _Refused(
                tuple(self.path),
                f"more than {MOST_NODES} values, counting each alias as the values it repeats; "
                "a scenario needs far fewer (aliases that multiply each other?)",
                mark,
            )

    def construct_object(self, node: yaml.Node, deep: bool = False) -> object:
        try:
            return super().construct_object(node, deep)
        # PyYAML's constructors trust what the resolver matched: a date that does not exist, an
        # empty `!!int`, a tagged value of the wrong kind raise Python's own errors.
        except (ValueError, ArithmeticError, LookupError, TypeError) as exc:
            raise _Refused(self.where.get(id(node), ()), f"cannot read this value ({exc})", node.start_mark) from None

    def construct_bounded_int(self, node: yaml.ScalarNode) -> int:
        if len(str(node.value)) > LONGEST_NUMBER:
            message = f"a number written with more than {LONGEST_NUMBER} characters"
            raise _Refused(self.where.get(id(node), ()), message, node.start_mark)
        return SafeConstructor.construct_yaml_int(self, node)


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_bounded_int)


def _part(parent: yaml.Node, index: object) -> str | int:
    """The key path's next part: an item's index, a value's key (a key itself: `?`)."""
    if isinstance(index, int):
        return index
    if isinstance(index, yaml.ScalarNode):
        return str(index.value)
    return "?"


def _too_deep(how: str = "") -> str:
    return f"nested more than {DEEPEST} levels deep{how}; a scenario needs a handful"


def parse_yaml(text: str, source: str) -> tuple[object, dict[Key, int]]:
    """The document and, for every key path, the line (1-based) where that key or item stands."""
    size = len(text.encode("utf-8", "surrogatepass")) if len(text) <= LARGEST_TEXT else len(text)
    if size > LARGEST_TEXT:
        raise ScenarioError([Problem(source, None, "", too_large(size))])
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text)  # reads the text's first characters already
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError([Problem(source, None, "", "the file is empty; a scenario needs `rules:`")])
        lines: dict[Key, int] = {(): node.start_mark.line + 1}
        problems: list[Problem] = []
        _record_lines(node, (), lines, problems, source)
        if problems:
            raise ScenarioError(problems)
        data = loader.construct_document(node)
    except _Refused as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ScenarioError([Problem(source, line, dotted(exc.path), str(exc.problem))]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ScenarioError([Problem(source, line, "", f"not valid YAML: {_one_line(exc.problem or exc)}")]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, e.g. a control character
        line = len(LINE_BREAK.findall(text, 0, exc.position)) + 1
        message = f"not valid YAML: character {exc.character:#06x} is not allowed ({exc.reason})"
        raise ScenarioError([Problem(source, line, "", message)]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([Problem(source, None, "", f"not valid YAML: {_one_line(exc)}")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, lines


def _one_line(text: object) -> str:
    """PyYAML's messages may span lines; a problem is one (`file:line: key: message`)."""
    return " ".join(str(text).split())


def too_large(size: int) -> str:
    return f"too large ({size} bytes or more); a scenario is at most {LARGEST_TEXT // 1024} KiB"


def _record_lines(node: yaml.Node, key: Key, lines: dict[Key, int], problems: list[Problem], source: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            name = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            path = (*key, name)
            if name in seen and name != "?":
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
