"""Where a served world listens: stable per scenario name, or pinned to one address."""

import pytest

from testbed.scenario import AddressError, AddressPlan, check_local_address


def test_a_name_gives_the_same_addresses_every_time_and_others_differ():
    plan = AddressPlan.stable("healthy-udp")
    assert plan == AddressPlan.stable("healthy-udp")
    assert plan.public[0].endswith(".2") and plan.public[-1].endswith(".254")
    assert len(set(plan.public)) == 253
    prefix = plan.public[0].rsplit(".", 1)[0]
    assert all(a.startswith(prefix + ".") for a in plan.public)
    assert prefix.split(".")[1] != "0"  # never the 127.0.0.N of `testbed run` worlds
    others = {AddressPlan.stable(f"scenario-{n}").public[0] for n in range(50)}
    assert len(others) > 40


def test_a_pinned_plan_puts_public_parts_on_the_address_and_hides_the_rest_on_loopback():
    plan = AddressPlan.pin("192.0.2.10", "healthy-udp")
    assert plan.public == ("192.0.2.10",) and plan.pinned == "192.0.2.10"
    assert plan.private == AddressPlan.stable("healthy-udp").private


@pytest.mark.parametrize(("address", "message"), [
    ("nonsense", "--address nonsense: not an IP address"),
    ("0.0.0.0", "not a wildcard or multicast"),
    ("224.0.0.1", "not a wildcard or multicast"),
    ("203.0.113.7", "--address 203.0.113.7: not an address of this machine"),
])
def test_bad_addresses_are_one_line(address, message):
    with pytest.raises(AddressError, match=message.replace(".", r"\.")):
        check_local_address(address)


def test_loopback_addresses_are_this_machines():
    assert check_local_address("127.3.4.5") == "127.3.4.5"
