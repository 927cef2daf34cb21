"""One version, written once in src/anystream/_version.py and read everywhere."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest

from anystream import __version__, nats
from anystream.testing import NatsServer, free_port

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_the_version_is_written_only_in_version_py() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["hatch"]["version"]["path"] == "src/anystream/_version.py"
    literal = re.compile(rf"""["']{re.escape(__version__)}["']""")
    written = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "src").rglob("*.py")
        if literal.search(path.read_text())
    ]
    assert written == ["src/anystream/_version.py"]


def test_anystream_version_prints_the_package_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "anystream", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"anystream {__version__}"


@pytest.mark.anyio
async def test_the_nats_client_announces_the_package_version_in_connect() -> None:
    monitor = free_port()
    with NatsServer(extra_args=("-m", str(monitor))) as server:
        async with nats.connect(server.url, name="version-check") as nc:
            await nc.flush()
            async with httpx.AsyncClient() as http:
                with anyio.fail_after(10):
                    connz = (await http.get(f"http://127.0.0.1:{monitor}/connz")).json()
    (client,) = [c for c in connz["connections"] if c.get("name") == "version-check"]
    assert (client["lang"], client["version"]) == ("python-anystream", __version__)
