"""Scenarios: the YAML format, its schema, the world it builds, the runner, expectations."""

from ._model import SCENARIO_SUFFIXES, Scenario, check, discover, load, parse
from ._runner import ScenarioResult, StepResult, run
from ._schema import SCHEMA, validate
from ._world import Endpoint, World, WorldError, scenario_timers, seconds
from ._yaml import LocatedData, ScenarioError, format_path, load_with_lines

__all__ = [
    "SCENARIO_SUFFIXES", "SCHEMA", "Endpoint", "LocatedData", "Scenario", "ScenarioError",
    "ScenarioResult", "StepResult", "World", "WorldError", "check", "discover",
    "format_path", "load", "load_with_lines", "parse", "run", "scenario_timers", "seconds",
    "validate",
]
