"""Worker-process plumbing shared by the executors."""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
from collections.abc import Iterator
from typing import Any

_bound_to_parent = False


def die_with_parent() -> None:
    """Linux: this worker is killed when the process that started it dies, so it never
    finishes a cell behind the back of a resumed sweep. Idempotent; a no-op elsewhere."""
    global _bound_to_parent
    if _bound_to_parent:
        return
    _bound_to_parent = True
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def usable_cores() -> int:
    """Cores this process may run on (a cpuset or taskset narrows os.cpu_count())."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def queued_now(events: Any) -> Iterator[Any]:
    """The items already in a queue (``queue.Queue`` or a multiprocessing one), without waiting:
    the executors hand their workers' progress events on between polls."""
    while True:
        try:
            yield events.get_nowait()
        except queue.Empty:
            return
