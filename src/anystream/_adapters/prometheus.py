"""prometheus_client's registry internals: finding a metric already registered.

Registering a metric whose name a registry already holds raises; an app module imported
twice (a reload, a test suite) registers anystream's HTTP metrics twice, and the second
time they are reused instead (``anystream.observability``'s ``HttpMetricsMiddleware``).
``CollectorRegistry`` has no public lookup by name: :func:`registered` reads its private
``_names_to_collectors``. prometheus_client is optional: nothing here imports it.
"""

from __future__ import annotations

from typing import Any

from ._contract import Assumption, Broken, uses

__all__ = ("ASSUMPTIONS", "registered")

_REGISTRY = "prometheus_client.registry:CollectorRegistry"


def registered(registry: Any, name: str) -> Any:
    """The collector ``registry`` holds under the metric name ``name``, else ``None``."""
    names: dict[str, Any] = getattr(registry, "_names_to_collectors", {})
    return names.get(name)


def _maps_every_name_to_its_collector() -> None:
    try:
        from prometheus_client import CollectorRegistry, Counter
    except ImportError as exc:
        raise Broken(f"prometheus_client cannot be imported ({exc})") from None
    registry = CollectorRegistry()
    counter = Counter("contract_total", "a counter", registry=registry)
    found = {name: registered(registry, name) for name in ("contract_total", "contract")}
    if found != {"contract_total": counter, "contract": counter}:
        raise Broken(f"_names_to_collectors gave {found} for a Counter named contract_total")


#: What :func:`registered` assumes (tests/adapters/test_contracts.py).
ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(
        "CollectorRegistry keeps every registered name in the dict _names_to_collectors",
        uses(_REGISTRY, "register", "_names_to_collectors"),
    ),
    Assumption(
        "CollectorRegistry._names_to_collectors maps each name a metric registers "
        "(a Counter's name and its _total) to the metric",
        _maps_every_name_to_its_collector,
    ),
)
