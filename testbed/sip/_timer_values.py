"""RFC 3261 timer values (§17, Appendix A "Table 4") as one immutable value.

T1, T2 and T4 are the inputs; Timers A to K (and RFC 6026's L and M) are derived from
them, so a scenario that scales T1 down scales every transaction timer with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Timers:
    """T1, T2, T4 and the transaction timers derived from them, in seconds.

    The defaults are RFC 3261's: T1 = 500 ms (RTT estimate), T2 = 4 s (maximum
    retransmit interval for non-INVITE requests and INVITE responses), T4 = 5 s
    (maximum time a message stays in the network). Scenarios may scale all three down,
    e.g. ``Timers(t1=0.05, t2=0.4, t4=0.5)``, so that Timer F fires after 3.2 s.

    The ``timer_*`` properties are the values for an *unreliable* transport (UDP).
    Over a reliable one (TCP, TLS, WS, WSS) the transactions do not start Timers A, E
    and G, and use zero for Timers D, I, J and K (RFC 3261 §17.1.1.2, §17.1.2.2,
    §17.2.1, §17.2.2); :meth:`linger` gives those four for either kind of transport.
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    def __post_init__(self) -> None:
        for name in ("t1", "t2", "t4"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name.upper()} must be a positive number of seconds: {value!r}")
        if self.t2 < self.t1:
            raise ValueError(f"T2 ({self.t2}) must not be shorter than T1 ({self.t1})")

    @classmethod
    def scaled(cls, t1: float, *, t2: float | None = None, t4: float | None = None) -> Timers:
        """Timers for ``t1`` with T2 and T4 in RFC 3261's ratios (8·T1 and 10·T1, as
        4 s and 5 s are to 500 ms) unless given; T2 is never below T1.

        ``Timers.scaled(0.05)`` is ``Timers(t1=0.05, t2=0.4, t4=0.5)``: Timer F in 3.2 s.
        """
        t2 = 8 * t1 if t2 is None else t2
        t4 = 10 * t1 if t4 is None else t4
        return cls(t1=t1, t2=max(t2, t1), t4=t4)

    @property
    def timer_a(self) -> float:
        """First INVITE retransmit interval over UDP (T1); it doubles at each firing (§17.1.1.2)."""
        return self.t1

    @property
    def timer_b(self) -> float:
        """INVITE transaction timeout in Calling: 64*T1 (§17.1.1.2)."""
        return 64 * self.t1

    @property
    def timer_c(self) -> float:
        """How long an INVITE may stay unanswered after a provisional response: 360*T1,
        the "greater than 3 minutes" of RFC 3261 §16.6 point 11 at the default T1. It is
        a proxy's timer; the user agent applies it too, so a call never waits forever
        for a final response that was lost (it then CANCELs, §9.1)."""
        return 360 * self.t1

    @property
    def timer_d(self) -> float:
        """Wait time for response retransmissions in client INVITE Completed (unreliable).

        RFC 3261 §17.1.1.2 asks for "at least 32 seconds". We use 64*T1: exactly 32 s at
        the default T1 (more for a larger T1), and it scales down with T1 like Timers
        B, F and H. Timer D only has to outlive the server's retransmissions of the final
        response, which stop at Timer H = 64*T1, so 64*T1 keeps its purpose when scaled.
        """
        return 64 * self.t1

    @property
    def timer_e(self) -> float:
        """First non-INVITE retransmit interval over UDP (T1); doubles up to T2 (§17.1.2.2)."""
        return self.t1

    @property
    def timer_f(self) -> float:
        """Non-INVITE transaction timeout: 64*T1 (§17.1.2.2)."""
        return 64 * self.t1

    @property
    def timer_g(self) -> float:
        """First INVITE final-response retransmit interval (T1); doubles up to T2 (§17.2.1)."""
        return self.t1

    @property
    def timer_h(self) -> float:
        """Wait time for the ACK in server INVITE Completed: 64*T1 (§17.2.1)."""
        return 64 * self.t1

    @property
    def timer_i(self) -> float:
        """Wait time for ACK retransmissions in server INVITE Confirmed: T4 (§17.2.1)."""
        return self.t4

    @property
    def timer_j(self) -> float:
        """Wait time for request retransmissions in server non-INVITE Completed: 64*T1 (§17.2.2)."""
        return 64 * self.t1

    @property
    def timer_k(self) -> float:
        """Wait time for response retransmissions in client non-INVITE Completed: T4 (§17.1.2.2)."""
        return self.t4

    @property
    def timer_l(self) -> float:
        """Wait time for INVITE retransmissions in server INVITE Accepted: 64*T1 (RFC 6026 §8.7)."""
        return 64 * self.t1

    @property
    def timer_m(self) -> float:
        """Wait time for 2xx retransmissions in client INVITE Accepted: 64*T1 (RFC 6026 §8.4)."""
        return 64 * self.t1

    def linger(self, timer: str, *, reliable: bool) -> float:
        """Timer D, I, J or K for the transport: zero when it is reliable.

        These timers only absorb retransmissions, and a reliable transport has none.
        """
        if timer not in ("D", "I", "J", "K"):
            raise ValueError(f"Timer {timer} is not one of the lingering timers D, I, J, K")
        return 0.0 if reliable else getattr(self, f"timer_{timer.lower()}")
