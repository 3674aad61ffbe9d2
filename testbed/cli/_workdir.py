"""The files a command's worlds write (their CA certificates), and their removal.

A command that builds worlds owns one work directory for them: a fresh temporary one,
removed when the command ends however it ends (error, Ctrl-C, SIGTERM), unless
``--keep-temp`` asks to keep it (its path is printed); or a folder given by the user
(``--report-dir``), which is never removed.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def work_directory(name: str, *, keep: bool = False,
                   given: str | Path | None = None) -> Iterator[Path]:
    """A directory for the run: ``given`` as it is, or ``/tmp/testbed-NAME-*``."""
    if given is not None:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    folder = Path(tempfile.mkdtemp(prefix=f"testbed-{name}-"))
    try:
        yield folder
    finally:
        if keep:
            print(f"temporary files kept in {folder}", flush=True)
        else:
            shutil.rmtree(folder, ignore_errors=True)
