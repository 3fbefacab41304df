"""CPU seconds a benchmark's processes spent, each with its children (Postgres' backends).

Wall time on a shared machine is mostly other people's load; a process's own CPU time is not.
`CpuMeter` reads each process's user + system time (children included, the live ones and the
ones already reaped: Postgres' backends come and go) before and after a measured stretch.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from urllib.parse import urlsplit

import psutil


def listening(address: str) -> int:
    """The pid of the process listening on `address` ("host:port" or a URL with a port)."""
    port = urlsplit(address if "//" in address else f"//{address}").port
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return conn.pid
    raise LookupError(f"no process listens on {address}")


def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """User + system time of `pid` and of all its children, reaped or alive (or of `pid` alone)."""
    process = psutil.Process(pid)
    times = process.cpu_times()
    if not children:
        return times.user + times.system
    total = times.user + times.system + times.children_user + times.children_system
    for child in process.children(recursive=True):
        try:
            own = child.cpu_times()
        except psutil.NoSuchProcess:  # ended meanwhile: its parent's children_* has it now
            continue
        total += own.user + own.system
    return total


class CpuMeter:
    """CPU seconds per named process between `start()` and `stop()`."""

    def __init__(self, pids: Mapping[str, int], *, alone: Collection[str] = ()) -> None:
        """`alone`: names of processes measured without their children (a benchmark that started
        the others itself)."""
        self.pids = dict(pids)
        self.alone = frozenset(alone)
        self._before: dict[str, float] = {}
        self.spent: dict[str, float] = {}

    def start(self) -> None:
        self._before = {name: self._seconds(name, pid) for name, pid in self.pids.items()}

    def stop(self) -> dict[str, float]:
        self.spent = {name: self._seconds(name, pid) - self._before[name] for name, pid in self.pids.items()}
        return self.spent

    def _seconds(self, name: str, pid: int) -> float:
        return cpu_seconds(pid, children=name not in self.alone)

    def report(self, per: int, unit: str) -> str:
        """Milliseconds per `unit` (e.g. per resident), for each process and in all."""
        parts = [f"{name} {seconds * 1000 / per:.2f}" for name, seconds in self.spent.items()]
        total = sum(self.spent.values()) * 1000 / per
        return f"CPU ms per {unit}: " + ", ".join(parts) + f"; all {total:.2f}"
