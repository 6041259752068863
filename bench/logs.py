"""Logging for bench: ``logging.getLogger(__name__)`` in every module, configured here.

- the console (the CLI's ``--quiet`` / ``--verbose``) shows warnings by default, one line each
  (tracebacks never reach the console);
- every process that runs cells writes a log file, ``<runs>/logs/<sweep>/<host>-<pid>.log``,
  with each cell's progress and a failed cell's or trial's full traceback; a failed cell's
  MLflow parent run names that file (tag ``bench.log_file``);
- every record passes through :func:`bench.redaction.redact` on its way out.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import tempfile
from pathlib import Path

from bench.redaction import redact

ROOT = "bench"
FILE_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
_file_handler: logging.FileHandler | None = None


class RedactingFilter(logging.Filter):
    """Replaces credentials in the formatted message (and drops the args it consumed)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


class _RedactingFormatter(logging.Formatter):
    """The whole formatted record redacted, its traceback included (the filter above sees only
    the message, and an exception's text can quote the URL it failed on)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _OneLineFormatter(_RedactingFormatter):
    """Console lines without tracebacks: those belong in the log file."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info = record.exc_text = record.stack_info = None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def configure_console(verbosity: int = 0) -> None:
    """Console level: -1 errors only (``--quiet``), 0 warnings, 1 info, 2 debug."""
    logger = logging.getLogger(ROOT)
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    for handler in list(logger.handlers):
        if getattr(handler, "bench_console", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.bench_console = True  # type: ignore[attr-defined]
    handler.setLevel(level)
    handler.setFormatter(_OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    logger.setLevel(min(level, logger.level or logging.WARNING))
    # MLflow logs through its own handler (INFO by default: "Creating initial MLflow database
    # tables...", and a retry warning a second while a store cannot be opened); bench reports
    # store failures itself in one line. Read by MLflow when it is first imported.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "INFO" if verbosity >= 1 else "ERROR")


def log_to_worker_file(log_dir: str | Path) -> Path:
    """This process's log file under ``log_dir`` (created once per process; idempotent)."""
    global _file_handler
    name = f"{socket.gethostname()}-{os.getpid()}.log"
    path = (Path(log_dir) / name).resolve()
    if _file_handler is not None and Path(_file_handler.baseFilename) == path:
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:  # e.g. a Dask worker on a host without the parent's runs directory
        path = Path(tempfile.gettempdir()) / "bench-logs" / Path(log_dir).name / name
        path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(ROOT)
    if _file_handler is not None:
        logger.removeHandler(_file_handler)
        _file_handler.close()
    _file_handler = logging.FileHandler(path, encoding="utf-8", delay=False)
    _file_handler.setLevel(logging.INFO)
    _file_handler.setFormatter(_RedactingFormatter(FILE_FORMAT))
    _file_handler.addFilter(RedactingFilter())
    logger.addHandler(_file_handler)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    return path


def worker_log_file() -> Path | None:
    """The log file this process writes, if any."""
    return Path(_file_handler.baseFilename) if _file_handler is not None else None
