"""Keep credentials out of anything anystream shows: docs, schema, logs, errors."""

from __future__ import annotations

import re

__all__ = ("redact",)

# scheme://user:password@host  or  scheme://token@host  ->  scheme://***@host
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s\"'<>]+@")


def redact(text: str) -> str:
    """Replace the user-info part of every URL in ``text`` with ``***``."""
    return _URL_USERINFO.sub(r"\g<scheme>***@", text)
