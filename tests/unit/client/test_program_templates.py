"""How the shipped templates are filled: linphonec's resolver and proxy, baresip's DNS."""

import os
import shutil
from pathlib import Path

import pytest

from testbed.client import PROGRAM_KINDS, program_spec
from testbed.client._program import private_resolver

VALUES = {"dns": "127.0.0.9:53", "registrar": "sip:sip.example.com",
          "registrar_host": "127.0.0.7", "registrar_port": "5060",
          "domain": "sip.example.com", "user": "alice", "password": "secret",
          "ca": "/tmp/ca.crt", "transport": "udp", "local": "127.0.0.8", "expires": "60"}
CAN_UNSHARE = os.geteuid() == 0 and shutil.which("unshare") is not None


@pytest.mark.parametrize("dns, expected", [
    ("127.0.0.9:53", "127.0.0.9" if CAN_UNSHARE else None), ("127.0.0.9:5353", None),
    ("", None)])
def test_a_private_resolv_conf_needs_port_53(dns, expected):
    assert private_resolver(dns) == expected


def spec(kind, tmp_path, **values):
    if shutil.which(kind) is None:
        package = PROGRAM_KINDS[kind].package
        (pytest.fail if os.environ.get("CI") else pytest.skip)(
            f"{kind} not installed: apt-get install {package}")
    return program_spec(kind=kind, values={**VALUES, **values}, workdir=tmp_path)


@pytest.mark.skipif(not CAN_UNSHARE, reason="needs root and unshare")
def test_linphonec_resolves_through_our_dns_server(tmp_path):
    filled = spec("linphonec", tmp_path, transport="auto")
    assert filled.argv[:2] == ("unshare", "--mount")
    assert filled.files["resolv.conf"] == "nameserver 127.0.0.9\n"
    assert "reg_proxy=<sip:sip.example.com>" in filled.files["linphonerc"]


def test_linphonec_without_dns_on_53_reaches_the_registrar_by_address(tmp_path):
    filled = spec("linphonec", tmp_path, dns="127.0.0.9:5353", transport="tcp")
    assert Path(filled.argv[0]).name == "linphonec"
    assert "resolv.conf" not in filled.files
    assert "reg_proxy=<sip:127.0.0.7:5060;transport=tcp>" in filled.files["linphonerc"]


def test_baresip_asks_our_dns_server_and_answers_calls(tmp_path):
    filled = spec("baresip", tmp_path, transport="tls")
    assert "dns_server\t\t127.0.0.9:53" in filled.files["config"]
    assert filled.files["accounts"].startswith("<sip:alice@sip.example.com;transport=tls>")
    assert "answermode=auto" in filled.files["accounts"]


def test_a_relative_workdir_is_made_absolute(tmp_path, monkeypatch):
    """The program runs in its workdir: ``--report-dir reports`` must not make it look for
    ``reports/<scenario>/client`` inside ``reports/<scenario>/client``."""
    monkeypatch.chdir(tmp_path)
    filled = program_spec(command=["true", "-f", "{workdir}/config"], values=VALUES,
                          workdir=Path("reports/x/client"))
    assert filled.workdir == tmp_path / "reports/x/client"
    assert filled.argv[2] == f"{tmp_path}/reports/x/client/config"
