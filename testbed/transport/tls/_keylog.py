"""SSLKEYLOGFILE lines (the NSS key log format) so Wireshark can decrypt a capture."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path

from OpenSSL import SSL
from twisted.logger import Logger

from ._certificates import TlsConfigError

_log = Logger()


class KeyLog:
    """Append TLS secrets to *path* in the SSLKEYLOGFILE (NSS key log) format, one line per
    secret (``CLIENT_RANDOM <hex> <hex>`` for TLS 1.2, ``CLIENT_HANDSHAKE_TRAFFIC_SECRET``
    and friends for TLS 1.3), so Wireshark can decrypt a capture.

    Pass the same instance to client and server options, or one each. Writes are
    serialised by a lock and each line is a single ``O_APPEND`` write, so several
    contexts (or processes) may share a file. The file is created mode 0600.
    A write error stops logging and is kept in :attr:`error` rather than breaking the
    handshake.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.lines_written = 0
        self.error: str | None = None
        self._lock = threading.Lock()
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        except OSError as exc:
            raise TlsConfigError(f"TLS key log file {self.path}: {exc.strerror}") from None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> KeyLog | None:
        """A key log at ``$SSLKEYLOGFILE`` if that is set (and not empty), else ``None``."""
        path = (os.environ if environ is None else environ).get("SSLKEYLOGFILE", "")
        return cls(path) if path else None

    def __repr__(self) -> str:
        return f"KeyLog({str(self.path)!r})"

    def __call__(self, connection: SSL.Connection | None, line: bytes) -> None:
        """The ``SSL.Context.set_keylog_callback`` callback."""
        with self._lock:
            if self.error is not None:
                return
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                try:
                    os.write(fd, line.rstrip(b"\r\n") + b"\n")
                finally:
                    os.close(fd)
            except OSError as exc:
                self.error = f"TLS key log {self.path}: {exc.strerror}; key logging stopped"
                _log.error("{error}", error=self.error)
            else:
                self.lines_written += 1
