"""The scenario format as a JSON Schema (draft 2020-12), every field described.

``SCHEMA`` is published as ``scenarios/schema.json`` (``testbed schema`` prints it) so
editors validate and complete scenario files as they are typed (each fault kind and DNS
record type has its own fields, through ``if``/``then`` on ``kind`` and ``type``); the
README's reference section is rendered from it (:mod:`._reference`). :mod:`._messages`
turns its violations into one-line errors. What a schema cannot say (references between
sections, placeholders, the servers' own checks) is in :mod:`._validation`.

Besides the standard keywords, a field may carry annotations that validators ignore:
``x-duration`` (a duration, see :mod:`._durations`), ``x-expected`` (what a pattern
means, in words), ``x-unknown`` (what an unknown key is: "step") and
``enumDescriptions`` (one line per enum value, as VS Code reads them).
"""

from __future__ import annotations

from typing import Any

from servers.certs import CERT_KINDS
from servers.dns import FAULT_KINDS as DNS_FAULT_KINDS
from servers.dns import RECORD_TYPES
from servers.faults import FAULT_KINDS as SERVER_FAULT_KINDS
from servers.faults import FAULT_SCHEMA
from servers.registrar import INVITE_CHALLENGES, REGISTRAR_POLICIES, UNKNOWN_USER_ANSWERS
from testbed.client import ERROR_KINDS, LARGE_MESSAGE_POLICIES, PLACEHOLDERS, PROGRAM_KINDS
from testbed.diagnosis import FINDING_IDS, ROWS, TLS_CAUSES
from testbed.sip import AUTO, MODES, Transport
from testbed.transport import BEHAVIOURS, TLS_FAILURE_KINDS

from ._durations import duration_paths, duration_schema

Schema = dict[str, Any]

TRANSPORTS = [mode for mode in MODES if mode != AUTO]
"""What a registrar listens on and a fault is placed on, as scenario files spell it."""
OUTCOME_TRANSPORTS = [Transport.parse(mode).value for mode in TRANSPORTS]
"""The same transports as an outcome reports them (the Via spelling)."""
TLS_VERSIONS = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
FAULT_KINDS = [kind for kind in SERVER_FAULT_KINDS if kind != "relay"]
DNS_QUERY_TYPES = [*RECORD_TYPES, "ANY"]
CLUSTER_ADDRESS = (r"^(auto|ray://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?"
                   r"|([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5})$")
"""A Ray address: ``auto``, ``ray://HOST[:PORT]`` (Ray Client) or ``HOST:PORT`` (GCS)."""
PLACEHOLDER = r"\$\{([^}]*)\}"
"""``${name}``: the address of registrar ``name`` (see :mod:`._validation`)."""


def _described(schema: Schema, description: str, **extra: Any) -> Schema:
    return {**schema, "description": description, **extra}


def _enum(values: list[Any], description: str, meanings: dict[Any, str] | None = None,
          **extra: Any) -> Schema:
    schema: Schema = {"enum": values, "description": description, **extra}
    if meanings:
        schema["enumDescriptions"] = [meanings.get(v, "") for v in values]
    return schema


def _integer(description: str, low: int | None = None, high: int | None = None,
             **extra: Any) -> Schema:
    schema: Schema = {"type": "integer", "description": description, **extra}
    if low is not None:
        schema["minimum"] = low
    if high is not None:
        schema["maximum"] = high
    return schema


def _string(description: str, **extra: Any) -> Schema:
    return {"type": "string", "description": description, **extra}


def _object(description: str, properties: dict[str, Schema], *, required: tuple[str, ...] = (),
            **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "description": description,
                      "additionalProperties": False, "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    return schema


def _count(description: str) -> Schema:
    return {"description": description,
            "oneOf": [{"type": "integer", "minimum": 0},
                      {"type": "object", "additionalProperties": False,
                       "properties": {"min": {"type": "integer", "minimum": 0},
                                      "max": {"type": "integer", "minimum": 0}}}]}


def _texts(description: str) -> Schema:
    return {"description": description + " (a string, or a list: each must appear)",
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}


_SIP_URI = {"x-expected": "a sip: or sips: URI", "pattern": "^sips?:"}
_PATH = {"x-expected": "a path starting with /", "pattern": "^/"}
_STATUS = {"minimum": 100, "maximum": 699}
ROW_MEANINGS = {row.id: row.symptom for row in ROWS}
ROW_MEANINGS["healthy"] = ("nothing goes wrong in the end (findings may still show what "
                           "happened on the way)")

# -- steps ------------------------------------------------------------------------------

OUTCOME_EXPECT = _object("what the step's outcome must be; every field is optional", {
    "ok": {"type": "boolean", "description": "did the operation succeed"},
    "status": {"type": ["integer", "null"], **_STATUS,
               "description": "the final SIP status (null: none arrived)"},
    "error": _enum([*ERROR_KINDS, None], "how it failed (null: it did not)"),
    "transport": _enum(OUTCOME_TRANSPORTS, "the transport of the final exchange"),
    "port": _integer("the port of the final exchange", 1, 65535),
    "tls_failure": _enum(list(TLS_FAILURE_KINDS), "how the TLS handshake failed",
                         dict(TLS_CAUSES)),
    "transmissions": _count("transmissions of the request (UDP retransmissions count): "
                            "a number or {min, max}"),
    "exchanges": _count("requests sent, one per target and authentication round: a "
                        "number or {min, max}"),
    "tried": {"type": "array", "description": "transport:port of every target tried, in "
                                              "order (e.g. [\"TLS:5061\", \"TCP:5060\"])",
              "items": {"type": "string",
                        "pattern": f"^({'|'.join(OUTCOME_TRANSPORTS)}):[0-9]+$",
                        "x-expected": "TRANSPORT:PORT, e.g. TLS:5061"}},
    "resolution_contains": _texts("text the RFC 3263 resolution trace must contain"),
    "summary_contains": _texts("text the one-line outcome must contain"),
    "received": {"type": "boolean", "description": "inbound steps: did the client get it"},
    "invite_over": _enum(OUTCOME_TRANSPORTS, "call steps: the transport the INVITE went "
                                             "over (e.g. TCP after an RFC 3261 §18.1.1 "
                                             "switch)"),
})


def _step(description: str, properties: dict[str, Schema]) -> Schema:
    return _object(description, {**properties, "expect": OUTCOME_EXPECT})


STEPS: dict[str, Schema] = {
    "register": _step("REGISTER the client (digest answered); starts the client's "
                      "keep-alives when it has an interval", {
                          "expires": _integer("the Expires asked for, in seconds (default: "
                                              "client.expires)", 0)}),
    "unregister": _step("remove the client's binding (REGISTER with Expires: 0)", {}),
    "options": _step("send OPTIONS to the registrar (a reachability probe)", {}),
    "call": _step("INVITE, and BYE once answered", {
        "to": _string("the callee's URI (default sip:bob@ the registrar's host); "
                      "${name} placeholders allowed"),
        "sdp_size": _integer("pad the SDP to this many bytes (a large INVITE for MTU "
                             "cases)", 1),
        "hangup": {"type": "boolean", "default": True,
                   "description": "send BYE once the call is answered"}}),
    "wait": duration_schema("let time pass (NAT bindings and registrations age)"),
    "keepalive": _object("start the client's CRLF keep-alives (RFC 5626 §4.4.1) now", {
        "interval": duration_schema("between keep-alives (default: client.keepalive, "
                                    "else 10 x T1)")}),
    "load": _object(
        "many endpoints ({user_prefix}0..N-1) doing the client's operation with its "
        "settings; ok when every operation succeeded", {
            "endpoints": _integer("how many endpoints", 1, 10000),
            "operation": _enum(["register", "call"], "what each endpoint does",
                               default="register"),
            "rate": {"type": "number", "exclusiveMinimum": 0,
                     "description": "operations started per second (default: as fast as "
                                    "the window allows); not scaled by time_scale"},
            "duration": duration_schema("issue operations for this long"),
            "count": _integer("issue this many operations", 1),
            "window": _integer("operations in flight at most", 1),
            "connections": _enum(["shared", "per-endpoint"],
                                 "one socket/connection for all, or one per endpoint",
                                 default="shared"),
            "user_prefix": _string("user names are this plus a number",
                                   pattern="^[A-Za-z][A-Za-z0-9._-]*$", default="alice",
                                   **{"x-expected": "a user name"}),
            "registrar": _string("the registrar that gets the endpoints' accounts "
                                 "(default: the first)"),
            "workers": _integer("run the load on this many Ray workers (a local Ray "
                                "runtime; with cluster: this many on each node)", 1, 64),
            "cluster": _string("run the load on a Ray cluster: auto, HOST:PORT (the head's "
                               "GCS) or ray://HOST:10001 (Ray Client)",
                               pattern=CLUSTER_ADDRESS,
                               **{"x-expected": "auto, HOST:PORT or ray://HOST[:PORT]"}),
            "expect": OUTCOME_EXPECT},
        required=("endpoints",),
        anyOf=[{"required": ["duration"]}, {"required": ["count"]}]),
    "inbound": _step("the registrar sends a request to the client's registered contact "
                     "(NAT and keep-alive cases)", {
                         "method": _enum(["OPTIONS", "INVITE", "MESSAGE"], "the request",
                                         default="OPTIONS"),
                         "from": _string("the registrar that sends it (default: the "
                                         "first)")}),
    "await_register": _step(
        "client programs: wait until one of our registrars accepts the program's "
        "REGISTER; the outcome is what our side saw (targets and transports tried, DNS "
        "queries, TLS handshakes it refused)", {
            "within": duration_schema("how long to wait (default 10 s)")}),
    "call_client": _step(
        "client programs: the registrar holding the program's binding sends it an INVITE "
        "over the registered flow (RFC 5626 §5.3); the program answers by itself", {
            "within": duration_schema("how long to wait for the final answer (default "
                                      "10 s)"),
            "sdp_size": _integer("pad the SDP to this many bytes (a large INVITE over "
                                 "UDP)", 1),
            "from": _string("the registrar that sends it (default: the one holding the "
                            "binding)")}),
}
BARE_STEPS = ["register", "unregister", "options", "keepalive"]
"""Steps that may be written as a bare word (``- register``)."""

STEP: Schema = {
    "description": "one action of the client or the registrar: a bare word "
                   f"({', '.join(BARE_STEPS)}) or a mapping with one key",
    "oneOf": [
        {"enum": BARE_STEPS},
        {"type": "object", "minProperties": 1, "maxProperties": 1,
         "additionalProperties": False, "x-unknown": "step", "properties": STEPS},
    ],
}

# -- registrars -------------------------------------------------------------------------

LISTENER = _object("one transport the registrar listens on", {
    "transport": _enum(TRANSPORTS, "udp, tcp, tls or wss"),
    "port": _integer("default: 5060 UDP/TCP, 5061 TLS, 443 WSS (RFC 3261 §19.1.2, RFC "
                     "7118)", 1, 65535),
    "certificate": _enum(list(CERT_KINDS), "tls and wss: the certificate presented, "
                         "valid or wrong in exactly one way", default="valid"),
    "tls_versions": _object("tls and wss: the TLS versions offered", {
        "min": _enum(TLS_VERSIONS, "the lowest (default TLSv1.2)"),
        "max": _enum(TLS_VERSIONS, "the highest (default: the library's)")}),
    "ws_path": _string("wss: the WebSocket path served", default="/", **_PATH),
    "ws_behaviour": _enum(list(BEHAVIOURS), "wss: how the server answers the upgrade", {
        "normal": "101 with the sip subprotocol (RFC 7118)",
        "not-found": "404 on the path", "upgrade-required": "426",
        "no-websocket": "a plain HTTP 200: no WebSocket here",
        "no-subprotocol": "101 without Sec-WebSocket-Protocol: sip"}, default="normal"),
}, required=("transport",))

_ADDRESS = {"pattern": r"^[0-9.]+:[0-9]+$", "x-expected": "IPv4:PORT, e.g. 127.0.0.1:5060"}
EXTERNAL = _object(
    "a real SIP server's address per transport, all on one host (IPv4 literals: names "
    "are never resolved). The world starts nothing for it; it checks each address once "
    "when it starts (a TCP connect; over UDP an OPTIONS, failed only by an ICMP "
    "refusal). Faults in front of it are relays on the same port numbers", {
        "udp": _string("UDP HOST:PORT", **_ADDRESS),
        "tcp": _string("TCP HOST:PORT", **_ADDRESS),
        "tls": _string("TLS HOST:PORT", **_ADDRESS),
        "wss": _string("wss://HOST:PORT/PATH (the path the client asks for), or HOST:PORT "
                       "for the path /", pattern=r"^(wss://)?[0-9.]+(:[0-9]+)?(/.*)?$",
                       **{"x-expected": "wss://HOST:PORT/PATH, e.g. wss://127.0.0.1:8443/ws"}),
    }, minProperties=1)

CONNECTIONS: Schema = {"description": "a mock's policy for the connections it accepts (TCP, TLS, "
               "WS, WSS), Kamailio's defaults unless given; off lifts every limit",
               "oneOf": [{"const": "off"}, _object("deadlines and caps", {
    "handshake_timeout": duration_schema("a TLS handshake or WebSocket upgrade must end "
                                         "within this", default="5s"),
    "first_message_timeout": duration_schema("the first SIP message must arrive within "
                                             "this after accept", default="5s"),
    "message_timeout": duration_schema("a started message must be finished within this",
                                       default="10s"),
    "idle_timeout": duration_schema("a connection without a registration is closed "
                                    "after this long idle", default="120s"),
    "max": _integer("connections at most, in total (new ones refused)", 1, default=2048),
    "max_per_source": _integer("connections at most from one address", 1, default=1024),
    "backlog": _integer("the listen backlog", 1, default=1024),
    "max_upgrade_size": _integer("WebSocket upgrade request bytes at most (beyond: 431)",
                                 1, default=8192),
    "make_room": {"type": "boolean", "default": True,
                  "description": "at the total cap, close the oldest connection that has "
                                 "not spoken yet to admit a new one"},
})]}

REGISTRAR = _object("a registrar/PBX: a mock one on its own 127.0.0.N (listen:), or a "
                    "real one the testbed does not start (external:)", {
    "name": _string("how faults, steps and ${name} placeholders refer to it",
                    pattern="^[a-z][a-z0-9-]*$",
                    **{"x-expected": "a lower-case name (letters, digits, -)"}),
    "domain": _string("the SIP domain served (a mock's certificate name); the client "
                      "resolves it to this registrar when no dns section says otherwise",
                      default="example.com"),
    "listen": {"type": "array", "minItems": 1, "items": LISTENER,
               "description": "a mock registrar's listeners, one per transport and port"},
    "external": EXTERNAL,
    "ca": _string("external: a CA certificate file (PEM) the client trusts for TLS and "
                  "WSS, besides the world's CA (relative to the scenario file)"),
    "server_name": _string("external: the name its certificate must match when the "
                           "client reaches it by address (${name}); default: the "
                           "client URI's host"),
    "users": {"type": "object", "additionalProperties": {"type": "string"},
              "description": "digest accounts, user: password; none means no "
                             "authentication"},
    "realm": _string("the digest realm (default: the domain)"),
    "invite": _integer("the final answer to INVITE: 200 (with SDP), or an error such as "
                       "486, 503", 200, 699, default=200),
    "invite_challenge": _enum(list(INVITE_CHALLENGES), "how INVITE is challenged: 407 "
                              "Proxy-Authenticate, as a proxy (RFC 3261 §22.3), or 401 "
                              "WWW-Authenticate, as a UAS", default=407),
    "unknown_user": _enum(list(UNKNOWN_USER_ANSWERS), "the answer to credentials for a "
                          "user not in users: 401 (challenge again, like a wrong "
                          "password), 403 or 404", default=401),
    "register_status": _integer("answer every REGISTER with this status (e.g. 503 to "
                                "test failover)", 200, 699),
    "ring": {"type": "boolean", "default": True,
             "description": "send 180 Ringing before answering INVITE"},
    "min_expires": _integer("shorter REGISTER expiries get 423 Interval Too Brief with "
                            "this Min-Expires (RFC 3261 §10.3)", 0, default=1),
    "default_expires": _integer("the expiry granted when the client asks none", 1,
                                default=3600),
    "max_expires": _integer("longer expiries are cut to this", 1, default=86400),
    "registrar_policy": _enum(list(REGISTRAR_POLICIES), "whose address-of-record an "
                              "authenticated user may bind (RFC 3261 §10.3 step 4)", {
        "own": "only their own (403 otherwise)",
        "accounts": "any account's (404 for an AOR that is no account)",
        "any": "anything: a misconfigured server, on purpose"}, default="own"),
    "domains": {"type": "array", "items": {"type": "string"},
                "description": "hosts an AOR may name, besides the registrar's own "
                               "addresses (404 otherwise); none: any host"},
    "max_contacts": _integer("contacts per AOR (beyond: 503 Too many registered "
                             "contacts); 0 lifts the cap", 0, default=20),
    "contact_max_size": _integer("characters per Contact URI (beyond: 400); 0 lifts the "
                                 "cap", 0, default=512),
    "max_aors": _integer("addresses-of-record with bindings (beyond: 503); 0 lifts the "
                         "cap", 0, default=100000),
    "retry_after": _integer("the Retry-After of those 503s, when above 0", 0, default=0),
    "connections": CONNECTIONS,
}, required=("name",), anyOf=[{"required": ["listen"]}, {"required": ["external"]}])

# -- faults -----------------------------------------------------------------------------

_PLACEMENT = {
    "registrar": _string("the registrar it sits in front of (default: the first)"),
}


def _fault_field(rule: Schema) -> Schema:
    """A field of :data:`servers.faults.FAULT_SCHEMA` as a scenario JSON Schema field."""
    if rule.get("format") == "duration":
        zero = rule.get("minimum") == 0
        default = rule.get("default")
        return duration_schema(rule["description"], zero=zero,
                               default=None if default is None else f"{default}s")
    return {key: value for key, value in rule.items() if key != "format"}


def _fault_kind(kind: str) -> Schema:
    """One kind's fields, applied when ``kind`` is that kind (editors complete them)."""
    spec = FAULT_SCHEMA[kind]
    carriers = set(spec["properties"]["transports"]["default"])
    transports = [t for t in TRANSPORTS if Transport.parse(t).carrier.spelling in carriers]
    properties: dict[str, Schema] = {
        "kind": {"const": kind, "description": spec["description"]},
        **_PLACEMENT,
        "transport": _enum(transports, "only the registrar's listener on this transport "
                           "(default: every listener it applies to)"),
    }
    for key, rule in spec["properties"].items():
        if key not in ("kind", "transports"):
            properties[key] = _fault_field(rule)
    return {"if": {"required": ["kind"], "properties": {"kind": {"const": kind}}},
            "then": _object(spec["description"], properties,
                            required=tuple(spec["required"]))}


FAULT: Schema = {
    "type": "object",
    "required": ["kind"],
    "description": "a fault between the client and a registrar: its address becomes a "
                   "proxy that does this to the traffic; faults compose in file order",
    "properties": {"kind": _enum(FAULT_KINDS, "what goes wrong; each kind has its own "
                                 "fields", {k: FAULT_SCHEMA[k]["description"]
                                            for k in FAULT_KINDS})},
    "allOf": [_fault_kind(kind) for kind in FAULT_KINDS],
}

# -- DNS --------------------------------------------------------------------------------

_U16 = (0, 65535)
_U32 = (0, 2**32 - 1)
_NAME = _string("a domain name (full, or @ for the origin)")
_TARGET = _string("a domain name")
RECORD_FIELDS: dict[str, dict[str, Schema]] = {
    "A": {"address": _string("an IPv4 address, or ${name}: registrar name's address")},
    "AAAA": {"address": _string("an IPv6 address")},
    "CNAME": {"target": _TARGET},
    "NS": {"target": _TARGET},
    "TXT": {"text": {"description": "a string, or a list of strings",
                     "oneOf": [{"type": "string"},
                               {"type": "array", "items": {"type": "string"}}]}},
    "SRV": {"priority": _integer("lower is tried first", *_U16),
            "weight": _integer("share among equal priorities (RFC 2782)", *_U16),
            "port": _integer("the port", *_U16),
            "target": _string("the host (. means no such service)")},
    "NAPTR": {"order": _integer("lower is used first", *_U16),
              "preference": _integer("lower is preferred among equal orders", *_U16),
              "flags": _string("s: the replacement is an SRV name (RFC 3263)"),
              "service": _string("SIP+D2U, SIP+D2T, SIPS+D2T, SIP+D2W, SIPS+D2W"),
              "regexp": _string("unused by SIP", default=""),
              "replacement": _string("the SRV name to look up", default=".")},
    "SOA": {"mname": _string("the primary server (default ns.ORIGIN)"),
            "rname": _string("the mailbox (default hostmaster.ORIGIN)"),
            "serial": _integer("serial", *_U32, default=1),
            "refresh": _integer("seconds", *_U32, default=3600),
            "retry": _integer("seconds", *_U32, default=600),
            "expire": _integer("seconds", *_U32, default=86400),
            "minimum": _integer("negative-answer TTL (default: the zone's ttl)", *_U32)},
}
"""The fields of each record type (checked again, with the values, by servers.dns)."""

_RECORD_COMMON = {
    "name": _NAME,
    "type": _enum(list(RECORD_TYPES), "the record type; each has its own fields"),
    "ttl": _integer("seconds (default: the zone's ttl)", 0, 2**31 - 1),
}
RECORD: Schema = {
    "type": "object", "required": ["name", "type"],
    "description": "one resource record: the common fields, then its type's own",
    "properties": _RECORD_COMMON,
    "allOf": [{"if": {"required": ["type"], "properties": {"type": {"const": rtype}}},
               "then": {"type": "object", "additionalProperties": False,
                        "properties": {**_RECORD_COMMON, **fields}}}
              for rtype, fields in RECORD_FIELDS.items()],
}
ZONE = _object("one authoritative zone", {
    "origin": _string("the zone's name, e.g. example.com"),
    "ttl": _integer("the default TTL of its records", 0, 2**31 - 1, default=300),
    "records": {"type": "array", "items": RECORD,
                "description": "its records (a SOA is made when none is given)"},
}, required=("origin",))
DNS_FAULT = _object("a DNS fault: the first that matches a query applies", {
    "name": _string("the query name it matches; *.suffix matches every name below"),
    "fault": _enum(list(DNS_FAULT_KINDS), "what the server does", {
        "servfail": "answer SERVFAIL", "refused": "answer REFUSED",
        "timeout": "never answer", "delay": "answer normally after seconds"}),
    "type": _enum(DNS_QUERY_TYPES, "only queries of this type (default: any)"),
    "seconds": duration_schema("delay: how long to hold the answer"),
    "times": _integer("only the first N matching queries", 1),
}, required=("name", "fault"))
DNS = _object("the DNS server the client resolves through (UDP and TCP): a mock "
              "authoritative one serving zones, or a relay to a real one (server)", {
    "zones": {"type": "array", "items": ZONE, "description": "the zones it serves"},
    "server": _string("a real DNS server, IPv4:PORT (port 53 when omitted), instead of "
                      "zones: every query the faults spare is relayed to it over the "
                      "transport it came on, and its answer passed back unchanged",
                      pattern=r"^[0-9.]+(:[0-9]+)?$",
                      **{"x-expected": "IPv4:PORT, e.g. 127.0.0.1:5353"}),
    "faults": {"type": "array", "items": DNS_FAULT,
               "description": "queries it fails on purpose (with server: before they are "
                              "relayed)"},
})

# -- the client -------------------------------------------------------------------------

CLIENT = _object("the SIP client under test", {
    "transport": _enum(list(MODES), "the transport mode; auto is RFC 3263 discovery "
                       "(NAPTR, SRV, A/AAAA) and needs a dns section"),
    "registrar": _string("the registrar's URI; a host name resolves through dns:, else "
                         "to the registrar with that domain; ${name} placeholders "
                         "allowed", **_SIP_URI),
    "user": _string("the digest user name and the AOR's user part", default="alice"),
    "password": _string("the digest password"),
    "aor": _string("the address-of-record (default sip:USER@ the registrar's host)",
                   **_SIP_URI),
    "trust": _enum(["ca", "system", "insecure"], "what TLS and WSS trust", {
        "ca": "the world's test CA", "system": "the system's trust store",
        "insecure": "anything, while recording what verification would have said"},
        default="ca"),
    "server_name": _string("the name the certificate must match (default: the "
                           "registrar URI's host, RFC 5922)"),
    "ws_path": _string("wss: the WebSocket path", default="/", **_PATH),
    "expires": _integer("the registration expiry asked for, in seconds (a SIP header "
                        "value: never scaled)", 1, default=3600),
    "keepalive": duration_schema("send CRLF keep-alives (RFC 5626) this often once "
                                 "registered"),
    "udp_large_message": _enum(list(LARGE_MESSAGE_POLICIES), "a request too large for "
                               "UDP", {"send": "send it over UDP anyway",
                                       "switch-to-tcp": "send it over TCP (RFC 3261 "
                                                        "§18.1.1)"}, default="send"),
    "path_mtu": _integer("the path MTU the client assumes: a request is too large for UDP "
                         "above path_mtu - 200 bytes (default 1500, i.e. 1300 bytes, RFC "
                         "3261 §18.1.1)", 576),
    "answer": _integer("the client's answer to an inbound INVITE", 200, 699, default=200),
    "kind": _enum(list(PROGRAM_KINDS), "a real client program under test, configured from "
                  "the template the project ships for it (testbed/client/programs/KIND/)", {
                      "baresip": "baresip (apt-get install baresip): asks our DNS server, "
                                 "does not verify certificates",
                      "linphonec": "linphonec (apt-get install linphone-cli): verifies "
                                   "certificates, reaches the registrar by address",
                      "sipp": "SIPp (apt-get install sip-tester): registers once"}),
    "command": {"type": "array", "minItems": 1, "items": {"type": "string"},
                "description": "a real client program under test: its argument list, with "
                               "placeholders " + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
                               + " filled in by the world"},
}, required=("transport", "registrar"))

# -- expectations of the whole run ------------------------------------------------------

_FINDING = {"enum": list(FINDING_IDS), "enumDescriptions": list(FINDING_IDS.values())}
DIAGNOSIS_EXPECT = _object("what the diagnosis must say", {
    "row": _enum(list(ROW_MEANINGS), "the troubleshooting row", ROW_MEANINGS),
    "symptom_contains": _texts("text the symptom must contain"),
    "cause_contains": _texts("text the likely cause must contain"),
    "evidence_contains": _texts("text the evidence must contain"),
    "findings": {"type": "array", "items": _FINDING, "minItems": 1,
                 "description": "finding ids that must all be among the diagnosis's "
                                "findings (others may be there too)"},
    "findings_exactly": {"type": "array", "items": _FINDING,
                         "description": "the diagnosis's finding ids, all of them, in "
                                        "any order ([] for none)"},
})

SCHEMA: Schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://sip-transport-testbed.invalid/scenario.schema.json",
    "title": "SIP transport testbed scenario",
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "troubleshooting", "registrars", "client", "steps"],
    "properties": {
        "name": _string("unique, lower-case (letters, digits, -)",
                        pattern="^[a-z0-9][a-z0-9-]*$",
                        **{"x-expected": "a lower-case name (letters, digits, -)"}),
        "description": _string("what the scenario sets up, in prose"),
        "troubleshooting": _enum(list(ROW_MEANINGS), "the troubleshooting-table row this "
                                 "reproduces", ROW_MEANINGS),
        "proves": _string("one line: what a pass demonstrates (the catalogue shows it)"),
        "quick_reference": _enum(list(MODES), "the quick-reference row (transport mode) "
                                 "this scenario illustrates"),
        "seed": _integer("seeds every random choice (SRV weights, loss, jitter), so a run "
                         "repeats", default=1),
        "time_scale": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000,
                       "default": 1,
                       "description": "multiplies every duration of the file (timers, "
                                      "waits, keep-alives, fault and DNS delays, NAT "
                                      "timeouts, load durations): state real-world figures, "
                                      "run them at e.g. 0.1"},
        "timers": _object("the SIP timers (RFC 3261 §17); Timer F = 64 x T1", {
            "t1": duration_schema("RTT estimate; T2 and T4 follow it unless given",
                                  default="500ms"),
            "t2": duration_schema("the longest non-INVITE retransmit interval (default "
                                  "8 x T1)"),
            "t4": duration_schema("how long a message lingers in the network (default "
                                  "10 x T1)")}),
        "dns": DNS,
        "registrars": {"type": "array", "minItems": 1, "items": REGISTRAR,
                       "description": "the mock registrars/PBXs"},
        "faults": {"type": "array", "items": FAULT,
                   "description": "faults between the client and the registrars"},
        "client": CLIENT,
        "steps": {"type": "array", "minItems": 1, "items": STEP,
                  "description": "what happens, in order"},
        "expect": _object("expectations of the whole run", {"diagnosis": DIAGNOSIS_EXPECT}),
    },
}

DURATION_PATHS = duration_paths(SCHEMA)
"""Where durations sit in a scenario: what ``time_scale`` scales."""
