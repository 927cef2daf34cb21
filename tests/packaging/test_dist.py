"""The distribution as a user gets it.

The sdist and the wheel are built with ``python -m build`` (the wheel from the sdist, so a file
missing from the sdist shows up too) and checked with ``twine check --strict``. Then the BUILT
WHEEL, not the source tree, is installed into clean venvs, one per extra that matters (none,
``[trio]``, ``[demo]``), and run from there against a real nats-server: a missing package-data
file or dependency fails here. pip's cache is reused, so after the first run the installs take
seconds
(about 100 s for this module on a loaded 2-core machine, most of it three installs).
"""

from __future__ import annotations

import email.parser
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trove_classifiers
import yaml

from anystream import __version__
from anystream.testing import NatsServer, free_port
from tests.e2e.servers import watch
from tests.helpers import kill_group, spawn_logged, wait_http

pytestmark = pytest.mark.dist

ROOT = Path(__file__).resolve().parents[2]
#: A small app with a NATS subscriber that replies and a real /health (also used by tests/cli).
APP_FILE = ROOT / "tests" / "cli" / "apps" / "work_app.py"
FRAMEWORKS = {"Framework :: AsyncIO", "Framework :: Trio", "Framework :: AnyIO", "Typing :: Typed"}


@dataclass
class Dist:
    sdist: Path
    wheel: Path


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (sdist,) = out.glob("anystream-*.tar.gz")
    (wheel,) = out.glob("anystream-*.whl")
    return Dist(sdist, wheel)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without this test run's Python settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONUNBUFFERED": "1", **extra}


@dataclass
class Venv:
    path: Path
    cwd: Path

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.path / "bin" / args[0]), *args[1:]],
            cwd=self.cwd,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture(scope="module")
def venv(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Venv]:
    """``venv("trio")``: a clean venv with the built wheel and that extra ("" for none)."""
    made: dict[str, Venv] = {}

    def get(extra: str) -> Venv:
        if extra not in made:
            path = tmp_path_factory.mktemp(f"venv-{extra or 'plain'}")
            # No pip of its own and no .pyc compiled up front: this run's pip installs into it
            # (pip --python), which saves most of the time a venv takes.
            subprocess.run(
                [sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=300
            )
            wanted = f"{dist.wheel}[{extra}]" if extra else str(dist.wheel)
            install = subprocess.run(
                [sys.executable, "-m", "pip", "--python", str(path / "bin" / "python"),
                 "install", "--quiet", "--no-compile", wanted],
                env=clean_env(),
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
            made[extra] = Venv(path, cwd=tmp_path_factory.mktemp("cwd"))
            where = made[extra].run("python", "-c", "import anystream; print(anystream.__file__)")
            assert where.stdout.startswith(str(path)), where  # the wheel, not the source tree
        return made[extra]

    return get


# -- the files --------------------------------------------------------------------------------


def test_the_sdist_and_the_wheel_pass_twine_check(dist: Dist) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(dist.sdist), str(dist.wheel)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_wheel_holds_every_file_of_the_package_and_py_typed(dist: Dist) -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "src/anystream"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    expected = {path.removeprefix("src/") for path in tracked}
    with zipfile.ZipFile(dist.wheel) as wheel:
        packaged = {n for n in wheel.namelist() if n.startswith("anystream/")}
    assert "anystream/py.typed" in packaged
    assert packaged == expected


def metadata(dist: Dist) -> email.message.Message:
    with zipfile.ZipFile(dist.wheel) as wheel:
        return email.parser.Parser().parsestr(
            wheel.read(f"anystream-{__version__}.dist-info/METADATA").decode()
        )


def workflow_pythons() -> list[str]:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    return [str(v) for v in workflow["jobs"]["test"]["strategy"]["matrix"]["python"]]


def test_the_wheel_metadata_names_the_version_frameworks_pythons_and_urls(dist: Dist) -> None:
    meta = metadata(dist)

    assert (meta["Name"], meta["Version"]) == ("anystream", __version__)
    assert meta["Description-Content-Type"] == "text/markdown"
    classifiers = set(meta.get_all("Classifier") or ())
    assert classifiers >= FRAMEWORKS
    assert classifiers <= trove_classifiers.classifiers, "unknown classifiers: PyPI refuses them"
    pythons = sorted(
        (c.rsplit(" ", 1)[1] for c in classifiers if re.fullmatch(r".*Python :: 3\.\d+", c)),
        key=lambda v: tuple(map(int, v.split("."))),
    )
    assert pythons == workflow_pythons()  # the classifiers claim what CI tests
    assert meta["Requires-Python"] == f">={pythons[0]}"
    urls = {u.split(",")[0] for u in meta.get_all("Project-URL") or ()}
    assert {"Documentation", "Source", "Issues", "Changelog"} <= urls
    assert {"trio", "demo", "bench", "docs"} <= set(meta.get_all("Provides-Extra") or ())


# -- installed from the wheel -------------------------------------------------------------------


class Served:
    """``anystream run`` from a venv, serving tests/cli/apps/work_app.py, killed with its group."""

    def __init__(self, venv: Venv, worker_class: str, nats_url: str, tmp_path: Path) -> None:
        app_dir = tmp_path / "app"
        app_dir.mkdir()
        shutil.copy(APP_FILE, app_dir / "work_app.py")
        self.port = free_port()
        self.log = tmp_path / "run.log"
        self.proc = spawn_logged(
            [str(venv.path / "bin" / "anystream"), "run", "work_app:app", "--app-dir",
             str(app_dir), "--worker-class", worker_class, "--port", str(self.port)],
            self.log,
            cwd=venv.cwd,
            env=clean_env(NATS_URL=nats_url),
        )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_healthy(self) -> None:
        url = f"http://127.0.0.1:{self.port}/health"
        wait_http(self.proc, url, lambda: self.output, status=204, timeout=60, interval=0.2)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def kill(self) -> None:
        kill_group(self.proc)


@pytest.fixture
def serve(nats_server: NatsServer, tmp_path: Path) -> Iterator[Callable[[Venv, str], Served]]:
    started: list[Served] = []

    def start(venv: Venv, worker_class: str) -> Served:
        started.append(Served(venv, worker_class, nats_server.url, tmp_path))
        return started[-1]

    yield start
    for served in started:
        served.kill()


def consume_and_stop(served: Served, nats_url: str) -> None:
    """A few seconds of real work: /health, messages in and replies out, then SIGTERM."""
    served.wait_healthy()
    pid = httpx.get(f"http://127.0.0.1:{served.port}/pid", timeout=5).text
    with watch(nats_url, ("cli.done",)) as outside:
        time.sleep(0.5)  # the subscription is live before the first /health; leave it settle
        for i in range(5):
            outside.publish("cli.work", f"order-{i}")
        replies = [outside.next("cli.done", timeout=10) for _ in range(5)]
    assert replies == [f"{pid}:order-{i}" for i in range(5)], served.output
    assert served.stop() == 0, served.output
    assert "Traceback" not in served.output


def test_a_plain_install_prints_its_version_and_help(venv: Callable[[str], Venv]) -> None:
    plain = venv("")

    version = plain.run("anystream", "--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"anystream {__version__}")
    usage = plain.run("anystream", "--help")
    assert usage.returncode == 0, usage.stderr
    for command in ("run", "bench", "demo"):
        assert f"    {command} " in usage.stdout
    assert "Traceback" not in usage.stderr


def test_a_plain_install_serves_an_app_on_asyncio_against_nats(
    venv: Callable[[str], Venv], serve: Callable[[Venv, str], Served], nats_server: NatsServer
) -> None:
    consume_and_stop(serve(venv(""), "asyncio"), nats_server.url)


def test_a_plain_install_names_the_extra_each_other_command_needs(
    venv: Callable[[str], Venv],
) -> None:
    plain = venv("")
    for args, extra in [
        (["bench", "--quick"], "bench"),
        (["demo"], "demo"),
        (["run", "--worker-class", "trio", "main:app"], "trio"),
    ]:
        result = plain.run("anystream", *args)
        assert result.returncode == 2, result
        (line,) = result.stderr.strip().splitlines()
        assert f"pip install 'anystream[{extra}]'" in line


def test_the_trio_extra_serves_the_app_on_trio(
    venv: Callable[[str], Venv], serve: Callable[[Venv, str], Served], nats_server: NatsServer
) -> None:
    consume_and_stop(serve(venv("trio"), "trio"), nats_server.url)


def test_the_demo_extra_runs_the_demo(venv: Callable[[str], Venv]) -> None:
    result = venv("demo").run("anystream", "demo", "--messages", "3", timeout=120)

    assert result.returncode == 0, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert "consumed 3 orders" in out
    assert out.endswith("demo OK")
