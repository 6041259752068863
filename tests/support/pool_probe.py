"""Runs inside a LocalPool worker (tests import it by name there)."""

from __future__ import annotations


def worker_has_tracker() -> bool:
    from bench.sweep.executors.base import has_worker_tracker

    return has_worker_tracker()
