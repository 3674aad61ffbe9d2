"""YAML that remembers where each value came from, so errors can cite file:line.

``load_with_lines(text, filename)`` returns plain Python data plus a map from each
value's path (``("steps", 2, "call", "sdp_size")``) to its 1-based line number, built
from the nodes' ``start_mark`` (the Tavern/pytest-YAML idea, without custom node types).
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from servers.field_path import format_path

FieldPath = tuple[str | int, ...]
"""Where a value sits in a document: ``("steps", 2, "call", "sdp_size")``."""


class ScenarioError(Exception):
    """A mistake in a scenario file: prints as ``file:line: field: message``."""

    def __init__(self, path: str, line: int | None, field: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.field = field
        self.message = message

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        if self.field:
            return f"{where}: {self.field}: {self.message}"
        return f"{where}: {self.message}"


@dataclass
class LocatedData:
    """Parsed YAML and the line of every path in it."""

    data: object
    lines: dict[FieldPath, int]
    filename: str

    def line_of(self, path: FieldPath) -> int | None:
        """The line of ``path`` or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def error(self, path: FieldPath, message: str) -> ScenarioError:
        return ScenarioError(self.filename, self.line_of(path), format_path(path), message)


def load_with_lines(text: str, filename: str) -> LocatedData:
    """Parse one YAML document; raise :class:`ScenarioError` on a YAML syntax error."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(filename, line, "", f"invalid YAML: {problem}") from None
    lines: dict[FieldPath, int] = {}
    if node is None:
        return LocatedData(None, {(): 1}, filename)
    try:
        data = _construct(node, (), lines)
    except _Bad as bad:
        raise ScenarioError(filename, bad.line, format_path(bad.path), bad.message) from None
    return LocatedData(data, lines, filename)


class _Bad(Exception):
    def __init__(self, line: int, path: FieldPath, message: str) -> None:
        self.line, self.path, self.message = line, path, message


def _construct(node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int]) -> object:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, object] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Bad(key_node.start_mark.line + 1, path, "mapping keys must be plain names")
            key = yaml.SafeLoader(" ").construct_scalar(key_node)
            if key in out:
                raise _Bad(key_node.start_mark.line + 1, path + (key,), "duplicate key")
            out[key] = _construct(value_node, path + (key,), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, path + (i,), lines) for i, item in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise _Bad(node.start_mark.line + 1, path, f"invalid value: {exc}") from None
