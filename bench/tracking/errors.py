"""Store failures as one line: what failed, on which (redacted) store, and why.

No MLflow import here, so every command can catch these without loading MLflow.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from bench.errors import BenchError, one_line
from bench.redaction import redact


class TrackingError(BenchError):
    """MLflow could not be read or written; the command stops with exit 3.

    ``kept``: whether what was logged before is still there (False when the store itself
    disappeared), so the message never promises what is not true.
    """

    def __init__(self, message: str, kept: bool = True) -> None:
        super().__init__(message)
        self.kept = kept


def store_failure(tracking_uri: str, what: str, err: BaseException) -> TrackingError:
    return TrackingError(
        f"MLflow at {redact(tracking_uri)} failed while {what}: {redact(one_line(err, 300))}"
    )


@contextlib.contextmanager
def reading_store(tracking_uri: str, what: str) -> Iterator[None]:
    """Any failure of the store inside (a dead server, an unreadable file, a broken schema)
    becomes one TrackingError line; a user mistake (BenchError) passes as it is."""
    try:
        yield
    except BenchError:
        raise
    except Exception as err:  # MLflow, requests, SQLAlchemy: many types for one cause
        raise store_failure(tracking_uri, what, err) from None
