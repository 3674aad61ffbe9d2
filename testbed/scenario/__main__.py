"""``python -m testbed.scenario [README.md]``: regenerate README's scenario reference.

Rewrites the section between ``<!-- reference:start -->`` and ``<!-- reference:end -->``
from the schema (``make schema`` runs it); prints the section when the file has no
markers.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ._reference import END, START, reference_markdown, with_reference


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "README.md")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror}", file=sys.stderr)
        return 1
    if START not in text or END not in text:
        print(f"{path}: no {START} ... {END} section; here it is:", file=sys.stderr)
        print(reference_markdown(), end="")
        return 1
    updated = with_reference(text)
    if updated != text:
        path.write_text(updated, encoding="utf-8")
        print(f"{path}: scenario reference rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
