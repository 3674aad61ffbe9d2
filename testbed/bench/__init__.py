"""Benchmarks (``make bench``, ``python -m testbed.bench``): figures printed and written
as JSON with the machine they were taken on; nothing about time is ever asserted."""

from ._main import PHASES, machine_info, main

__all__ = ["PHASES", "machine_info", "main"]
