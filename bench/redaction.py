"""Credentials never leave the process: every string that is printed, logged or stored passes
through :func:`redact` first."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def redact(text: str | None) -> str:
    """``text`` with any ``user:password@`` of a URI in it replaced by ``***@``."""
    if not text:
        return ""
    return _USERINFO.sub("***@", text)
