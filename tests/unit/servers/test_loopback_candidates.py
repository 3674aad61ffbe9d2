"""find_free_loopback over a plan's candidates: in order, past a taken one, one clear line."""

import socket

import pytest

from servers.loopback import PortUnavailable, find_free_loopback


def test_candidates_are_tried_in_order_and_a_taken_one_is_skipped():
    first, second = "127.201.7.2", "127.201.7.3"
    assert find_free_loopback([("UDP", 0)], candidates=[first, second]) == first
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((first, 0))
        port = taken.getsockname()[1]
        assert find_free_loopback([("UDP", port)], candidates=[first, second]) == second
        assert find_free_loopback([("UDP", 0)], exclude={first},
                                  candidates=[first, second]) == second
        with pytest.raises(PortUnavailable, match=f"UDP/{port} not free on {first}$"):
            find_free_loopback([("UDP", port)], candidates=[first])
