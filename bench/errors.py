"""One exception type for user mistakes, so the CLI can print them without a traceback, and
the one way an exception becomes a line of text."""

from __future__ import annotations

import re

from bench.redaction import redact

# SQLAlchemy appends "(Background on this error at: https://sqlalche.me/e/...)": a link, not
# the error
_SQLALCHEMY_LINK = re.compile(r"\s*\(Background on this error at: [^)]*\)")


class BenchError(Exception):
    """A problem the user can fix (bad config, missing file, unknown name).

    The message must name the file, key or value at fault. The CLI prints it and exits 2.
    """


def one_line(err: BaseException, limit: int = 2000) -> str:
    """``Type: first line of the message``: what a progress line, a tag or a summary shows of
    an error (the full traceback goes to the worker's log file), with any URI's credentials
    masked (an error can quote the URL it failed on)."""
    lines = _SQLALCHEMY_LINK.sub("", str(err)).strip().splitlines()
    return redact(f"{type(err).__name__}: {lines[0] if lines else ''}")[:limit]
