"""Commands run as an ordinary user, who may not bind ports below 1024.

What the ``ordinary_user`` fixture needs, by how the suite runs:

- as root (CI): a user to drop to, ``testbed-user`` (``TESTBED_TEST_USER`` names
  another), created with ``useradd`` when missing; ``setpriv`` (util-linux) drops to
  it. That user must be able to read the checkout and run the venv's interpreter:
  every folder above them open to others (``o+rx``). Where the interpreter is not (a
  pyenv Python under ``/root``), the user runs the venv's packages on the system Python
  of the same version (``/usr/bin/python3.11``) through a venv of its own; where the
  checkout is not, the test fails in CI and skips elsewhere, saying so.
- as an ordinary user: nothing; the commands run as that user.
- inside a user namespace already (an ordinary user's ``make test``: the plugin moved
  the whole session into one, where it is uid 0): ``unshare --map-user`` (util-linux
  2.38) runs the commands as uid 1000 of a nested user namespace, unprivileged again.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
USER = os.environ.get("TESTBED_TEST_USER", "testbed-user")
NESTED_UID = 1000
BIND_443 = "import socket; socket.socket().bind(('127.0.0.1', 443))"


def unavailable(reason: str) -> None:
    """Fail in CI, skip elsewhere: the test cannot run as an ordinary user here."""
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@dataclass
class OrdinaryUser:
    """Runs commands as a user who may not bind ports below 1024, in ``home``."""

    prefix: list[str]
    python: str
    home: Path
    env: dict[str, str] = field(default_factory=dict)

    def command(self, *args: str | Path) -> list[str]:
        return [*self.prefix, *(str(a) for a in args)]

    def run(self, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), capture_output=True, text=True,
                              cwd=ROOT, env=self.env, timeout=timeout)

    def popen(self, *args: str | Path) -> subprocess.Popen[str]:
        return subprocess.Popen(self.command(*args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=ROOT, env=self.env)

    def testbed(self, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.run(self.python, "-m", "testbed.cli", *args, timeout=timeout)

    def uid(self) -> int:
        """The user's uid as this process sees it (the owner of its home folder)."""
        return self.home.stat().st_uid


def _in_initial_user_namespace() -> bool:
    return Path("/proc/self/uid_map").read_text().split() == ["0", "0", "4294967295"]


def _as_root_drop_to_user() -> tuple[list[str], tuple[int, int]]:
    if shutil.which("setpriv") is None:
        unavailable("setpriv (util-linux) is needed to drop to an ordinary user: "
                    "apt-get install util-linux")
    try:
        account = pwd.getpwnam(USER)
    except KeyError:
        if shutil.which("useradd") is None:
            unavailable(f"no user {USER} and no useradd to create it: apt-get install passwd")
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--shell", "/usr/sbin/nologin", USER], check=True)
        account = pwd.getpwnam(USER)
    return (["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}",
             "--init-groups"], (account.pw_uid, account.pw_gid))


def _usable_python(prefix: list[str], home: Path, env: dict[str, str]) -> str:
    """An interpreter the user can run with this venv's packages and the checkout."""

    def works(python: str) -> bool:
        probe = subprocess.run([*prefix, python, "-c", "import testbed.netns, servers"],
                               capture_output=True, cwd=ROOT, env=env, timeout=60)
        return probe.returncode == 0

    if works(sys.executable):
        return sys.executable
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(version, path="/usr/local/bin:/usr/bin")
    if system is not None:
        venv = home / "venv"
        subprocess.run([*prefix, system, "-m", "venv", "--without-pip", str(venv)],
                       check=True, capture_output=True, env=env, timeout=60)
        site = Path(sysconfig.get_paths(vars={"base": str(venv)})["purelib"])
        borrowed = sysconfig.get_paths()["purelib"]
        (site / "testbed-venv.pth").write_text(f"import site; site.addsitedir({borrowed!r})\n")
        if works(str(venv / "bin" / "python")):
            return str(venv / "bin" / "python")
    unavailable(f"user {USER} cannot run {sys.executable} with the checkout {ROOT}: every "
                "folder above both must be open to others (o+rx), or a system "
                f"{version} must be installed")
    raise AssertionError("unreachable")


@dataclass
class Account:
    """How to become the ordinary user, its interpreter, and a folder it owns."""

    prefix: list[str]
    owner: tuple[int, int] | None  # chown new folders to it (when root drops to a user)
    folder: Path
    python: str = ""


@pytest.fixture(scope="session")
def ordinary_account(tmp_path_factory):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/"}
    removed = None
    if not _in_initial_user_namespace():
        if shutil.which("unshare") is None or "--map-user" not in subprocess.run(
                ["unshare", "--help"], capture_output=True, text=True).stdout:
            unavailable("the suite runs in a user namespace already; dropping to an "
                        "ordinary user in a nested one needs util-linux 2.38 (unshare "
                        "--map-user)")
        account = Account(["unshare", "--user", f"--map-user={NESTED_UID}",
                           f"--map-group={NESTED_UID}"], None, tmp_path_factory.mktemp("netns"))
    elif os.geteuid() == 0:
        prefix, owner = _as_root_drop_to_user()
        # Not under pytest's own temporary folder: that one is open to root alone.
        removed = Path(tempfile.mkdtemp(prefix="testbed-netns-"))
        os.chown(removed, *owner)
        account = Account(prefix, owner, removed)
    else:
        account = Account([], None, tmp_path_factory.mktemp("netns"))
    try:
        account.python = _usable_python(account.prefix, account.folder, env)
        bind = subprocess.run([*account.prefix, account.python, "-c", BIND_443],
                              capture_output=True, env=env, timeout=60)
        if bind.returncode == 0:
            unavailable("every user may bind ports below 1024 here "
                        "(net.ipv4.ip_unprivileged_port_start): nothing to test")
        yield account
    finally:
        if removed is not None:
            shutil.rmtree(removed, ignore_errors=True)


@pytest.fixture
def ordinary_user(ordinary_account):
    """Commands as an ordinary user, with a fresh ``home`` folder of its own."""
    home = Path(tempfile.mkdtemp(prefix="home-", dir=ordinary_account.folder))
    if ordinary_account.owner is not None:
        os.chown(home, *ordinary_account.owner)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8",
           "NO_COLOR": "1", "HOME": str(home), "TMPDIR": str(home)}
    return OrdinaryUser(ordinary_account.prefix, ordinary_account.python, home, env)
