"""The README's scenario reference, rendered as Markdown from :data:`._schema.SCHEMA`.

Every field of the format and every step, fault kind and record type gets a row with
the value it takes and its description, so the README cannot document a field the
schema does not have, nor miss one (a test compares README's section with
:func:`reference_markdown`; :func:`with_reference` rewrites it between
:data:`START` and :data:`END`).
"""

from __future__ import annotations

from typing import Any

from ._durations import DURATION_MARK
from ._schema import (
    CONNECTIONS,
    DIAGNOSIS_EXPECT,
    DNS,
    DNS_FAULT,
    EXTERNAL,
    FAULT,
    LISTENER,
    OUTCOME_EXPECT,
    RECORD,
    RECORD_FIELDS,
    SCHEMA,
    STEP,
    STEPS,
    ZONE,
    Schema,
)

START = "<!-- reference:start -->"
END = "<!-- reference:end -->"
_SHOWN_MEANINGS = 6
"""Enums up to this long list each value's meaning; longer ones list the values."""

_PREAMBLE = """\
## Scenario reference

Every field a scenario file may hold, generated from the schema
(`testbed/scenario/_schema.py`, published as `scenarios/schema.json`): `make schema`
rewrites this section and a test fails when it is stale.

**Durations** are seconds (`1.5`) or a string with a unit: `500ms`, `2s`, `2min`, `1h`.
**`time_scale:`** multiplies every one of them (they are marked *duration* below), and
T1 too (its default 500 ms included), so a file can state real-world figures (a NAT
that forgets after `30s`, keep-alives every `25s`) and run at `time_scale: 0.1`;
reports show both figures. Counts, ports, statuses and `expires` (SIP header values)
are not scaled.

**Placeholders**: `${name}` stands for the address of registrar `name` (its fault
proxy's when it has faults), in `dns` zones and faults, `client.registrar`,
`client.aor` and a call's `to`; anything else is refused, as is a name that is no
registrar's.

**Real systems**: a registrar with `external:` instead of `listen:` is a real server
the world does not start: `${name}` is its address, or the address of the relays that
carry its faults, which listen on the server's own port numbers (so SRV records and
URIs carry the server's ports, whether or not a fault is in front). `dns: {server:}`
resolves through a real DNS server, relayed by our DNS server so that its queries are
logged and captured and `dns.faults` still apply.
"""


def _code(value: Any) -> str:
    if value == "":
        return '`""`'
    if value is None:
        return "`null`"
    if value is True or value is False:
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _value(schema: Schema) -> str:
    """What a field takes, in a few words."""
    if schema.get(DURATION_MARK):
        text = "duration"
        if any(alt.get("minimum") == 0 for alt in schema["oneOf"]):
            text += " (0 allowed)"
    elif "const" in schema:
        text = _code(schema["const"])
    elif "enum" in schema:
        text = ", ".join(_code(v) for v in schema["enum"])
    elif "oneOf" in schema:
        kinds = [alt.get("type") for alt in schema["oneOf"]]
        text = ("a number or {min, max}" if kinds == ["integer", "object"]
                else "text or a list of texts" if kinds == ["string", "array"]
                else " or ".join(_code(alt["const"]) if "const" in alt else "a mapping (below)"
                                 for alt in schema["oneOf"]))
    else:
        text = _typed(schema)
    if "default" in schema:
        text += f"; default {_code(schema['default'])}"
    return text


def _typed(schema: Schema) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind in ("integer", "number"):
        low, high = schema.get("minimum"), schema.get("maximum")
        if "exclusiveMinimum" in schema:
            return f"{kind} > {schema['exclusiveMinimum']}" + (f", ≤ {high}" if high else "")
        if low is not None and high is not None:
            return f"{kind} {low}..{high}"
        return f"{kind} ≥ {low}" if low is not None else str(kind)
    if kind == "string":
        return str(schema.get("x-expected", "string"))
    if kind == "boolean":
        return "true or false"
    if kind == "array":
        items = schema.get("items", {})
        inner = ("mappings, see below" if items.get("type") == "object" or "oneOf" in items
                 else _value(items))
        return f"list of {inner}"
    if kind == "object":
        if isinstance(schema.get("additionalProperties"), dict):
            return "mapping of name: text"
        return "mapping, see below"
    return "see below"


def _meaning(schema: Schema) -> str:
    text = str(schema.get("description", ""))
    meanings = schema.get("enumDescriptions")
    if meanings and len(schema["enum"]) <= _SHOWN_MEANINGS:
        text += ": " + "; ".join(f"{_code(v)} {m}" for v, m in zip(schema["enum"], meanings,
                                                                     strict=True))
    return text


def _table(properties: dict[str, Schema], required: list[str] | tuple[str, ...] = ()) -> str:
    rows = ["| field | value | meaning |", "|---|---|---|"]
    for name, schema in properties.items():
        field = f"`{name}`" + (" (required)" if name in required else "")
        rows.append(f"| {field} | {_cell(_value(schema))} | {_cell(_meaning(schema))} |")
    return "\n".join(rows)


def _section(title: str, schema: Schema, intro: str = "") -> str:
    text = f"### {title}\n\n{intro or schema.get('description', '')}\n\n"
    return text + _table(schema["properties"], schema.get("required", ())) + "\n"


def _steps() -> str:
    lines = ["### `steps[]`", "",
             f"{STEP['description']}; every step but `wait` and `keepalive` may hold an "
             "`expect` (see step `expect`).", "",
             "| step | value | meaning |", "|---|---|---|"]
    for kind, schema in STEPS.items():
        lines.append(f"| `{kind}` | {_cell(_value(schema))} | {_cell(_meaning(schema))} |")
    text = "\n".join(lines) + "\n"
    for kind, schema in STEPS.items():
        fields = {k: v for k, v in schema.get("properties", {}).items() if k != "expect"}
        if fields:
            text += "\n" + _section(f"step `{kind}`", {**schema, "properties": fields})
    return text


def _faults() -> str:
    common = FAULT["allOf"][0]["then"]["properties"]
    shared = {k: v for k, v in common.items() if k in ("registrar", "transport", "name")}
    kind = {k: v for k, v in FAULT["properties"]["kind"].items() if k != "enumDescriptions"}
    text = _section("`faults[]`", {"description": FAULT["description"], "properties": {
        "kind": kind, **shared}, "required": ["kind"]})
    text += ("\n`transport` lists, for each kind, the transports it can act on. "
             "Each kind's own fields:\n")
    for rule in FAULT["allOf"]:
        then = rule["then"]
        own = {k: v for k, v in then["properties"].items()
               if k not in ("kind", "registrar", "name")}
        title = f"fault `{then['properties']['kind']['const']}`"
        text += "\n" + _section(title, {**then, "properties": own})
    return text


def _records() -> str:
    rows = ["| type | fields |", "|---|---|"]
    for rtype, fields in RECORD_FIELDS.items():
        described = "; ".join(f"`{name}` ({_value(f)}): {f['description']}"
                              for name, f in fields.items())
        rows.append(f"| `{rtype}` | {_cell(described)} |")
    common = _section("`dns.zones[].records[]`", RECORD)
    return common + "\n" + "\n".join(rows) + "\n"


def reference_markdown() -> str:
    """The README's reference section, markers excluded."""
    top = SCHEMA["properties"]
    parts = [
        _PREAMBLE,
        _section("Top level", SCHEMA, "The fields of a scenario file."),
        _section("`timers`", top["timers"]),
        _section("`registrars[]`", top["registrars"]["items"]),
        _section("`registrars[].listen[]`", LISTENER),
        _section("`registrars[].external`", EXTERNAL),
        _section("`registrars[].connections`", CONNECTIONS["oneOf"][1],
                 f"{CONNECTIONS['description']}: `off`, or a mapping of "
                 f"{CONNECTIONS['oneOf'][1]['description']}:"),
        _section("`registrars[].listen[].tls_versions`", LISTENER["properties"]
                 ["tls_versions"]),
        _section("`client`", top["client"]),
        _steps(),
        _section("step `expect`", OUTCOME_EXPECT),
        _section("`expect.diagnosis`", DIAGNOSIS_EXPECT),
        _faults(),
        _section("`dns`", DNS),
        _section("`dns.zones[]`", ZONE),
        _records(),
        _section("`dns.faults[]`", DNS_FAULT),
    ]
    return "\n".join(parts).rstrip() + "\n"


def with_reference(readme: str) -> str:
    """``readme`` with its reference section (between the markers) regenerated."""
    if START not in readme or END not in readme:
        raise ValueError(f"README has no {START} ... {END} section")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{reference_markdown()}{END}{tail}"


def reference_in(readme: str) -> str | None:
    """The reference section of ``readme`` as it stands (None without markers)."""
    if START not in readme or END not in readme:
        return None
    return readme.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"
