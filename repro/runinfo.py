"""How and where a run happened: the command line and the machine, recorded in outputs."""

from __future__ import annotations

import os
import platform
import shlex
import sys

__all__ = ["command_line", "machine"]


def command_line() -> str:
    """The ``augsnn ...`` command this process runs (``sys.argv`` quoted for a shell)."""
    return "augsnn " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def machine() -> str:
    """Architecture, cores, memory and operating system of this machine, in words."""
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
        mem_s = f", {mem:.0f} GiB memory"
    except (ValueError, OSError, AttributeError):
        mem_s = ""
    return f"{platform.machine()}, {os.cpu_count()} cores{mem_s}, {platform.system()}"
