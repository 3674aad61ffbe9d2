"""RFC 2782 SRV ordering: priority first, then a weighted random draw within a priority.

The randomness is a :class:`random.Random` passed in, so a seed reproduces an order.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from ._records import SrvRecord


def order_srv(records: Iterable[SrvRecord], rng: random.Random) -> list[SrvRecord]:
    """Order SRV records for contacting, following RFC 2782 ("Usage rules") exactly.

    Lowest priority first. Within one priority, repeatedly: put the records with weight 0
    first (keeping their given order), then the others; draw an integer uniformly in
    ``[0, sum of weights]`` and take the first record whose running weight sum is at
    least that number. A record of weight 0 is therefore chosen first with probability
    ``1 / (sum + 1)``, and when every weight is 0 the given order is kept. No number is
    drawn when a single record is left, so a seed gives the same sequence whatever the
    group sizes.
    """
    records = list(records)
    ordered: list[SrvRecord] = []
    for priority in sorted({r.priority for r in records}):
        group = [r for r in records if r.priority == priority]
        pending = [r for r in group if r.weight == 0] + [r for r in group if r.weight > 0]
        while pending:
            if len(pending) == 1:
                ordered.append(pending.pop())
                break
            pick = rng.randint(0, sum(r.weight for r in pending))
            running = 0
            for index, record in enumerate(pending):
                running += record.weight
                if running >= pick:
                    ordered.append(pending.pop(index))
                    break
    return ordered
