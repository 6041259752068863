"""Row-parallel evaluation of the objective kernels on a few threads.

numpy releases the GIL inside each ufunc, so threads that each own a contiguous slice of the
rows run in parallel with no copying; a booster trained on N threads computes its native
gradients on N threads too, and a Python objective that did not would be charged for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

_pools: dict[int, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    with _lock:
        pool = _pools.get(threads)
        if pool is None:
            pool = _pools[threads] = ThreadPoolExecutor(threads, thread_name_prefix="objective")
        return pool


def run_split(work: Callable[[int, int], None], n: int, threads: int, min_rows: int) -> None:
    """Call ``work(i, j)`` on consecutive slices covering 0..n, at most ``threads`` at a time.

    Slices hold at least ``min_rows`` rows: below that, handing work to a thread costs more
    than it saves. The caller's thread takes the first slice itself.
    """
    parts = max(1, min(int(threads), n // max(min_rows, 1)))
    if parts == 1:
        work(0, n)
        return
    bounds = [n * k // parts for k in range(parts + 1)]
    futures = [_pool(parts - 1).submit(work, bounds[k], bounds[k + 1]) for k in range(1, parts)]
    work(bounds[0], bounds[1])
    for f in futures:
        f.result()
