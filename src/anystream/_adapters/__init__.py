"""Adapters for other libraries' private internals: the one place anystream reaches into them.

Each module adapts one library. Every assumption an adapter makes about the library's
internals (a class, an attribute, a signature, the code it replaces still being what it
was written against) is checked before the adapter patches anything, so a release that
moves one makes ``install()`` refuse loudly instead of degrading silently; the contract
tests in ``tests/adapters/`` run the same checks and name the assumption that broke.

- :mod:`anystream._adapters.faststream` (a package, one module per concern): faststream's
  generic code that is asyncio-only on the NATS broker's path, rewritten on anyio so it runs
  on trio as well, and its avoidable per-message costs cut.
"""
