"""Scenarios: the YAML format, its schema, the world it builds, the runner, expectations.

    scenario = load("scenarios/healthy/udp.yaml")        # or check(text, filename)
    result = await run(scenario, reactor, steps={"load": load_step})
    scenario.duration(("steps", 1, "wait"))              # "40 s (4 s scaled)"

``reference_markdown()`` renders README's scenario reference from ``SCHEMA``
(``python -m testbed.scenario README.md`` rewrites that section).
"""

from ._addresses import DNS_FALLBACK_PORT, AddressError, AddressPlan, check_local_address
from ._durations import DURATION_PATTERN, Duration
from ._expect import check_outcome
from ._external import external_systems, relayed_ports
from ._loader import (
    SCENARIO_ONLY_KEYS,
    SCENARIO_SUFFIXES,
    WHAT_A_SCENARIO_IS,
    Scenario,
    check,
    discover,
    is_scenario_file,
    load,
    parse,
)
from ._reference import reference_in, reference_markdown, with_reference
from ._runner import ScenarioResult, StepHandler, StepResult, run
from ._schema import DURATION_PATHS, SCHEMA
from ._validation import substitute
from ._world import (
    CA_FILE,
    SERVE_CAPTURE_LIMIT,
    SERVE_TRACE_LIMIT,
    Endpoint,
    World,
    WorldError,
    connection_policy,
    scenario_timers,
    world_ports,
)
from ._yaml import LocatedData, ScenarioError, load_with_lines

__all__ = [
    "CA_FILE", "DNS_FALLBACK_PORT", "DURATION_PATHS", "DURATION_PATTERN", "SCENARIO_ONLY_KEYS",
    "SCENARIO_SUFFIXES", "SCHEMA", "SERVE_CAPTURE_LIMIT", "SERVE_TRACE_LIMIT",
    "WHAT_A_SCENARIO_IS", "AddressError", "AddressPlan", "Duration", "Endpoint", "LocatedData",
    "Scenario", "ScenarioError", "ScenarioResult", "StepHandler", "StepResult", "World",
    "WorldError", "check", "check_local_address", "check_outcome", "connection_policy",
    "discover", "external_systems", "is_scenario_file", "load", "load_with_lines", "parse",
    "reference_in", "reference_markdown", "relayed_ports", "run", "scenario_timers",
    "substitute", "with_reference", "world_ports",
]
