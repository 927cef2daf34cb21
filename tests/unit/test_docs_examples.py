"""The Python examples in the user guide run, against a real nats-server."""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from faststream import nats as faststream_nats

from anystream.asgi import AsgiFastStream
from anystream.testing import lifespan
from tests.helpers import client

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"^( *)```python\n(.*?)^\1```", re.DOTALL | re.MULTILINE)


def python_blocks(page: str) -> list[str]:
    return [textwrap.dedent(code) for _, code in BLOCK.findall((DOCS / page).read_text())]


def app_blocks() -> list[Any]:
    params = []
    for page in ("migrating.md",):
        for index, code in enumerate(python_blocks(page)):
            if "app =" in code:
                params.append(pytest.param(code, id=f"{page}#{index}"))
    return params


@pytest.fixture
def run_block(nats_url: str, monkeypatch: pytest.MonkeyPatch):
    """Exec a docs block with ``NatsBroker()`` pointed at the test's nats-server."""

    class LocalNatsBroker(faststream_nats.NatsBroker):
        def __init__(self, servers: Any = nats_url, **kwargs: Any) -> None:
            super().__init__(servers, **kwargs)

    monkeypatch.setattr(faststream_nats, "NatsBroker", LocalNatsBroker)

    def run(code: str) -> dict[str, Any]:
        namespace: dict[str, Any] = {"__name__": "docs_example"}
        exec(compile(code, "<docs>", "exec"), namespace)
        return namespace

    return run


@pytest.mark.anyio
@pytest.mark.parametrize("code", app_blocks())
async def test_guide_apps_start_and_answer(code: str, run_block) -> None:
    namespace = run_block(code)
    app = namespace["app"]
    async with lifespan(app), client(app) as c:
        if isinstance(app, AsgiFastStream):
            for path, handler in app.routes:
                if "GET" not in getattr(handler, "methods", ("GET",)):
                    continue
                response = await c.get(path)
                assert response.status_code in (200, 204), path
        else:  # the FastAPI example: its mounts answer on the slash form
            assert (await c.get("/health/")).status_code == 204
            assert (await c.get("/asyncapi/")).status_code == 200


def test_every_python_block_in_the_guide_compiles() -> None:
    pages = sorted(p.name for p in DOCS.glob("*.md"))
    blocks = [(page, code) for page in pages for code in python_blocks(page)]
    assert blocks
    for page, code in blocks:
        compile(code, page, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
