"""Running a command's coroutine on Twisted's global reactor.

The global reactor is imported only when a command runs (``testbed --help`` and usage
errors never start one), and cast once, here, to the interface every layer takes.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, cast

from twisted.internet import defer, task

from testbed.reactor import IReactor


def react(main: Callable[[IReactor], Coroutine[Any, Any, None]]) -> int:
    """Run ``main(reactor)`` until it finishes; the exit code (0 when it returned).

    Non-zero when ``main`` raised (the traceback is logged by Twisted) or when the
    process was asked to stop (Ctrl-C, SIGTERM) before ``main`` finished.
    """

    def start(reactor: object) -> defer.Deferred[None]:
        return defer.ensureDeferred(main(cast(IReactor, reactor)))

    try:
        task.react(start)
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
