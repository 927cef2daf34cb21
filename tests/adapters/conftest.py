"""Fixtures of the adapter tests: faststream with and without anystream's adapters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from anystream._adapters import faststream as adapters


@pytest.fixture
def adapted() -> Iterator[None]:
    """faststream with :func:`anystream._adapters.faststream.install` applied.

    Put back as found: uninstalled afterwards only if it was not installed before.
    """
    was_installed = adapters.is_installed()
    adapters.install()
    yield
    if not was_installed:
        adapters.uninstall()


@pytest.fixture
def upstream() -> Iterator[None]:
    """faststream's own code (the adapters taken out for the test, put back afterwards)."""
    was_installed = adapters.is_installed()
    adapters.uninstall()
    yield
    if was_installed:
        adapters.install()
