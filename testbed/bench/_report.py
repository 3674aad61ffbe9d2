"""The benchmark table: one line per figure, with its reference, ratio and target."""

from __future__ import annotations

from typing import Any

from ._ray import ray_rows


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
    return f"{text}{unit}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _window(side: Any) -> str:
    """`` (w N)``: the window a side was measured at, when it was chosen; `` (w Nx2)``
    when it was split over two processes."""
    if not isinstance(side, dict) or not side.get("window"):
        return ""
    processes = side.get("processes", 1)
    return f" (w {side['window']}{f'x{processes}' if processes > 1 else ''})"


def _verdict(ratio: float | None, target: float | None) -> str:
    if ratio is None or target is None:
        return ""
    return f">= {target:g}x " + ("met" if ratio >= target else "not met")


def rows(data: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(figure, ours, reference, ratio, target) for every figure that was measured."""
    phases = data.get("phases", {})
    anchors = data.get("anchors", {})
    out: list[tuple[str, str, str, str, str]] = []
    parse = phases.get("parse", {})
    for name in ("REGISTER", "200 OK"):
        if name in parse:
            out.append((f"parse_message, {name} (µs/message)", _num(parse[name]), "", "", ""))
    for name, scanner in (("REGISTER", "scan_register"), ("200 OK", "scan_response")):
        if f"{name}, {scanner}" in parse:
            out.append((f"{scanner}, {name} (µs/message)", _num(parse[f"{name}, {scanner}"]),
                        "", "", ""))
    client = phases.get("client", {})
    for transport in ("UDP", "TCP", "TLS", "WSS"):
        if transport in client:
            ours = client[transport]["rate"]
            reference = ""
            anchor = anchors.get("sipp_uac_to_uas", {}).get("TLS")
            if transport in ("TLS", "WSS") and anchor:
                # SIPp here has no TLS (and no WSS at all): the anchor only gives a scale.
                reference = f"SIPp->SIPp TLS {anchor:,} (anchor)"
            out.append((f"REGISTER/s our client -> our registrar, {transport}", _num(ours),
                        reference, "", ""))
    sipp = phases.get("sipp", {})
    for transport in ("UDP", "TCP"):
        entry = sipp.get(transport)
        if isinstance(entry, dict) and "ours" in entry:
            out.append((f"REGISTER/s our client -> SIPp UAS, {transport}",
                        _num(entry["ours"]["rate"]) + _window(entry["ours"]),
                        f"SIPp UAC {_num(entry['sipp']['rate'])}{_window(entry['sipp'])}",
                        _ratio(entry["ratio"]), _verdict(entry["ratio"], entry["target"])))
    registrar = phases.get("registrar", {})
    for transport in ("UDP", "TCP"):
        entry = registrar.get(transport)
        if not isinstance(entry, dict) or "ours" not in entry:
            continue
        ours = entry["ours"]["rate"]
        if entry.get("kamailio"):
            out.append((f"REGISTER/s SIPp UAC -> our registrar, {transport}",
                        _num(ours) + _window(entry["ours"]),
                        f"Kamailio {_num(entry['kamailio']['rate'])}{_window(entry['kamailio'])}",
                        _ratio(entry.get("ratio")), _verdict(entry.get("ratio"),
                                                             entry.get("target"))))
        else:
            anchor = anchors.get("kamailio_registrar", {}).get(transport)
            out.append((f"REGISTER/s SIPp UAC -> our registrar, {transport}", _num(ours),
                        f"Kamailio {anchor:,} (anchor)" if anchor else "",
                        _ratio(entry.get("ratio_to_anchor")), "(not same run)"))
    dns = phases.get("dns", {})
    if isinstance(dns.get("nsd"), dict) and "ours" in dns:
        out.append(("DNS queries/s under dnsperf, NAPTR/SRV/A", _num(dns["ours"]["rate"])
                    + _window(dns["ours"]), f"NSD {_num(dns['nsd']['rate'])}"
                    f"{_window(dns['nsd'])}", _ratio(dns.get("ratio")),
                    _verdict(dns.get("ratio"), dns.get("target"))))
    elif "rate" in dns:
        out.append(("DNS queries/s, our server (UDP)", _num(dns["rate"]), "", "", ""))
    memory = phases.get("memory", {})
    for transport in ("TCP", "TLS"):
        for count, figures in memory.get(transport, {}).items():
            reference = ""
            if transport == "TCP":
                reference = f"Kamailio ~{anchors.get('kamailio_kib_per_tcp_endpoint', 17)} " \
                            "KiB (anchor)"
            out.append((f"KiB per registered {transport} endpoint, {int(count):,} endpoints",
                        _num(figures["kib_per_endpoint"]), reference, "", ""))
    hardening = dict(phases.get("hardening", {}))
    cost = hardening.pop("registrar_cpu", None)
    if cost:
        out.append(("registrar CPU µs per digest registration, hardening on (in process)",
                    _num(cost["on"]["min_us"]), f"off {_num(cost['off']['min_us'])}",
                    f"{cost['ratio_min']:.3f}x", ""))
    for load, by_transport in hardening.items():
        for transport, entry in by_transport.items():
            out.append((f"REGISTER/s {load} -> our registrar, {transport}, hardening on",
                        _num(entry["on"]["rate"]), f"off {_num(entry['off']['rate'])}",
                        f"{entry['ratio']:.3f}x" if entry.get("ratio") else "-", ""))
            if entry.get("cpu_ratio"):
                out.append((f"server CPU µs/request, {load}, {transport}, hardening on",
                            _num(entry["on"]["cpu_us_per_request"]),
                            f"off {_num(entry['off']['cpu_us_per_request'])}",
                            f"{entry['cpu_ratio']:.3f}x", ""))
    soak = phases.get("soak", {})
    samples = soak.get("samples", [])
    picked: list[dict[str, Any]] = []
    for mark in (10_000, 100_000):  # the first sample past each mark, and the last
        first = next((s for s in samples if s["requests"] >= mark), None)
        if first is not None and first not in picked:
            picked.append(first)
    if samples and samples[-1] not in picked:
        picked.append(samples[-1])
    for sample in picked:
        out.append((f"served RSS MiB after {sample['requests']:,} requests (soak)",
                    f"{sample['rss_kib'] / 1024:.1f}", "", "", ""))
    if "rate" in soak:
        out.append((f"requests/s against testbed serve (soak, T1 {soak['t1_ms']:g} ms)",
                    _num(soak["rate"]), "", "", ""))
    for run in phases.get("barrage", {}).get("runs", []):
        out.append((f"barrage {run['transport']} seed {run['seed']}: liveness answered",
                    f"{run['answered']:,}/{run['checks']:,}",
                    f"{run['messages']:,} messages", "", "up" if run["alive"] else "DOWN"))
    for run in phases.get("barrage", {}).get("dns", []):
        out.append((f"DNS barrage {run['transport']} seed {run['seed']}: liveness answered",
                    f"{run['answered']:,}/{run['checks']:,}",
                    f"{run['messages']:,} queries", "", "up" if run["alive"] else "DOWN"))
    out.extend(ray_rows(phases.get("ray", {})))
    return out


def table(data: dict[str, Any]) -> str:
    machine = data.get("machine", {})
    header = ("figure", "ours", "reference", "ratio", "target")
    body = rows(data)
    widths = [max(len(str(row[i])) for row in [header, *body]) for i in range(5)]
    lines = [f"Benchmarks {machine.get('date', '')}: {machine.get('cpu_model', '?')}, "
             f"{machine.get('cores', '?')} cores, Python {machine.get('python', '?')}, "
             f"Twisted {machine.get('twisted', '?')}", ""]
    for index, row in enumerate([header, *body]):
        lines.append("  ".join([row[0].ljust(widths[0]), row[1].rjust(widths[1]),
                                row[2].ljust(widths[2]), row[3].rjust(widths[3]),
                                row[4]]).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    for note in data.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)


def markdown(data: dict[str, Any]) -> str:
    """The same figures as a Markdown table (for the README)."""
    lines = ["| figure | ours | reference | ratio | target |", "|---|---:|---|---:|---|"]
    lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows(data)]
    return "\n".join(lines)
