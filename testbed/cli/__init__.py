"""The ``testbed`` command line: thin, it parses flags and maps outcomes to exit codes.

One module per command (``register``, ``run``, ``validate``/``list``/``schema``,
``serve``, ``load``) and the argument types they share. Exit codes: 0 success, 1 the
operation failed (the line says why) or the output was closed (``| head``), 2 a usage
error, 130/143 a run interrupted by SIGINT/SIGTERM. ``testbed --version`` prints the
installed package's version.
"""

from ._load import authentication_refused, config_from_args
from ._main import build_parser, main

__all__ = ["authentication_refused", "build_parser", "config_from_args", "main"]
