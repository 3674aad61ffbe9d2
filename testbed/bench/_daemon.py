"""A reference server (Kamailio, NSD) run in the foreground in a session of its own.

The server gets a free port (UDP and TCP) on its host, runs in its work folder with
its output in a log there, is ready when ``ready()`` says so (polled, bounded) and is
stopped by signalling its session, so that its worker processes go too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


class Daemon:
    """One reference server: ``address``, :meth:`launch` (by a subclass), :meth:`stop`."""

    name = "server"

    def __init__(self, folder: Path, host: str) -> None:
        self.folder = folder
        self.host = host
        self.port = free_port(host)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def launch(self, command: list[str], log_name: str, ready: Callable[[], bool], *,
               timeout: float, env: dict[str, str] | None = None) -> None:
        """Start ``command`` and wait until ``ready()``; RuntimeError with the log's end
        if it exits or is not ready within ``timeout`` seconds."""
        log_path = self.folder / log_name
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=self.folder, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True,
                                            env=env)
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-500:]
                self.stop()
                raise RuntimeError(f"{self.name} did not start: {tail.strip()}")
            time.sleep(0.05)  # polling a child's readiness

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)  # its session: the server and its workers
        except ProcessLookupError:
            return
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def free_port(host: str) -> int:
    """A port free for both UDP and TCP on ``host``."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError(f"no port free for UDP and TCP on {host}")
