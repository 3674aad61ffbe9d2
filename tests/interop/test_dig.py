"""Our DNS server as two independent resolvers' tools see it: dig (BIND 9.18) and kdig
(Knot 3.2) ask for every record type we serve, over UDP and over TCP, and must read back
exactly the zone's data, authoritatively.
"""

from __future__ import annotations

import pytest
import pytest_twisted

from .conftest import DOMAIN, require_peer

pytestmark = pytest.mark.interop

ZONE = {
    "origin": DOMAIN,
    "ttl": 300,
    "records": [
        {"name": DOMAIN, "type": "NAPTR", "order": 10, "preference": 10, "flags": "s",
         "service": "SIPS+D2T", "regexp": "", "replacement": f"_sips._tcp.{DOMAIN}"},
        {"name": DOMAIN, "type": "NAPTR", "order": 20, "preference": 10, "flags": "s",
         "service": "SIP+D2U", "regexp": "", "replacement": f"_sip._udp.{DOMAIN}"},
        {"name": f"_sips._tcp.{DOMAIN}", "type": "SRV", "priority": 10, "weight": 60,
         "port": 5061, "target": f"pbx1.{DOMAIN}"},
        {"name": f"pbx1.{DOMAIN}", "type": "A", "address": "127.0.0.7", "ttl": 60},
        {"name": f"pbx1.{DOMAIN}", "type": "AAAA", "address": "::1", "ttl": 60},
        {"name": f"www.{DOMAIN}", "type": "CNAME", "target": f"pbx1.{DOMAIN}"},
        {"name": DOMAIN, "type": "TXT", "text": ["testbed", "zone"]},
        {"name": DOMAIN, "type": "NS", "target": f"ns.{DOMAIN}"},
        {"name": f"ns.{DOMAIN}", "type": "A", "address": "127.0.0.53"},
        {"name": DOMAIN, "type": "SOA", "mname": f"ns.{DOMAIN}", "rname": f"admin.{DOMAIN}",
         "serial": 2024, "refresh": 3600, "retry": 600, "expire": 86400, "minimum": 20},
    ],
}

# (name, type) → the answer section as presentation-format (owner, TTL, type, rdata)
EXPECTED = {
    (DOMAIN, "NAPTR"): {
        (f"{DOMAIN}.", 300, "NAPTR", f'10 10 "s" "SIPS+D2T" "" _sips._tcp.{DOMAIN}.'),
        (f"{DOMAIN}.", 300, "NAPTR", f'20 10 "s" "SIP+D2U" "" _sip._udp.{DOMAIN}.'),
    },
    (f"_sips._tcp.{DOMAIN}", "SRV"): {
        (f"_sips._tcp.{DOMAIN}.", 300, "SRV", f"10 60 5061 pbx1.{DOMAIN}."),
    },
    (f"pbx1.{DOMAIN}", "A"): {(f"pbx1.{DOMAIN}.", 60, "A", "127.0.0.7")},
    (f"pbx1.{DOMAIN}", "AAAA"): {(f"pbx1.{DOMAIN}.", 60, "AAAA", "::1")},
    (f"www.{DOMAIN}", "CNAME"): {(f"www.{DOMAIN}.", 300, "CNAME", f"pbx1.{DOMAIN}.")},
    (DOMAIN, "SOA"): {
        (f"{DOMAIN}.", 300, "SOA", f"ns.{DOMAIN}. admin.{DOMAIN}. 2024 3600 600 86400 20"),
    },
    (DOMAIN, "NS"): {(f"{DOMAIN}.", 300, "NS", f"ns.{DOMAIN}.")},
    (DOMAIN, "TXT"): {(f"{DOMAIN}.", 300, "TXT", '"testbed" "zone"')},
}

TOOLS = {
    # tool → (arguments for one query, TCP flag)
    "dig": (["+norecurse", "+time=3", "+tries=1", "+nocookie", "+noedns"], "+tcp"),
    "kdig": (["+norecurse", "+time=3", "+retry=0", "+noedns"], "+tcp"),
}


def answer_section(output: str) -> set[tuple[str, int, str, str]]:
    """The ANSWER section of dig's or kdig's default output, as (owner, ttl, type, rdata)."""
    records = set()
    in_answer = False
    for line in output.splitlines():
        if line.startswith(";; ANSWER SECTION"):
            in_answer = True
            continue
        if in_answer:
            if not line.strip() or line.startswith(";;"):
                break
            owner, ttl, _class, rtype, rdata = line.split(None, 4)
            records.add((owner, int(ttl), rtype, " ".join(rdata.split())))
    return records


def header(output: str) -> tuple[str, set[str]]:
    """(status, flags) from the header lines of dig's or kdig's output."""
    status = output.split("status: ", 1)[1].split(",", 1)[0].split(";", 1)[0].strip()
    flags_text = output.lower().split("flags: ", 1)[1].split(";", 1)[0]
    return status, set(flags_text.split())


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("tool", list(TOOLS))
@pytest_twisted.ensureDeferred
async def test_every_record_type_as_dig_and_kdig_see_it(peers, ours, tool, transport):
    binary = require_peer(tool)
    server, port = ours.dns(ZONE)
    options, tcp_flag = TOOLS[tool]

    for (name, rtype), expected in EXPECTED.items():
        argv = [binary, "@127.0.0.1", "-p", port, name, rtype, *options]
        if transport == "tcp":
            argv.append(tcp_flag)
        code, output = await peers.run(tool, argv, seconds=15)

        assert code == 0, output
        status, flags = header(output)
        assert status == "NOERROR", output
        assert {"qr", "aa"} <= flags and "tc" not in flags, output
        assert answer_section(output) == expected, output
        entry = server.log[-1]
        assert (entry.qname, entry.qtype, entry.transport) == (name, rtype, transport)

    assert len(server.log) == len(EXPECTED)


@pytest.mark.parametrize("tool", list(TOOLS))
@pytest_twisted.ensureDeferred
async def test_nxdomain_carries_the_soa_as_dig_and_kdig_see_it(peers, ours, tool):
    binary = require_peer(tool)
    server, port = ours.dns(ZONE)
    options, _ = TOOLS[tool]

    code, output = await peers.run(tool, [binary, "@127.0.0.1", "-p", port,
                                          f"nothing.{DOMAIN}", "A", *options], seconds=15)

    assert code == 0, output
    status, flags = header(output)
    assert status == "NXDOMAIN" and "aa" in flags, output
    assert ";; AUTHORITY SECTION" in output and f"ns.{DOMAIN}. admin.{DOMAIN}. 2024" in output
