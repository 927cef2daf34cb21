"""A griffe extension for the API reference (``mkdocs.yml`` loads it): anystream's docstrings
are written with reST roles and literal blocks, which mkdocstrings would show as typed.

- ``:class:`~anystream.nats.Client``` and the other roles become code: `` `Client` ``;
- a paragraph ending in ``::`` ends in ``:`` (the indented block below it stays a code block),
  and a ``::`` alone on its line goes.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|mod|class|data|meth|attr|exc|obj|const):`(~?)([^`]+)`")
_LITERAL = re.compile(r"(?m)^([ \t]*)::[ \t]*(?:\n|\Z)|(?<=\S)::$")


def _role(match: re.Match[str]) -> str:
    short, target = match[1], match[2]
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def convert(text: str) -> str:
    text = _ROLE.sub(_role, text)
    return _LITERAL.sub(lambda m: "" if m[1] is not None else ":", text)


class RstRoles(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
