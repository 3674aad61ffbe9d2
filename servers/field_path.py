"""Field paths into configuration data, and the error that names one.

Zones (``servers.dns``) and faults (``servers.faults``) are plain data that a scenario
file carries. Their checkers locate a bad field by its path, ``("records", 3, "port")``,
written ``records[3].port`` by :func:`format_path`, and raise a :class:`ConfigError`
carrying it, so that the scenario layer can cite file:line.
"""

from __future__ import annotations

from collections.abc import Sequence


def format_path(path: Sequence[str | int]) -> str:
    """``records[3].port`` for ``("records", 3, "port")``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class ConfigError(ValueError):
    """Bad configuration data, and where it is.

    ``path`` locates the field, e.g. ``("records", 3, "port")``; ``index`` is the entry's
    number in its list and ``field`` the key, when known.
    """

    def __init__(self, path: Sequence[str | int], message: str) -> None:
        self.path = tuple(path)
        self.message = message
        super().__init__(f"{format_path(self.path)}: {message}" if self.path else message)

    @property
    def index(self) -> int | None:
        return next((p for p in self.path if isinstance(p, int)), None)

    @property
    def field(self) -> str | None:
        return next((p for p in reversed(self.path) if isinstance(p, str)), None)
