"""What /proc says about a process: its start time (which tells a pid's owner from a later process that
reuses the pid), whether it is a cluster's postmaster, and its uid.

``postmaster.pid`` is written by the server, hence by the ``postgres`` user, and a cluster superuser can
overwrite it (``COPY ... TO``): a pid read from it is trusted only once /proc shows a process of the
expected uid whose command line is ``postgres -D <this data directory>``.
"""

from __future__ import annotations

import os
from pathlib import Path


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses):
    [0] is the state, [19] the start time in clock ticks since boot; None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    _, _, rest = text.rpartition(")")
    fields = rest.split()
    return fields if len(fields) > 19 else None


def start_time(pid: int) -> int | None:
    """The start time of ``pid`` (clock ticks since boot), None when it is not running."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields and fields[19].isdigit() else None


def is_alive(pid: int, started: int) -> bool:
    """True when ``pid`` runs and is the process that started at ``started`` (not a zombie, not a later
    process that reuses the pid)."""
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] not in ("Z", "X") and fields[19] == str(started)


def uid_of(pid: int) -> int | None:
    """The real uid of ``pid`` (the ``Uid:`` line of /proc/<pid>/status), None when it is not running."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _argv(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def is_postmaster(pid: int, data_dir: Path, uid: int) -> bool:
    """True when ``pid`` runs as ``uid`` and its command line is ``.../postgres ... -D <data_dir> ...``
    (a backend rewrites its command line to ``postgres: ...``, so only the postmaster matches)."""
    if pid <= 1 or uid_of(pid) != uid:
        return False
    argv = _argv(pid)
    if not argv or os.path.basename(argv[0]) != "postgres":
        return False
    want = str(data_dir)
    return any(a == "-D" and b == want for a, b in zip(argv, argv[1:], strict=False))


def find_postmaster(data_dir: Path, uid: int, candidate: int | None = None) -> int | None:
    """The pid of the postmaster serving ``data_dir`` as ``uid``: ``candidate`` (from postmaster.pid) when
    /proc confirms it, else the first process in /proc that does; None when none runs."""
    if candidate is not None and is_postmaster(candidate, data_dir, uid):
        return candidate
    try:
        pids = [int(n) for n in os.listdir("/proc") if n.isdigit()]
    except OSError:
        return None
    return next((p for p in sorted(pids) if p != candidate and is_postmaster(p, data_dir, uid)), None)


def is_zombie(pid: int) -> bool:
    """True when ``pid`` has exited and waits to be reaped (or is being reaped)."""
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] in ("Z", "X")


def children(pid: int, uid: int) -> list[int]:
    """The pids of the running processes of ``uid`` whose parent is ``pid`` (a postmaster's backends, walsenders,
    checkpointer, ...)."""
    found = []
    try:
        pids = [int(n) for n in os.listdir("/proc") if n.isdigit()]
    except OSError:
        return found
    for p in pids:
        fields = _stat_fields(p)
        # after the state come ppid (index 1), pgrp, session, ...
        if fields and fields[1] == str(pid) and fields[0] not in ("Z", "X") and uid_of(p) == uid:
            found.append(p)
    return sorted(found)
