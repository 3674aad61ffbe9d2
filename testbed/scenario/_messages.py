"""Schema violations as one line each, in the user's words, with "did you mean".

:func:`schema_errors` runs :data:`._schema.SCHEMA` over a document and turns every
violation into a :class:`ScenarioError` (file:line, the field, the message): an unknown
field or enum value suggests the closest known one (:func:`difflib.get_close_matches`),
a duration says what it expected as :func:`testbed.sip.parse_duration` does, a missing
field is named at its own path.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence

import jsonschema

from testbed.sip import DurationError, parse_duration

from ._durations import DURATION_MARK
from ._schema import SCHEMA
from ._yaml import FieldPath, LocatedData, ScenarioError

_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
_TYPES = {"integer": "an integer", "number": "a number", "string": "a string",
          "boolean": "true or false", "object": "a mapping", "array": "a list",
          "null": "null"}
_LISTED = 8
"""Enums longer than this are not listed when a close match is suggested."""


def suggest(word: object, choices: Iterable[object]) -> str | None:
    """The choice closest to ``word`` (same letters in another case first), or None."""
    if not isinstance(word, str):
        return None
    names = [str(c) for c in choices if c is not None]
    folded = [c for c in names if c.lower() == word.lower()]
    if folded:
        return folded[0]
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    return close[0] if close else None


def _show(value: object) -> str:
    return "null" if value is None else str(value)


def one_of(value: object, choices: Sequence[object]) -> str:
    """``'udpp' is not one of udp, tcp, tls, wss, auto; did you mean udp?``"""
    guess = suggest(value, choices)
    if guess and len(choices) > _LISTED:
        return f"{value!r} is not one of the {len(choices)} known values; did you mean {guess}?"
    message = f"{value!r} is not one of {', '.join(_show(c) for c in choices)}"
    return f"{message}; did you mean {guess}?" if guess else message


def unknown_field(key: str, known: Sequence[str], what: str = "field") -> str:
    """``unknown field; did you mean transport?`` (or the fields there are)."""
    guess = suggest(key, known)
    if guess:
        return f"unknown {what}; did you mean {guess}?"
    return f"unknown {what}; expected one of {', '.join(known)}"


def _duration_message(value: object, zero_allowed: bool) -> str:
    try:
        parse_duration(value, allow_zero=zero_allowed)
    except DurationError as exc:
        return str(exc)
    return f"expected a duration such as 500ms, 2s, 5min or 1.5 (seconds), got {value!r}"


def _type_message(error: jsonschema.ValidationError) -> str:
    expected = error.validator_value
    kinds = expected if isinstance(expected, list) else [expected]
    names = [_TYPES.get(str(t), str(t)) for t in kinds]
    what = " or ".join(names)
    low, high = error.schema.get("minimum"), error.schema.get("maximum")
    if what == "an integer" and low is not None and high is not None:
        what = f"an integer {low}..{high}"
    return f"expected {what}, got {error.instance!r}"


def _deepest(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For a oneOf/anyOf miss, the alternative that got furthest into the value.

    A step ``call: {sdp_size: -5}`` is reported at ``sdp_size``, not as "not one of ...";
    a duration stays a duration (its own message says what was expected).
    """
    while error.validator in ("oneOf", "anyOf") and error.context:
        if error.schema.get(DURATION_MARK) or all(e.validator == "required"
                                                  for e in error.context):
            break
        deeper = max(error.context, key=lambda e: (len(e.absolute_path), e.validator != "type"))
        if len(deeper.absolute_path) <= len(error.absolute_path) and isinstance(
                error.instance, dict):
            matching = [e for e in error.context
                        if e.validator not in ("type", "enum", "const")]
            if not matching:
                break
            deeper = matching[0]
        error = deeper
    return error


def _located(error: jsonschema.ValidationError) -> list[tuple[FieldPath, str]]:
    """Where one violation is, and what to say about it (several for unknown fields)."""
    path: FieldPath = tuple(error.absolute_path)
    schema = error.schema
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list(schema.get("properties", {}))
        what = schema.get("x-unknown", "field")
        extra = [k for k in error.instance if k not in known]
        return [((*path, key), unknown_field(str(key), known, what)) for key in extra]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [k for k in error.validator_value if k not in error.instance]
        return [((*path, key), "missing (required)") for key in missing[:1]]
    if schema.get(DURATION_MARK):
        zero = any(alt.get("minimum") == 0 for alt in schema.get("oneOf", ()))
        return [(path, _duration_message(error.instance, zero))]
    if error.validator == "enum":
        return [(path, one_of(error.instance, error.validator_value))]
    if error.validator == "const":
        return [(path, f"expected {json.dumps(error.validator_value)}, got "
                       f"{error.instance!r}")]
    if error.validator == "exclusiveMinimum":
        return [(path, f"expected more than {error.validator_value}, got {error.instance!r}")]
    if error.validator == "type":
        return [(path, _type_message(error))]
    if error.validator == "pattern" and "x-expected" in schema:
        return [(path, f"expected {schema['x-expected']}, got {error.instance!r}")]
    if error.validator in ("minProperties", "maxProperties") and schema.get("x-unknown"):
        return [(path, f"a {schema['x-unknown']} is a mapping with one key, e.g. "
                       "{call: {sdp_size: 1600}}")]
    if error.validator == "anyOf" and "required" in str(error.validator_value):
        needed = " or ".join(sorted({k for alt in error.validator_value
                                     for k in alt.get("required", ())}))
        return [(path, f"needs {needed}")]
    return [(path, str(error.message))]


def schema_errors(located: LocatedData) -> list[ScenarioError]:
    """Every violation of :data:`SCHEMA`, one :class:`ScenarioError` each, in file order."""
    errors: list[ScenarioError] = []
    seen: set[str] = set()
    for error in _VALIDATOR.iter_errors(located.data):
        for path, message in _located(_deepest(error)):
            problem = located.error(path, message)
            if str(problem) not in seen:
                seen.add(str(problem))
                errors.append(problem)
    errors.sort(key=lambda e: e.line or 0)
    return errors
