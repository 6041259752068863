"""SIGINT and SIGTERM stop a command the way Ctrl-C does, from its first instruction on.

Installed by ``python -m bench`` before it imports anything else: a SIGTERM that arrived
before any handler was set killed the process outright (exit 143, no message, the start-up
worker pool's semaphores leaked). The first signal raises KeyboardInterrupt; any later one
is ignored, so that the clean-up the first one started (stopping workers, marking the runs
in progress KILLED) is not cut short by a scheduler's repeated SIGTERM or a second Ctrl-C.

Nothing heavy is imported here: this module runs before the rest of bench loads.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_stopping = False
Handlers = dict[int, Any]


def stop_on_interrupt(signum: int, frame: Any) -> None:
    """The handler: the first signal raises KeyboardInterrupt, later ones do nothing."""
    global _stopping
    if _stopping:
        return
    _stopping = True
    raise KeyboardInterrupt


def install() -> Handlers:
    """Install :func:`stop_on_interrupt` for SIGINT and SIGTERM (explicitly for SIGINT too: a
    shell starts background jobs with SIGINT ignored, and ``kill -INT`` must still stop them).
    Returns the handlers it replaced, for :func:`restore`; a no-op outside the main thread,
    where Python cannot set handlers. A new install is a new command: it may be stopped again."""
    global _stopping
    if threading.current_thread() is not threading.main_thread():
        return {}
    _stopping = False
    return {s: signal.signal(s, stop_on_interrupt) for s in SIGNALS}


def restore(previous: Handlers) -> None:
    """Put back the handlers :func:`install` replaced."""
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def stopping() -> bool:
    """Whether a signal has already asked this process to stop."""
    return _stopping


def forget_handled_interrupt() -> None:
    """Let a process that handled an interrupt end with its exit code (130), not by SIGINT.

    CPython 3.11 remembers a KeyboardInterrupt that left code run by ``exec`` of a string
    (dataclasses and namedtuple build their methods so, at import time) as unhandled even once
    it was caught, and ``python -m`` then ends the process by SIGINT instead (seen as exit -2 in
    about 1 of 5 SIGTERMs during start-up). Running a string through ``exec`` resets that."""
    exec("")
