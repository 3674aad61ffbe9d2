"""What a load run does: how many endpoints, which operation, how fast, for how long.

A :class:`LoadConfig` is plain data, validated in ``__post_init__`` so that a mistake in a
flag or a scenario step is one clear ``ValueError`` line. It serialises to JSON
(:meth:`to_json` / :meth:`from_json`) for ``--json`` reports; Ray workers get their
slice of the load (:meth:`slice`) as the object itself.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from testbed.client import ClientConfig
from testbed.sip import MODES, SipUri, Timers, parse_uri

OPERATIONS = ("register", "call")
CONNECTION_MODES = ("shared", "per-endpoint")
DEFAULT_TIME_LIMIT = 300.0
"""Hard bound on the issuing phase of any run (seconds), whatever count and rate say."""
MIN_STATS_INTERVAL = 0.1
"""The shortest statistics interval (seconds): a run keeps one record per interval."""


@dataclass
class LoadConfig:
    """A load run: ``endpoints`` users ``{user_prefix}{first_user + i}`` on one domain,
    or, when ``users`` names the accounts, those in turn (``["alice"]``: every endpoint
    is alice, with a contact of its own: the accounts of a served world).

    ``operation`` is ``register`` (REGISTER, digest answered, refreshes on the same
    Call-ID) or ``call`` (INVITE, ACK, BYE). ``rate`` is operations started per second
    across all endpoints (None: as fast as the ``window`` of operations in flight
    allows). The run issues operations until ``count`` were started or ``duration``
    seconds passed, whichever comes first, and never longer than ``time_limit``; then
    it waits at most ``drain`` seconds (default: 2 x Timer F + connect timeout) for the
    operations in flight. ``connections``: ``shared`` puts every endpoint on one UDP
    socket and one TCP/TLS/WSS connection per target; ``per-endpoint`` gives each
    endpoint its own socket or connection, as real phones have. ``stats_interval`` is
    the length of the result's intervals (its periodic statistics), 0.1 s at least.
    ``fast_path`` sends REGISTERs over shared UDP and TCP flows from templates and reads
    their answers with the lazy scanner (:mod:`._fast_client`); False carries them as
    the user agent does.
    """

    registrar: SipUri
    transport: str = "udp"
    endpoints: int = 1
    rate: float | None = None
    duration: float | None = None
    count: int | None = None
    operation: str = "register"
    user_prefix: str = "alice"
    users: list[str] = field(default_factory=list)
    first_user: int = 0
    domain: str | None = None
    password: str | None = None
    expires: int = 3600
    window: int | None = None
    connections: str = "shared"
    timers: Timers = field(default_factory=Timers)
    time_limit: float = DEFAULT_TIME_LIMIT
    drain: float | None = None
    call_to: str | None = None
    ca_file: str | None = None
    ca_pem: bytes | None = None
    insecure: bool = False
    server_name: str | None = None
    ws_path: str = "/"
    dns: list[tuple[str, int]] = field(default_factory=list)
    hosts: dict[str, str] = field(default_factory=dict)
    local_host: str = "127.0.0.1"
    connect_timeout: float = 5.0
    seed: int = 0
    fast_path: bool = True
    stats_interval: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.registrar, str):
            uri = parse_uri(self.registrar)
            if not isinstance(uri, SipUri):
                raise ValueError(f"registrar must be a SIP URI, not {self.registrar!r}")
            self.registrar = uri
        if self.transport not in MODES:
            raise ValueError(f"transport must be one of {', '.join(MODES)}")
        if self.operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}")
        if self.connections not in CONNECTION_MODES:
            raise ValueError(f"connections must be one of {', '.join(CONNECTION_MODES)}")
        if not isinstance(self.endpoints, int) or self.endpoints < 1:
            raise ValueError(f"endpoints must be a positive integer, not {self.endpoints!r}")
        if any(not user or any(c.isspace() for c in user) for user in self.users):
            raise ValueError(f"user names must be non-empty, without spaces: {self.users!r}")
        if self.first_user < 0:
            raise ValueError("first_user must not be negative")
        if self.duration is None and self.count is None:
            raise ValueError("give a duration or a count (or both): a load run must end")
        if self.duration is not None and not (self.duration > 0 and math.isfinite(self.duration)):
            raise ValueError(
                f"duration must be a positive number of seconds, not {self.duration!r}")
        if self.count is not None and (not isinstance(self.count, int) or self.count < 0):
            raise ValueError(f"count must be a non-negative integer, not {self.count!r}")
        if self.rate is not None and not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError(f"rate must be a positive number per second, not {self.rate!r}")
        if self.window is not None and self.window < 1:
            raise ValueError("window must be at least 1")
        if not (self.time_limit > 0 and math.isfinite(self.time_limit)):
            raise ValueError("time_limit must be a positive number of seconds")
        if self.drain is not None and self.drain < 0:
            raise ValueError("drain must not be negative")
        if not (self.stats_interval >= MIN_STATS_INTERVAL and math.isfinite(self.stats_interval)):
            raise ValueError(f"stats_interval must be at least {MIN_STATS_INTERVAL:g} s, "
                             f"not {self.stats_interval!r}")
        if self.expires < 0:
            raise ValueError("expires must not be negative")

    # -- derived values -----------------------------------------------------------------

    @property
    def aor_domain(self) -> str:
        """The domain of every address-of-record (default: the registrar URI's host)."""
        return self.domain or self.registrar.host

    @property
    def in_flight_limit(self) -> int:
        """At most this many operations in flight (never more than one per endpoint)."""
        return min(self.window or self.endpoints, self.endpoints)

    @property
    def drain_seconds(self) -> float:
        if self.drain is not None:
            return self.drain
        return 2 * self.timers.timer_f + self.connect_timeout

    def user(self, index: int) -> str:
        """The username of endpoint ``index`` of this slice."""
        if self.users:
            return self.users[(self.first_user + index) % len(self.users)]
        return f"{self.user_prefix}{self.first_user + index}"

    def user_names(self) -> str:
        """The user names the run uses, for a message: ``alice0..alice9``, ``alice``."""
        if self.users:
            names = list(dict.fromkeys(self.users[:self.endpoints]))
            return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5
                                           else "")
        if self.endpoints == 1:
            return self.user(0)
        return f"{self.user(0)}..{self.user(self.endpoints - 1)}"

    def client_config(self, index: int = 0) -> ClientConfig:
        """The client configuration endpoint ``index`` would have as a lone user agent.

        The locator and the TLS trust are built from it.
        """
        user = self.user(index)
        return ClientConfig(
            aor=SipUri(host=self.aor_domain, user=user), registrar=self.registrar,
            transport=self.transport, username=user, password=self.password,
            expires=self.expires, timers=self.timers, ca_file=self.ca_file, ca_pem=self.ca_pem,
            insecure=self.insecure, server_name=self.server_name, ws_path=self.ws_path,
            local_host=self.local_host, hosts=dict(self.hosts), dns=list(self.dns),
            connect_timeout=self.connect_timeout, seed=self.seed)

    def slice(self, index: int, workers: int) -> LoadConfig:
        """Worker ``index`` of ``workers``: its share of endpoints, rate and count.

        Endpoints are split into consecutive blocks (users stay distinct across
        workers); rate and count are split in proportion; duration and limits are kept.
        """
        if not 0 <= index < workers:
            raise ValueError(f"worker index {index} not in 0..{workers - 1}")
        if workers > self.endpoints:
            raise ValueError(f"{workers} workers for {self.endpoints} endpoints: "
                             "give each worker at least one endpoint")
        base, extra = divmod(self.endpoints, workers)
        size = base + (1 if index < extra else 0)
        start = index * base + min(index, extra)
        share = size / self.endpoints
        count = None
        if self.count is not None:
            cbase, cextra = divmod(self.count, workers)
            count = cbase + (1 if index < cextra else 0)
        window = None if self.window is None else max(1, round(self.window * share))
        return dataclasses.replace(
            self, endpoints=size, first_user=self.first_user + start, count=count,
            rate=None if self.rate is None else self.rate * share, window=window,
            seed=self.seed * 1000 + index)

    # -- JSON (reports) -----------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["registrar"] = str(self.registrar)
        data["timers"] = {"t1": self.timers.t1, "t2": self.timers.t2, "t4": self.timers.t4}
        data["ca_pem"] = None if self.ca_pem is None else self.ca_pem.decode("ascii")
        data["dns"] = [list(server) for server in self.dns]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadConfig:
        data = dict(data)
        data["timers"] = Timers(**data["timers"])
        if data.get("ca_pem") is not None:
            data["ca_pem"] = data["ca_pem"].encode("ascii")
        data["dns"] = [(host, int(port)) for host, port in data.get("dns", [])]
        data["users"] = list(data.get("users", []))
        return cls(**data)
