"""anystream: FastStream's ASGI runtime rebuilt on anyio (asyncio and trio)."""

__version__ = "0.1.0"
