"""Client programs under test: placeholders, templates, a real process started and stopped."""

from __future__ import annotations

import shutil

import pytest
import pytest_twisted
from twisted.internet import reactor

from testbed.client import (
    PROGRAM_KINDS,
    ClientProgram,
    ProgramError,
    ProgramMissing,
    program_spec,
)

VALUES = {"dns": "127.0.0.9:53", "registrar": "sip:sip.example.com", "registrar_host":
          "127.0.0.7", "registrar_port": "5061", "domain": "sip.example.com", "user": "alice",
          "password": "secret", "ca": "/tmp/ca.crt", "transport": "tls", "local": "127.0.0.8",
          "expires": "600"}


def test_a_command_gets_its_placeholders(tmp_path):
    spec = program_spec(command=["sh", "-c", "echo {user}@{domain} via {dns} in {workdir}"],
                        values=VALUES, workdir=tmp_path)
    assert spec.argv[2] == f"echo alice@sip.example.com via 127.0.0.9:53 in {tmp_path}"


@pytest.mark.parametrize("command, words", [
    (["sh", "-c", "echo {dnss}"], "unknown placeholder {dnss}; available: {dns}, "),
    (["no-such-program-here", "{user}"], "'no-such-program-here' not found"),
    ([], "client.command is empty"),
])
def test_bad_commands_are_one_line(tmp_path, command, words):
    with pytest.raises(ProgramError, match=words.replace("{", r"\{").replace("}", r"\}")):
        program_spec(command=command, values=VALUES, workdir=tmp_path)


def test_an_unknown_kind_names_the_kinds(tmp_path):
    with pytest.raises(ProgramError, match="expected one of baresip, linphonec, sipp"):
        program_spec(kind="zoiper", values=VALUES, workdir=tmp_path)


def test_a_missing_program_names_its_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(shutil, "which", lambda name, path=None: None)
    with pytest.raises(ProgramMissing, match="baresip not installed: apt-get install baresip"):
        program_spec(kind="baresip", values=VALUES, workdir=tmp_path)


@pytest.mark.parametrize("kind", sorted(PROGRAM_KINDS))
def test_every_template_fills_in(tmp_path, kind, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, path=None: f"/usr/bin/{name}")
    spec = program_spec(kind=kind, values=VALUES, workdir=tmp_path)
    text = "\n".join(spec.files.values()) + " ".join(spec.argv)
    assert "{" not in text.replace("[", "")  # every placeholder filled
    assert "alice" in text and "sip.example.com" in text


def test_baresip_account_carries_the_transport(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, path=None: f"/usr/bin/{name}")
    tls = program_spec(kind="baresip", values=VALUES, workdir=tmp_path)
    auto = program_spec(kind="baresip", values={**VALUES, "transport": "auto"}, workdir=tmp_path)
    assert tls.files["accounts"].startswith("<sip:alice@sip.example.com;transport=tls>")
    assert auto.files["accounts"].startswith("<sip:alice@sip.example.com>;auth_pass=secret")
    assert "dns_server\t\t127.0.0.9:53" in tls.files["config"]


@pytest_twisted.ensureDeferred
async def test_a_program_runs_and_its_output_tail_is_kept(tmp_path):
    spec = program_spec(command=["sh", "-c", "echo out-{user}; echo err >&2; exit 3"],
                        values=VALUES, workdir=tmp_path / "work")
    program = ClientProgram(reactor, spec).start()
    assert await program.exited == 3
    assert sorted(program.tail().splitlines()) == ["err", "out-alice"]  # stdout and stderr
    assert not program.running


@pytest_twisted.ensureDeferred
async def test_a_program_that_does_not_exit_is_stopped(tmp_path):
    spec = program_spec(command=["sh", "-c", "echo ready; exec sleep 60"], values=VALUES,
                        workdir=tmp_path)
    program = ClientProgram(reactor, spec)
    ready = program.printed("ready")
    program.start()
    assert await ready == "ready" and program.running
    code = await program.stop()
    assert code == 128 + 15  # SIGTERM
