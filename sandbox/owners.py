"""Which process owns a sandbox: host, pid and the pid's start time, written on every
container and session so that the reaper can tell a dead owner from a live one."""

import os
import socket
from functools import cache


def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks, so a reused pid is not taken for it."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "0"


@cache
def owner_id() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}/{pid}/{_start_ticks(pid)}"


def owner_alive(owner: str) -> bool | None:
    """True or False for owners on this host; None when the owner lives elsewhere."""
    host, _, rest = owner.partition("/")
    if host != socket.gethostname():
        return None
    pid, _, ticks = rest.partition("/")
    return pid.isdigit() and _start_ticks(int(pid)) == ticks
