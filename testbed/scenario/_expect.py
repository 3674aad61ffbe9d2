"""Expectations: compare what a step or the diagnosis must be with what it was.

Each failure is one line naming the field, the expected value and the actual one:
``error: expected 'tls', got 'timeout'``; ``findings`` name the ids expected, the ids
found and the difference. A table maps each expectation field to how
its actual value is read from an :class:`Outcome`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from testbed.client import Outcome
from testbed.diagnosis import Diagnosis


def _transmissions(outcome: Outcome) -> int:
    return max((e.transmissions for e in outcome.exchanges), default=0)


def _tried(outcome: Outcome) -> list[str]:
    tried: list[str] = []
    for exchange in outcome.exchanges:
        label = f"{exchange.transport}:{exchange.remote[1]}"
        if not tried or tried[-1] != label:
            tried.append(label)
    return tried


ACTUAL: dict[str, Callable[[Outcome], object]] = {
    "ok": lambda o: o.ok,
    "status": lambda o: o.status,
    "error": lambda o: o.error,
    "transport": lambda o: o.transport,
    "port": lambda o: o.remote[1] if o.remote else None,
    "tls_failure": lambda o: getattr(o.tls_failure, "kind", None),
    "transmissions": _transmissions,
    "exchanges": lambda o: len(o.exchanges),
    "tried": _tried,
    "resolution_contains": lambda o: "\n".join(o.resolution),
    "summary_contains": lambda o: o.summary,
    "received": lambda o: o.received,
    "invite_over": lambda o: o.call.invite_over if o.call else None,
}


def _texts(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _compare(field: str, expected: Any, actual: Any) -> str | None:
    """One failed expectation as a line, or None; ``expected`` is the scenario's YAML."""
    if field.endswith("_contains"):
        missing = [t for t in _texts(expected) if t not in str(actual)]
        if missing:
            shown = str(actual).replace("\n", " | ")
            return f"{field}: expected to contain {missing[0]!r}, got {shown[:300]!r}"
        return None
    if isinstance(expected, dict) and ("min" in expected or "max" in expected):
        low, high = expected.get("min"), expected.get("max")
        if (low is not None and actual < low) or (high is not None and actual > high):
            bounds = f"{low if low is not None else ''}..{high if high is not None else ''}"
            return f"{field}: expected {bounds}, got {actual!r}"
        return None
    if expected != actual:
        return f"{field}: expected {expected!r}, got {actual!r}"
    return None


def check_outcome(expect: dict[str, Any], outcome: Outcome) -> list[str]:
    """The failed expectations of one step, one line each (empty when all hold)."""
    failures = []
    for field, expected in expect.items():
        problem = _compare(field, expected, ACTUAL[field](outcome))
        if problem:
            failures.append(problem)
    if failures:
        failures.append(f"(outcome was: {outcome.summary})")
    return failures


def _ids(ids: Sequence[str]) -> str:
    return ", ".join(ids) if ids else "none"


def _findings(field: str, expected: Sequence[str], found: Sequence[str]) -> str | None:
    """``findings`` (each listed id is there) or ``findings_exactly`` (the same set)."""
    missing = [i for i in dict.fromkeys(expected) if i not in found]
    extra = [i for i in found if i not in expected] if field == "findings_exactly" else []
    if not missing and not extra:
        return None
    problems = ([f"missing {_ids(missing)}"] if missing else []) + (
        [f"unexpected {_ids(extra)}"] if extra else [])
    return (f"{field}: expected {_ids(list(dict.fromkeys(expected)))}, found {_ids(found)} "
            f"({'; '.join(problems)})")


def check_diagnosis(expect: dict[str, Any], diagnosis: Diagnosis) -> list[str]:
    """The failed expectations of the diagnosis, one line each."""
    actual = {
        "row": diagnosis.row,
        "symptom_contains": diagnosis.symptom,
        "cause_contains": diagnosis.cause,
        "evidence_contains": "\n".join(diagnosis.evidence),
    }
    failures = []
    for field, expected in expect.items():
        if field in ("findings", "findings_exactly"):
            problem = _findings(field, expected, diagnosis.finding_ids)
        else:
            problem = _compare(field, expected, actual[field])
        if problem:
            failures.append(f"expect.diagnosis.{problem}")
    return failures
