"""Durations in a scenario: how they are spelled, where they are, how ``time_scale`` scales them.

A duration is what :func:`testbed.sip.parse_duration` reads: seconds as a number, or a
string such as ``50ms``, ``2s``, ``2min``. The schema marks every duration field with
:func:`duration_schema`; :func:`duration_paths` finds them all in the schema, so a new
duration field is scaled without being listed anywhere else. :func:`in_seconds` turns a
validated document into the one the world runs: every duration in seconds, multiplied
by ``time_scale``, each remembered as a :class:`Duration` (stated and scaled) for the
reports.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from testbed.sip import parse_duration

from ._yaml import FieldPath

DURATION_PATTERN = r"^\s*([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*(ms|s|min|h)?\s*$"
"""The strings :func:`testbed.sip.parse_duration` reads, as a JSON Schema pattern."""

DURATION_MARK = "x-duration"
"""The schema keyword that marks a duration field (annotations are ignored by validators)."""

DEFAULT_T1 = 0.5
"""RFC 3261 §17.1.1.1: T1 when a scenario names none; ``time_scale`` scales it too."""

ANY = "*"
"""In a :data:`PathPattern`: any item of a list."""

PathPattern = tuple[str, ...]
"""Where a field sits in every document: ``("steps", "*", "wait")``."""


def duration_schema(description: str, *, zero: bool = False,
                    default: str | None = None) -> dict[str, Any]:
    """The schema of a duration field; ``zero`` allows 0."""
    bound = {"minimum": 0} if zero else {"exclusiveMinimum": 0}
    schema: dict[str, Any] = {
        "description": description, DURATION_MARK: True,
        "oneOf": [{"type": "number", **bound},
                  {"type": "string", "pattern": DURATION_PATTERN}]}
    if default is not None:
        schema["default"] = default
    return schema


def duration_paths(schema: dict[str, Any], at: PathPattern = ()) -> list[PathPattern]:
    """Every duration field of ``schema``, found by its :data:`DURATION_MARK`."""
    if schema.get(DURATION_MARK):
        return [at]
    found: list[PathPattern] = []
    for key, sub in schema.get("properties", {}).items():
        found += duration_paths(sub, (*at, key))
    if isinstance(schema.get("items"), dict):
        found += duration_paths(schema["items"], (*at, ANY))
    for combinator in ("oneOf", "anyOf", "allOf"):
        for sub in schema.get(combinator, ()):
            found += duration_paths(sub, at)
    if "then" in schema:
        found += duration_paths(schema["then"], at)
    return list(dict.fromkeys(found))


def find(data: object, pattern: Sequence[str], at: FieldPath = ()) -> Iterator[FieldPath]:
    """The paths in ``data`` that match ``pattern`` and hold a value."""
    if not pattern:
        yield at
        return
    head, rest = pattern[0], pattern[1:]
    if head == ANY and isinstance(data, list):
        for index, item in enumerate(data):
            yield from find(item, rest, (*at, index))
    elif isinstance(data, dict) and head in data:
        yield from find(data[head], rest, (*at, head))


def get(data: Any, path: FieldPath) -> Any:
    for part in path:
        data = data[part]
    return data


def put(data: Any, path: FieldPath, value: object) -> None:
    get(data, path[:-1])[path[-1]] = value


def seconds_text(seconds: float) -> str:
    """``30 s``, ``2.5 s``, ``50 ms``."""
    if seconds and seconds < 1:
        return f"{seconds * 1000:.4g} ms"
    return f"{seconds:.4g} s"


@dataclass(frozen=True)
class Duration:
    """One duration of a scenario: as the file states it, and as it runs.

    ``stated`` is the value as written (``"30s"``, ``25``); ``seconds`` its value;
    ``scaled`` what the world runs (``seconds * time_scale``). ``str()`` gives
    ``30 s (3 s scaled)``, or ``30 s`` when nothing is scaled.
    """

    path: FieldPath
    stated: object
    seconds: float
    scaled: float

    def __str__(self) -> str:
        if self.scaled == self.seconds:
            return seconds_text(self.seconds)
        return f"{seconds_text(self.seconds)} ({seconds_text(self.scaled)} scaled)"


def in_seconds(data: dict[str, Any], patterns: Sequence[PathPattern], time_scale: float = 1.0
               ) -> tuple[dict[str, Any], dict[FieldPath, Duration]]:
    """A copy of ``data`` with every duration in seconds times ``time_scale``.

    ``data`` must have passed the schema (every duration readable). When the scale is
    not 1 and the file names no T1, the RFC's 500 ms is scaled too, so that timers
    follow the rest of the scenario.
    """
    out = copy.deepcopy(data)
    durations: dict[FieldPath, Duration] = {}
    if time_scale != 1 and "t1" not in out.get("timers", {}):
        out.setdefault("timers", {})["t1"] = DEFAULT_T1
    for pattern in patterns:
        for path in find(out, pattern):
            stated = get(out, path)
            seconds = parse_duration(stated)
            durations[path] = Duration(path, stated, seconds, seconds * time_scale)
            put(out, path, seconds * time_scale)
    return out, durations
