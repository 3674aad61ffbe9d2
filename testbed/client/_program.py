"""A real SIP client program as the client under test: baresip, linphonec, SIPp, or any.

A scenario names a program by ``command`` (an argument list with placeholders) or by
``kind`` (one of :data:`PROGRAM_KINDS`: the project ships a configuration template for
each, in ``testbed/client/programs/<kind>/``). :func:`program_spec` fills the
placeholders; :class:`ClientProgram` runs the program in its own work directory and
process group, keeps the tail of what it printed, and stops it (SIGTERM, then SIGKILL
after a bound). The world judges the program from what its servers observed.

Placeholders: ``{dns}`` (host:port of the DNS server), ``{registrar}`` (the registrar
URI), ``{registrar_host}``, ``{registrar_port}``, ``{domain}``, ``{user}``,
``{password}``, ``{ca}`` (the CA file), ``{workdir}``, ``{transport}`` (udp, tcp, tls,
wss or auto), ``{local}`` (a loopback address for the program to bind), ``{expires}``.

What each shipped kind can do differs, and the world needs to know: baresip asks the
DNS server it is given (``dns_server``) and does not verify certificates (baresip 1.0);
linphonec verifies certificates but has no DNS server setting (it reads
/etc/resolv.conf): run as root with ``unshare`` and a DNS server on port 53, it gets a
private mount namespace whose /etc/resolv.conf names ours (:data:`RESOLV_CONF`), else
it reaches the registrar by address (``{via_dns}`` says which); SIPp registers once and
exits. Both softphones answer calls by themselves (baresip ``answermode=auto``,
linphonec ``-a``), so a call to them ends in 200 OK when all goes well.
"""

from __future__ import annotations

import os
import shutil
import signal
import string
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from twisted.internet import defer, error, protocol
from twisted.internet.interfaces import IDelayedCall
from twisted.python.failure import Failure

from testbed.reactor import IReactor

PLACEHOLDERS = ("dns", "registrar", "registrar_host", "registrar_port", "domain", "user",
                "password", "ca", "workdir", "transport", "local", "expires")
"""What a ``command`` may say in braces."""

RESOLV_CONF = ("unshare", "--mount", "sh", "-c",
               'mount --bind "$0" /etc/resolv.conf && exec "$@"', "{workdir}/resolv.conf")
"""The prefix that runs a program in a private mount namespace whose /etc/resolv.conf
names our DNS server (the program's process id stays the same: ``exec``)."""

STOP_SECONDS = 5.0
"""How long a program gets to exit after SIGTERM (baresip unregisters first)."""

TAIL_LINES = 40


class ProgramError(Exception):
    """A client program that cannot be run as configured: one line saying why."""


class ProgramMissing(ProgramError):
    """The program is not installed; ``package`` is the Debian package that provides it."""

    def __init__(self, binary: str, package: str) -> None:
        super().__init__(f"{binary} not installed: apt-get install {package}")
        self.binary = binary
        self.package = package


@dataclass(frozen=True)
class ProgramKind:
    """A client the project ships a template for: its binary, package and arguments."""

    binary: str
    package: str
    argv: tuple[str, ...]
    files: tuple[str, ...]  # template files under programs/<kind>/, written to the workdir
    env: Mapping[str, str] = field(default_factory=dict)
    keep_stdin_open: bool = False
    dirs: tuple[str, ...] = ()  # folders the program expects to exist, under the workdir
    uses_dns: bool = True  # resolves through {dns} (its own setting, or RESOLV_CONF)
    resolv_conf: bool = False  # reads /etc/resolv.conf only: see private_resolver()
    verifies_certificates: bool = False
    transports: tuple[str, ...] = ("udp", "tcp", "tls", "auto")  # what its template supports


PROGRAM_KINDS: Mapping[str, ProgramKind] = {
    # baresip 1.0 reads config/accounts from -f DIR and asks our DNS server (dns_server).
    "baresip": ProgramKind("baresip", "baresip", ("{binary}", "-4", "-f", "{workdir}"),
                           ("config", "accounts", "contacts")),
    # linphonec quits at end of input: its stdin stays open; it has no DNS server setting.
    "linphonec": ProgramKind("linphonec", "linphone-cli",
                             ("{binary}", "-c", "{workdir}/linphonerc", "-a", "-d", "6", "-l",
                              "{workdir}/linphone.log"),
                             ("linphonerc",),
                             env={"HOME": "{workdir}/home", "LC_ALL": "C"},
                             keep_stdin_open=True, dirs=("home/.local/share/linphone",),
                             resolv_conf=True, verifies_certificates=True,
                             transports=("udp", "tcp", "tls", "auto")),
    # SIPp registers once (digest answered) and exits 0 only if the scenario held.
    "sipp": ProgramKind("sipp", "sip-tester",
                        ("{binary}", "-sf", "{workdir}/register.xml", "-m", "1",
                         "-t", "{sipp_transport}", "-i", "{local}", "-p", "0",
                         "-au", "{user}", "-ap", "{password}", "-timeout", "60s",
                         "-nostdin", "{registrar_host}:{registrar_port}"),
                        ("register.xml",), uses_dns=False, transports=("udp", "tcp", "tls")),
}


@dataclass(frozen=True)
class ProgramSpec:
    """What to run: arguments, environment, files to write first, where."""

    name: str
    argv: tuple[str, ...]
    workdir: Path
    files: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    keep_stdin_open: bool = False
    dirs: tuple[str, ...] = ()


def program_spec(*, command: Sequence[str] | None = None, kind: str | None = None,
                 values: Mapping[str, str], workdir: Path, name: str = "client") -> ProgramSpec:
    """The program of a scenario's client, its placeholders filled from ``values``.

    ``workdir`` is made absolute: the program runs in it, so a relative ``{workdir}``
    (``--report-dir reports``) would name a folder inside itself.

    Raises :class:`ProgramMissing` when the binary is not installed and
    :class:`ProgramError` for an unknown kind or placeholder.
    """
    workdir = workdir.absolute()
    filled = dict(values, workdir=str(workdir), name=name)
    if command is not None:
        argv = tuple(_fill(part, filled, "command") for part in command)
        if not argv:
            raise ProgramError("client.command is empty")
        if shutil.which(argv[0]) is None and not Path(argv[0]).is_file():
            raise ProgramError(f"client.command: {argv[0]!r} not found")
        return ProgramSpec(name, argv, workdir)
    if kind is None or kind not in PROGRAM_KINDS:
        raise ProgramError(f"unknown client kind {kind!r}; expected one of "
                           + ", ".join(PROGRAM_KINDS))
    spec = PROGRAM_KINDS[kind]
    binary = shutil.which(spec.binary, path=_search_path())
    if binary is None:
        raise ProgramMissing(spec.binary, spec.package)
    private = spec.resolv_conf and private_resolver(values.get("dns", ""))
    filled.update(binary=binary, **_kind_values(kind, filled, bool(private)))
    files = {path: _fill(_template(kind, path), filled, f"{kind}/{path}")
             for path in spec.files}
    argv = spec.argv
    if private:
        argv = RESOLV_CONF + argv
        files["resolv.conf"] = f"nameserver {private}\n"
    return ProgramSpec(name, tuple(_fill(part, filled, kind) for part in argv), workdir,
                       files, {key: _fill(value, filled, kind) for key, value in spec.env.items()},
                       spec.keep_stdin_open, spec.dirs)


def private_resolver(dns: str) -> str | None:
    """The address to write in a private /etc/resolv.conf for DNS server ``dns``
    (``host:port``), or None when that cannot be done: resolv.conf names no port (the
    server must be on 53), and a mount namespace needs root and ``unshare``."""
    host, _, port = dns.rpartition(":")
    if not host or port != "53" or os.geteuid() != 0 or shutil.which("unshare") is None:
        return None
    return host.strip("[]")


def _kind_values(kind: str, values: Mapping[str, str], via_dns: bool = True
                 ) -> dict[str, str]:
    """Values a template needs beyond the placeholders (derived, kind-specific).

    ``proxy``: the registrar URI as a program that resolves it should use (RFC 3263:
    no port, no transport in auto), or as one that reaches it by address.
    """
    transport = values.get("transport", "auto")
    host, port = values.get("registrar_host", ""), values.get("registrar_port", "")
    if via_dns:
        proxy = values.get("registrar", "")
        proxy += "" if transport == "auto" or "transport=" in proxy else f";transport={transport}"
    else:
        proxy = f"sip:{host}:{port};transport={'udp' if transport == 'auto' else transport}"
    param = "" if transport in ("auto", "udp") else f";transport={transport}"
    extra = {"via_dns": "yes" if via_dns else "no", "proxy": proxy, "transport_param": param,
             "sipp_transport": {"udp": "u1", "tcp": "t1", "tls": "l1"}.get(transport, "u1"),
             "hold_ms": "0"}
    if kind == "baresip":
        found = sorted(Path("/usr/lib").glob("*/baresip/modules")) + \
            sorted(Path("/usr/lib").glob("baresip/modules"))
        extra["baresip_modules"] = str(found[0]) if found else "/usr/lib/baresip/modules"
    return extra


def _template(kind: str, path: str) -> str:
    return resources.files("testbed.client").joinpath("programs", kind, path).read_text()


def _fill(text: str, values: Mapping[str, str], where: str) -> str:
    names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
    unknown = sorted(names - set(values))
    if unknown:
        raise ProgramError(f"{where}: unknown placeholder {{{unknown[0]}}}; available: "
                           + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS))
    return text.format_map(values)


def _search_path() -> str:
    return os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin",
                            "/sbin"])


class ClientProgram(protocol.ProcessProtocol):
    """One running client program: its output tail, its exit, its stop."""

    def __init__(self, reactor: IReactor, spec: ProgramSpec) -> None:
        self.reactor = reactor
        self.spec = spec
        self.output: deque[str] = deque(maxlen=TAIL_LINES)
        self.exited: defer.Deferred[int] = defer.Deferred()
        self.exit_code: int | None = None
        self._partial = b""
        self._kill: IDelayedCall | None = None
        self._waiting: list[tuple[str, defer.Deferred[str]]] = []
        self._signalled = False
        self.exit_time: float | None = None
        self._group = False
        self.pid: int | None = None

    def start(self) -> ClientProgram:
        """Write the program's files and spawn it in its own process group."""
        workdir = self.spec.workdir
        workdir.mkdir(parents=True, exist_ok=True)
        for path, content in self.spec.files.items():
            (workdir / path).parent.mkdir(parents=True, exist_ok=True)
            (workdir / path).write_text(content)
        for folder in self.spec.dirs:
            (workdir / folder).mkdir(parents=True, exist_ok=True)
        env = {"PATH": _search_path(), **self.spec.env}
        # setsid(1) execs the program as the leader of a session (and process group) of
        # its own, with the same process id: stop() signals the whole group, so nothing
        # it started outlives it. setpriv(1) --pdeathsig has the kernel kill it if this
        # process dies without a stop() (kill -9, a crash).
        setsid = shutil.which("setsid", path=_search_path())
        setpriv = shutil.which("setpriv", path=_search_path())
        argv = list(self.spec.argv)
        if setpriv:
            argv = [setpriv, "--pdeathsig", "KILL", *argv]
        if setsid:
            argv = [setsid, *argv]
        self._group = setsid is not None
        self.reactor.spawnProcess(self, argv[0], argv, env=env,
                                  path=str(workdir), usePTY=False,
                                  childFDs={0: "w", 1: "r", 2: "r"})
        self.pid = getattr(self.transport, "pid", None)
        if not self.spec.keep_stdin_open and self.transport is not None:
            self.transport.closeStdin()
        return self

    @property
    def running(self) -> bool:
        return self.exit_code is None

    def tail(self, lines: int = 10) -> str:
        """The last lines the program printed (stdout and stderr)."""
        return "\n".join(list(self.output)[-lines:])

    def outReceived(self, data: bytes) -> None:  # Twisted API
        self._lines(data)

    def errReceived(self, data: bytes) -> None:  # Twisted API
        self._lines(data)

    def printed(self, text: str) -> defer.Deferred[str]:
        """A Deferred of the first line (from now on) that contains ``text``."""
        waiter: defer.Deferred[str] = defer.Deferred()
        self._waiting.append((text, waiter))
        return waiter

    def _lines(self, data: bytes) -> None:
        *complete, self._partial = (self._partial + data).split(b"\n")
        for raw in complete:
            line = raw.decode(errors="replace").rstrip()
            self.output.append(line)
            found = [(text, w) for text, w in self._waiting if text in line]
            self._waiting = [(text, w) for text, w in self._waiting if text not in line]
            for _, waiter in found:
                waiter.callback(line)
        self._partial = self._partial[-4096:]

    def processEnded(self, reason: Failure) -> None:  # Twisted API
        if self._kill is not None and self._kill.active():
            self._kill.cancel()
        value = reason.value
        code = getattr(value, "exitCode", None)
        self._signalled = not isinstance(code, int)
        self.exit_time = self.reactor.seconds()
        self.exit_code = code if isinstance(code, int) else 128 + (
            getattr(value, "signal", None) or 0)
        if self._partial:
            self.output.append(self._partial.decode(errors="replace"))
        self.exited.callback(self.exit_code)

    def describe_exit(self) -> str:
        """``exited with status 1``, ``killed by signal 9``, or ``running``."""
        if self.exit_code is None:
            return "running"
        if self.exit_code > 128 and self._signalled:
            return f"killed by signal {self.exit_code - 128}"
        return f"exited with status {self.exit_code}"

    def stop(self, grace: float = STOP_SECONDS) -> defer.Deferred[int]:
        """SIGTERM to its process group (baresip unregisters on it), then SIGKILL after
        ``grace`` seconds; what the program left behind in its group is killed too."""
        if self.exit_code is not None or self.transport is None:
            self._signal_group(signal.SIGKILL)
            return defer.succeed(self.exit_code if self.exit_code is not None else 0)
        try:
            self.transport.signalProcess("TERM")
        except error.ProcessExitedAlready:
            return self.exited
        self._signal_group(signal.SIGTERM)
        self._kill = self.reactor.callLater(grace, self._force)
        self.exited.addBoth(self._reap_group)
        return self.exited

    def _force(self) -> None:
        self._signal_group(signal.SIGKILL)
        if self.transport is not None:
            try:
                self.transport.signalProcess("KILL")
            except error.ProcessExitedAlready:
                pass

    def _reap_group(self, result: object) -> object:
        self._signal_group(signal.SIGKILL)
        return result

    def _signal_group(self, number: int) -> None:
        if self._group and self.pid:
            try:
                os.killpg(self.pid, number)
            except (ProcessLookupError, PermissionError):
                pass


__all__ = ["PLACEHOLDERS", "PROGRAM_KINDS", "ClientProgram", "ProgramError", "ProgramMissing",
           "ProgramKind", "ProgramSpec", "program_spec"]
