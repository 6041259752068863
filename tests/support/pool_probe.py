"""Runs inside a LocalPool worker (tests import it by name there)."""

from __future__ import annotations


def worker_has_tracker() -> bool:
    from bench import local_pool

    return local_pool._tracker is not None
