"""Exception helpers shared across anystream."""

from __future__ import annotations

from typing import TypeVar

__all__ = ("unwrap_group",)

E = TypeVar("E", bound=BaseException)


def unwrap_group(exc: E) -> E:
    """The one exception inside (nested) exception groups of one, or ``exc`` itself.

    A task group wraps even a single error in an exception group (built in from
    Python 3.11, a backport on 3.10); callers want the error itself.
    """
    inner: tuple[E, ...] = getattr(exc, "exceptions", ())
    while len(inner) == 1:
        exc = inner[0]
        inner = getattr(exc, "exceptions", ())
    return exc
