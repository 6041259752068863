"""MLflow: the system of record of every sweep.

- ``client``: :class:`~bench.tracking.client.Tracker`, every write of a process (the sweep's
  experiment, one parent run per cell, one child run per trial, batched and idempotent);
- ``stores``: opening stores (process settings, the schema lock, SQLite WAL, preloading);
- ``uris``: which store a command uses and where artifacts go (no MLflow import);
- ``environment``: library versions, git commit and host recorded on every cell.

Importing this package imports no MLflow; its modules ``client`` and ``stores`` do.
"""

from bench.tracking.uris import (
    artifact_location,
    default_tracking_uri,
    require_existing_store,
    resolve_tracking_uri,
)

__all__ = [
    "artifact_location",
    "default_tracking_uri",
    "require_existing_store",
    "resolve_tracking_uri",
]
