"""Credentials never leave the process: every string that is printed, logged or stored passes
through :func:`redact` first, and :func:`redact_uri` is the one parser of a URI's secrets.

A URI's secrets are its userinfo (``user:password@``; the password may hold a raw ``@`` or
``:``, and clients such as requests split at the *last* ``@`` before the host, so the userinfo
does too) and the value of every query (or fragment) parameter whose name contains ``pass``,
``secret``, ``token`` or ``key`` (libpq and SQLAlchemy accept ``?password=``, ``?sslpassword=``).
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

MASK = "***"

# RFC 3986, appendix B: the reference regex that splits any URI reference into its parts
# (it never fails, and the parts concatenate back to the input).
_RFC3986 = re.compile(r"^(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$", re.S)
# Where a URI starts in free text: a scheme and "//" (a scheme glued to a word is not one).
_URI_START = re.compile(r"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]*://")
_SECRET_NAME = re.compile(r"pass|secret|token|key", re.IGNORECASE)


def redact(text: str | None) -> str:
    """``text`` with the secrets of every URI in it masked (see the module docstring).

    A URI ends at whitespace or where the next URI starts, so several URIs in one text, and a
    URI followed by punctuation or words, are each parsed on their own.
    """
    if not text:
        return ""
    starts = [m.start() for m in _URI_START.finditer(text)]
    if not starts:
        return text
    pieces = [text[: starts[0]]]
    for start, following in zip(starts, [*starts[1:], len(text)], strict=True):
        space = re.search(r"\s", text[start:following])
        end = start + space.start() if space else following
        pieces += [redact_uri(text[start:end]), text[end:following]]
    return "".join(pieces)


def redact_uri(uri: str) -> str:
    """One URI with its userinfo replaced by ``***@`` and secret parameters' values by
    ``***``; everything else is kept character for character."""
    match = _RFC3986.match(uri)
    if match is None:  # the pattern matches every string; kept for the type checker
        return MASK
    scheme, authority, path, query, fragment = match.groups()
    out = f"{scheme}:" if scheme is not None else ""
    if authority is not None:
        out += f"//{_redact_authority(authority)}"
    out += path
    if query is not None:
        out += f"?{_redact_params(query)}"
    if fragment is not None:
        out += f"#{_redact_params(fragment)}"
    return out


def _redact_authority(authority: str) -> str:
    """``userinfo@host:port`` -> ``***@host:port``, the userinfo ending at the last ``@``."""
    _userinfo, at, host = authority.rpartition("@")
    return f"{MASK}@{host}" if at else authority


def _redact_params(text: str) -> str:
    """``a=1&password=x`` -> ``a=1&password=***`` (names compared decoded, any case). Split
    on ``&`` only, as SQLAlchemy and libpq do; a piece without ``=`` after a secret is taken
    as part of it (a raw ``&`` in the secret), never shown."""
    out: list[str] = []
    masking = False
    for piece in text.split("&"):
        name, eq, _value = piece.partition("=")
        if eq:
            masking = bool(_SECRET_NAME.search(unquote_plus(name)))
            out.append(f"{name}={MASK}" if masking else piece)
        elif not masking:
            out.append(piece)
    return "&".join(out)
