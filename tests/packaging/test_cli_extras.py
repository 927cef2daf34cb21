"""`anystream` without the extras a subcommand needs: `run` and `--help` work, the others say
which extra to install, in one line. The built wheel in a clean venv checks the same for real
(tests/packaging/test_dist.py); here a package is made missing with ``sys.modules[name] = None``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

WITHOUT = "import sys; sys.modules.update(dict.fromkeys({missing!r})); " \
    "from anystream.cli import main; sys.exit(main({argv!r}))"


def anystream_without(missing: list[str], *argv: str) -> subprocess.CompletedProcess[str]:
    code = WITHOUT.format(missing=missing, argv=list(argv))
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )


def test_help_lists_every_subcommand_and_the_extra_a_missing_one_needs() -> None:
    result = anystream_without(["httpx"], "--help")

    assert result.returncode == 0, result.stderr
    assert "run " in result.stdout
    assert "bench     (needs pip install 'anystream[bench]')" in result.stdout
    assert "demo " in result.stdout


@pytest.mark.parametrize(
    ("command", "extra"), [("bench", "bench"), ("demo", "demo")]
)
def test_a_subcommand_without_its_extra_names_it_in_one_line(command: str, extra: str) -> None:
    result = anystream_without(["httpx"], command)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"anystream {command}: error:")
    assert f"pip install 'anystream[{extra}]'" in line


def test_run_without_the_trio_extra_names_it_in_one_line() -> None:
    result = anystream_without(["trio", "trio_asyncio"], "run", "-k", "trio", "main:app")

    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "pip install 'anystream[trio]'" in line
