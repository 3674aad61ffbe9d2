"""Which ports below 1024 a world needs, and what to change where user namespaces are off."""

import os
import threading
from pathlib import Path

import pytest

from testbed.netns import (
    NamespaceUnavailable,
    enter_private_network,
    isolate_worlds,
    privileged_listeners,
    serve_advice,
    userns_remedy,
)
from testbed.scenario import load, parse

CATALOGUE = Path(__file__).resolve().parents[3] / "scenarios"

WORLD = """\
name: ports
troubleshooting: healthy
registrars:
  - name: pbx
    domain: sip.example.com
    listen: {listen}
client: {{transport: udp, registrar: "sip:sip.example.com"}}
steps:
  - register: {{}}
{dns}"""


def scenario(listen: str, dns: str = ""):
    return parse(WORLD.format(listen=listen, dns=dns), "ports.yaml")


@pytest.mark.parametrize(("listen", "dns", "expected"), [
    ("[{transport: udp}, {transport: tcp}, {transport: tls}]", "", []),
    ("[{transport: wss}]", "", ["WSS 443"]),
    ("[{transport: wss, port: 8443}]", "", []),  # an explicit port from 1024 up
    ("[{transport: udp, port: 500}, {transport: tcp, port: 500}]", "", ["UDP 500", "TCP 500"]),
    ("[{transport: udp}]", "dns: {zones: []}", ["DNS 53"]),
    ("[{transport: wss}, {transport: wss, port: 443}]", "", ["WSS 443"]),  # named once
])
def test_privileged_listeners(listen, dns, expected):
    assert privileged_listeners(scenario(listen, dns)) == expected


def test_the_catalogue_needs_443_and_53():
    assert privileged_listeners(load(CATALOGUE / "healthy" / "wss.yaml")) == ["WSS 443"]
    assert privileged_listeners(load(CATALOGUE / "healthy" / "auto.yaml")) == ["DNS 53"]
    assert privileged_listeners(load(CATALOGUE / "healthy" / "udp.yaml")) == []


def test_worlds_above_1023_change_nothing_and_say_nothing():
    plain = [scenario("[{transport: udp}, {transport: wss, port: 8443}]")]
    assert isolate_worlds(plain) is None  # returns before any probe or unshare(2)
    assert serve_advice(plain[0]) is None


def sysctls(**values):
    return lambda name: values.get(name.replace("/", "_"))


@pytest.mark.parametrize(("values", "remedy"), [
    ({"kernel_unprivileged_userns_clone": "0", "user_max_user_namespaces": "0"},
     "sudo sysctl -w kernel.unprivileged_userns_clone=1"),
    ({"kernel_apparmor_restrict_unprivileged_userns": "1", "user_max_user_namespaces": "9"},
     "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"),
    ({"kernel_unprivileged_userns_clone": "1", "user_max_user_namespaces": "0"},
     "sudo sysctl -w user.max_user_namespaces=10000"),
    ({"user_max_user_namespaces": "96362"},
     "allow unshare(2) of user namespaces (a container's seccomp profile may forbid it)"),
])
def test_userns_remedy_names_the_setting_that_forbids_them(values, remedy):
    assert userns_remedy(sysctls(**values)) == remedy


def test_a_threaded_process_is_refused_before_anything_changes():
    network = os.readlink("/proc/self/ns/net")
    release = threading.Event()
    worker = threading.Thread(target=release.wait)
    worker.start()
    try:
        with pytest.raises(NamespaceUnavailable, match="already started threads"):
            enter_private_network()  # unshare(2) would refuse it too (CLONE_NEWUSER)
    finally:
        release.set()
        worker.join()
    assert os.readlink("/proc/self/ns/net") == network
