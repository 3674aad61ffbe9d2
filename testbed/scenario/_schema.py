"""The scenario format as a JSON Schema (draft 2020-12).

``SCHEMA`` is published as ``scenarios/schema.json`` (``testbed schema`` prints it) so
editors validate scenario files as they are typed; :func:`schema_errors` runs it and
turns every violation into a :class:`ScenarioError` with file:line. What a schema
cannot say (references between sections, the servers' own checks) is in
:mod:`._validation`.
"""

from __future__ import annotations

import jsonschema

from servers.certs import CERT_KINDS as SERVER_CERT_KINDS
from servers.faults import FAULT_KINDS as SERVER_FAULT_KINDS
from testbed.client import ERROR_KINDS
from testbed.diagnosis import ROW_IDS
from testbed.sip import AUTO, MODES, Transport
from testbed.transport import TLS_FAILURE_KINDS

from ._yaml import LocatedData, ScenarioError

DURATION = {
    "description": "seconds, or a string like 50ms / 2s",
    "oneOf": [{"type": "number", "exclusiveMinimum": 0},
              {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(ms|s)$"}],
}
TRANSPORTS = [mode for mode in MODES if mode != AUTO]
"""What a registrar listens on and a fault is placed on, as scenario files spell it."""
OUTCOME_TRANSPORTS = [Transport.parse(mode).value for mode in TRANSPORTS]
"""The same transports as an outcome reports them (the Via spelling)."""
CERT_KINDS = list(SERVER_CERT_KINDS)
WS_BEHAVIOURS = ["normal", "not-found", "upgrade-required", "no-websocket", "no-subprotocol"]
TLS_VERSIONS = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
TLS_FAILURES = list(TLS_FAILURE_KINDS)
FAULT_KINDS = [kind for kind in SERVER_FAULT_KINDS if kind != "relay"]

_COUNT = {"oneOf": [{"type": "integer", "minimum": 0},
                    {"type": "object", "additionalProperties": False,
                     "properties": {"min": {"type": "integer", "minimum": 0},
                                    "max": {"type": "integer", "minimum": 0}}}]}
_TEXTS = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}

OUTCOME_EXPECT = {
    "type": "object",
    "description": "what the step's outcome must be; every field is optional",
    "additionalProperties": False,
    "properties": {
        "ok": {"type": "boolean"},
        "status": {"type": ["integer", "null"], "minimum": 100, "maximum": 699},
        "error": {"enum": [*ERROR_KINDS, None]},
        "transport": {"enum": OUTCOME_TRANSPORTS},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "tls_failure": {"enum": TLS_FAILURES},
        "transmissions": _COUNT,
        "exchanges": _COUNT,
        "tried": {"type": "array",
                  "items": {"type": "string",
                            "pattern": f"^({'|'.join(OUTCOME_TRANSPORTS)}):[0-9]+$"},
                  "description": "transport:port of every target tried, in order"},
        "resolution_contains": _TEXTS,
        "summary_contains": _TEXTS,
        "received": {"type": "boolean", "description": "inbound steps: did the client get it"},
        "invite_over": {"enum": OUTCOME_TRANSPORTS},
    },
}

_STEP_BODY = {
    "type": "object",
    "properties": {"expect": OUTCOME_EXPECT},
}

STEP = {
    "description": "one action of the client or the registrar",
    "oneOf": [
        {"enum": ["register", "unregister", "options", "keepalive"]},
        {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
         "properties": {
             "register": {**_STEP_BODY, "additionalProperties": False,
                          "properties": {"expect": OUTCOME_EXPECT,
                                         "expires": {"type": "integer", "minimum": 0}}},
             "unregister": {**_STEP_BODY, "additionalProperties": False},
             "options": {**_STEP_BODY, "additionalProperties": False},
             "call": {"type": "object", "additionalProperties": False,
                      "properties": {"to": {"type": "string"},
                                     "sdp_size": {"type": "integer", "minimum": 1},
                                     "hangup": {"type": "boolean"},
                                     "expect": OUTCOME_EXPECT}},
             "wait": DURATION,
             "keepalive": {"type": "object", "additionalProperties": False,
                           "properties": {"interval": DURATION}},
             "load": {"type": "object", "additionalProperties": False,
                      "required": ["endpoints"],
                      "anyOf": [{"required": ["duration"]}, {"required": ["count"]}],
                      "description": "many endpoints ({user_prefix}0..N-1) doing the client's "
                                     "operation; ok when every operation succeeded",
                      "properties": {
                          "endpoints": {"type": "integer", "minimum": 1, "maximum": 10000},
                          "operation": {"enum": ["register", "call"]},
                          "rate": {"type": "number", "exclusiveMinimum": 0},
                          "duration": DURATION,
                          "count": {"type": "integer", "minimum": 1},
                          "window": {"type": "integer", "minimum": 1},
                          "connections": {"enum": ["shared", "per-endpoint"]},
                          "user_prefix": {"type": "string",
                                          "pattern": "^[A-Za-z][A-Za-z0-9._-]*$"},
                          "registrar": {"type": "string"},
                          "expect": OUTCOME_EXPECT}},
             "inbound": {"type": "object", "additionalProperties": False,
                         "properties": {"method": {"enum": ["OPTIONS", "INVITE", "MESSAGE"]},
                                        "from": {"type": "string"},
                                        "expect": OUTCOME_EXPECT}},
         }},
    ],
}

LISTENER = {
    "type": "object",
    "additionalProperties": False,
    "required": ["transport"],
    "properties": {
        "transport": {"enum": TRANSPORTS},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535,
                 "description": "default: 5060 UDP/TCP, 5061 TLS, 443 WSS"},
        "certificate": {"enum": CERT_KINDS},
        "tls_versions": {"type": "object", "additionalProperties": False,
                         "properties": {"min": {"enum": TLS_VERSIONS},
                                        "max": {"enum": TLS_VERSIONS}}},
        "ws_path": {"type": "string", "pattern": "^/"},
        "ws_behaviour": {"enum": WS_BEHAVIOURS},
    },
}

REGISTRAR = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "listen"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"},
        "domain": {"type": "string", "description": "SIP domain served (default example.com)"},
        "listen": {"type": "array", "minItems": 1, "items": LISTENER},
        "users": {"type": "object", "additionalProperties": {"type": "string"}},
        "realm": {"type": "string"},
        "invite": {"type": "integer", "minimum": 200, "maximum": 699},
        "register_status": {"type": "integer", "minimum": 200, "maximum": 699},
        "ring": {"type": "boolean"},
        "min_expires": {"type": "integer", "minimum": 0},
        "default_expires": {"type": "integer", "minimum": 1},
        "max_expires": {"type": "integer", "minimum": 1},
    },
}

FAULT = {
    "type": "object",
    "required": ["kind"],
    "description": "a fault between the client and a registrar listener; fields per kind "
                   "are checked by servers/faults",
    "properties": {
        "kind": {"enum": FAULT_KINDS},
        "registrar": {"type": "string"},
        "transport": {"enum": TRANSPORTS},
    },
}

CLIENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["transport", "registrar"],
    "properties": {
        "transport": {"enum": list(MODES)},
        "registrar": {"type": "string", "pattern": "^sips?:"},
        "user": {"type": "string"},
        "password": {"type": "string"},
        "aor": {"type": "string", "pattern": "^sips?:"},
        "trust": {"enum": ["ca", "system", "insecure"],
                  "description": "ca: the world's test CA (default)"},
        "server_name": {"type": "string"},
        "ws_path": {"type": "string", "pattern": "^/"},
        "expires": {"type": "integer", "minimum": 1},
        "keepalive": DURATION,
        "udp_large_message": {"enum": ["send", "switch-to-tcp"]},
        "path_mtu": {"type": "integer", "minimum": 576},
        "answer": {"type": "integer", "minimum": 200, "maximum": 699},
    },
}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://sip-transport-testbed.invalid/scenario.schema.json",
    "title": "SIP transport testbed scenario",
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "troubleshooting", "registrars", "client", "steps"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
        "description": {"type": "string"},
        "troubleshooting": {"enum": list(ROW_IDS),
                            "description": "the troubleshooting-table row this reproduces"},
        "proves": {"type": "string", "description": "one line: what a pass demonstrates"},
        "quick_reference": {"enum": list(MODES),
                            "description": "the quick-reference row (transport mode) shown"},
        "seed": {"type": "integer"},
        "timers": {"type": "object", "additionalProperties": False,
                   "properties": {"t1": DURATION, "t2": DURATION, "t4": DURATION}},
        "dns": {"type": "object", "additionalProperties": False,
                "properties": {"zones": {"type": "array", "items": {"type": "object"}},
                               "faults": {"type": "array", "items": {"type": "object"}}}},
        "registrars": {"type": "array", "minItems": 1, "items": REGISTRAR},
        "faults": {"type": "array", "items": FAULT},
        "client": CLIENT,
        "steps": {"type": "array", "minItems": 1, "items": STEP},
        "expect": {"type": "object", "additionalProperties": False,
                   "properties": {"diagnosis": {
                       "type": "object", "additionalProperties": False,
                       "properties": {"row": {"enum": list(ROW_IDS)},
                                      "symptom_contains": _TEXTS,
                                      "cause_contains": _TEXTS,
                                      "evidence_contains": _TEXTS}}}},
    },
}

_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return str(error.message).replace("Additional properties are not allowed",
                                          "unknown field")

    if error.validator == "enum":
        choices = ", ".join(str(c) for c in error.validator_value)
        return f"{error.instance!r} is not one of: {choices}"
    return str(error.message)


def _deepest(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For a oneOf/anyOf miss, the alternative that got furthest into the value.

    A step ``call: {sdp_size: -5}`` is reported at ``sdp_size``, not as "not one of ...".
    """
    while error.validator in ("oneOf", "anyOf") and error.context:
        deeper = max(error.context, key=lambda e: (len(e.absolute_path), e.validator != "type"))
        if len(deeper.absolute_path) <= len(error.absolute_path) and isinstance(
                error.instance, dict):
            matching = [e for e in error.context if e.validator != "type"
                        and e.validator != "enum"]
            if not matching:
                break
            deeper = matching[0]
        error = deeper
    return error


def schema_errors(located: LocatedData) -> list[ScenarioError]:
    """Every violation of :data:`SCHEMA`, one :class:`ScenarioError` each, in file order."""
    errors: list[ScenarioError] = []
    for error in _VALIDATOR.iter_errors(located.data):
        error = _deepest(error)
        path = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            if extra:
                path = path + (extra[0],)
        errors.append(located.error(path, _message(error)))
    errors.sort(key=lambda e: e.line or 0)
    return errors
