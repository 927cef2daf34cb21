"""Contract: what anystream assumes about other libraries' private names, one test each.

Everything anystream reads or replaces in another library's internals goes through
``anystream._adapters``; each adapter module lists its assumptions. When a release of
faststream, nats-py, hypercorn, prometheus_client or anyio breaks one, the failing test
is named after it and says how it broke. (The assumptions faststream's patches rest on
are checked by ``install()`` itself and by test_faststream_contract.py.)
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

import anystream._adapters
from anystream._adapters import anyio as anyio_adapter
from anystream._adapters import faststream, hypercorn, nats_py, prometheus
from anystream._adapters._contract import Assumption

CONTRACTS: dict[str, tuple[Assumption, ...]] = {
    "faststream": faststream.CONTRACTS,
    "nats-py": nats_py.ASSUMPTIONS,
    "hypercorn": hypercorn.ASSUMPTIONS,
    "prometheus_client": prometheus.ASSUMPTIONS,
    "anyio": anyio_adapter.ASSUMPTIONS,
}

CASES = [(library, a) for library, assumptions in CONTRACTS.items() for a in assumptions]


@pytest.mark.parametrize(
    ("library", "assumption"), CASES, ids=[f"{lib}: {a.name}" for lib, a in CASES]
)
def test_the_installed_library_still_matches_what_anystream_assumes(
    library: str, assumption: Assumption
) -> None:
    why = assumption.broken()
    assert why is None, f"{library} assumption broken: {assumption.name}\n  {why}"


def _adapter_modules() -> list[ModuleType]:
    package = anystream._adapters
    names = pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}.")
    return [importlib.import_module(info.name) for info in names]


def test_every_adapter_modules_assumptions_are_checked() -> None:
    checked = {id(a) for a in faststream.ASSUMPTIONS}  # by install(), before patching
    checked |= {id(a) for _, a in CASES}
    unchecked = [
        f"{module.__name__}: {a.name}"
        for module in _adapter_modules()
        for a in getattr(module, "ASSUMPTIONS", ())
        if id(a) not in checked
    ]
    assert unchecked == []


def test_a_broken_assumption_names_itself_and_says_how(monkeypatch: pytest.MonkeyPatch) -> None:
    from prometheus_client.registry import CollectorRegistry

    def register(self: CollectorRegistry, collector: object) -> None:
        """A registry that keeps its names somewhere else."""

    monkeypatch.setattr(CollectorRegistry, "register", register)
    (assumption,) = [a for a in prometheus.ASSUMPTIONS if "keeps every" in a.name]

    why = assumption.broken()

    assert why is not None
    assert "CollectorRegistry.register no longer uses _names_to_collectors" in why


def test_a_moved_private_name_is_reported_before_it_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import faststream._internal.constants as constants

    monkeypatch.delattr(constants, "EMPTY")
    (assumption,) = [a for a in faststream.CONTRACTS if "EMPTY (constants)" in a.name]

    assert "'EMPTY' is missing" in (assumption.broken() or "")


def test_a_changed_source_line_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from faststream.nats.broker.broker import NatsBroker

    async def _connect(self: NatsBroker) -> None:
        """A connect that builds its connection some other way."""

    monkeypatch.setattr(NatsBroker, "_connect", _connect)
    (assumption,) = [a for a in faststream.CONTRACTS if a.name.startswith("NatsBroker._connect")]

    why = assumption.broken() or ""

    assert "no longer contains 'nats.connect(**self._connection_kwargs)'" in why
