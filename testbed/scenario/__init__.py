"""Scenarios: the YAML format, its schema, the world it builds, the runner, expectations.

    scenario = load("scenarios/healthy/udp.yaml")        # or check(text, filename)
    result = await run(scenario, reactor, steps={"load": load_step})
"""

from ._expect import check_outcome
from ._loader import SCENARIO_SUFFIXES, Scenario, check, discover, load, parse
from ._runner import ScenarioResult, StepHandler, StepResult, run
from ._schema import SCHEMA
from ._validation import substitute
from ._world import (
    CA_FILE,
    SERVE_CAPTURE_LIMIT,
    SERVE_TRACE_LIMIT,
    Endpoint,
    World,
    WorldError,
    scenario_timers,
)
from ._yaml import LocatedData, ScenarioError, load_with_lines

__all__ = [
    "CA_FILE", "SCENARIO_SUFFIXES", "SCHEMA", "SERVE_CAPTURE_LIMIT", "SERVE_TRACE_LIMIT",
    "Endpoint", "LocatedData", "Scenario",
    "ScenarioError", "ScenarioResult", "StepHandler", "StepResult", "World", "WorldError",
    "check", "check_outcome", "discover", "load", "load_with_lines", "parse", "run",
    "scenario_timers", "substitute",
]
