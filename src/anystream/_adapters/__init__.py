"""Adapters for other libraries' private internals: the one place anystream reaches into them.

Each module adapts one library. Every assumption an adapter makes about the library's
internals (a class, an attribute, a signature, the code it replaces still being what it
was written against) is checked before the adapter patches anything, so a release that
moves one makes ``install()`` refuse loudly instead of degrading silently; the contract
tests in ``tests/adapters/`` run the same checks and name the assumption that broke.

- :mod:`anystream._adapters.faststream` (a package, one module per concern): faststream's
  generic code that is asyncio-only on the NATS broker's path, rewritten on anyio so it runs
  on trio as well, and its avoidable per-message costs cut; and the application and broker
  internals the rest of anystream reads (hooks, ``_connect``, producers, ...).
- :mod:`anystream._adapters.nats_py`: nats-py's message and JetStream internals the
  ``anystream.nats.compat`` facade builds on.
- :mod:`anystream._adapters.hypercorn`: hypercorn's worker serve loop (``anystream run``).
- :mod:`anystream._adapters.prometheus`: finding a metric already registered.
- :mod:`anystream._adapters.anyio`: anyio's asyncio backend's ``get_running_loop`` global.

Nothing outside this package imports another library's private modules (ruff TID251) or
reads its private attributes (tests/adapters/test_private_names_stay_in_adapters.py).
"""
