"""The reactor type every layer is given: Twisted's interfaces, one name.

Each component takes its reactor as a constructor argument (never the global one) and
annotates it with the narrowest Twisted interface it uses: ``IReactorTime`` for
timers alone; :class:`IReactor` when it also opens sockets. ``task.Clock`` provides
``IReactorTime``; the running reactor provides every interface of :class:`IReactor`
(the command line hands it over once with ``typing.cast``).
"""

from __future__ import annotations

from twisted.internet.interfaces import (
    IReactorCore,
    IReactorProcess,
    IReactorSSL,
    IReactorTCP,
    IReactorTime,
    IReactorUDP,
)


class IReactor(IReactorCore, IReactorTime, IReactorUDP, IReactorTCP, IReactorSSL,
               IReactorProcess):
    """A reactor that keeps time, opens UDP, TCP and TLS sockets, and runs programs."""


__all__ = ["IReactor", "IReactorTime"]
