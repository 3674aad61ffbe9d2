"""Collect the SIP messages the scenario catalogue exchanges, one of each shape.

    testbed run scenarios --report-dir /tmp/catalogue
    python tests/unit/sip/catalogue/collect.py /tmp/catalogue > tests/unit/sip/catalogue/messages.txt

Reads every ``messages.log`` of a report folder, keeps one message per shape (start
line kind, header names in order, transport) and writes them separated by ``=== ``
lines, with CRLF line ends restored when the lazy-parsing tests read them.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

SECTION = re.compile(r"^=== .*?  (UDP|TCP|TLS|WSS|WS)  .*$", re.M)


def messages(log: str) -> list[tuple[str, str]]:
    """(transport, message text) of every SIP message in one messages.log."""
    out = []
    parts = SECTION.split(log)
    for transport, chunk in zip(parts[1::2], parts[2::2], strict=True):
        lines = chunk.split("\n")[2:]  # the summary line, then the message
        text = "\n".join(lines).rstrip("\n")
        if text.startswith(("SIP/2.0 ", "REGISTER ", "INVITE ", "ACK ", "BYE ", "CANCEL ",
                            "OPTIONS ")):
            out.append((transport, text))
    return out


def shape(transport: str, text: str) -> tuple[str, ...]:
    head = text.split("\n\n", 1)[0].split("\n")
    start = head[0].split(" ")[0] if not head[0].startswith("SIP/") else head[0][:11]
    return (transport, start, *[line.split(":", 1)[0] for line in head[1:]])


def main(folder: str) -> None:
    seen: set[tuple[str, ...]] = set()
    for log in sorted(Path(folder).glob("*/messages.log")):
        for transport, text in messages(log.read_text(encoding="utf-8", errors="replace")):
            key = shape(transport, text)
            if key not in seen:
                seen.add(key)
                sys.stdout.write(f"=== {log.parent.name} {transport}\n{text}\n")


if __name__ == "__main__":
    main(sys.argv[1])
