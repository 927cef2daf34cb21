"""The faststream adapter's entry point: every assumption checked, then every patch applied."""

from __future__ import annotations

from anystream.exceptions import FaststreamAdapterError

from .._contract import Assumption, PatchSet
from . import (
    _ack,
    _calls,
    _concurrent,
    _decode,
    _js_producer,
    _per_message,
    _pipeline,
    _tasks,
    _testing,
)

__all__ = (
    "ASSUMPTIONS",
    "PATCHES",
    "FaststreamAdapterError",
    "install",
    "is_installed",
    "uninstall",
)


# In the order of the package docstring's tables.
_CONCERNS = (
    _tasks,
    _ack,
    _testing,
    _js_producer,
    _per_message,
    _concurrent,
    _pipeline,
    _calls,
    _decode,
)

#: Every assumption :func:`install` checks first (the contract tests check each by name).
ASSUMPTIONS: tuple[Assumption, ...] = tuple(a for m in _CONCERNS for a in m.ASSUMPTIONS)


PATCHES = PatchSet(
    distribution="faststream",
    assumptions=ASSUMPTIONS,
    patches=tuple(p for m in _CONCERNS for p in m.PATCHES),
    error=FaststreamAdapterError,
)


def install() -> None:
    """Patch faststream's asyncio-only internals (the package docstring lists them).

    Idempotent. Checks every assumption in :data:`ASSUMPTIONS` first and patches nothing
    unless all hold: otherwise raises :class:`FaststreamAdapterError` naming each broken one.
    """
    PATCHES.install()


def uninstall() -> None:
    """Put faststream's own code back (tests use it to compare with upstream)."""
    PATCHES.uninstall()


def is_installed() -> bool:
    """Whether every patch is in place."""
    return PATCHES.is_installed()
