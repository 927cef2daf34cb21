"""The documentation site: built from docs/ in strict mode, then looked at as a reader would.

The site is built once (`mkdocs build --strict`, as `bash scripts/docs` does), served on loopback
by a plain static file server, and opened in Debian's chromium driven by playwright (the browser
is /usr/bin/chromium: playwright's own browser download is not used).
"""

from __future__ import annotations

import functools
import html.parser
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

pytestmark = pytest.mark.docs_site

ROOT = Path(__file__).resolve().parents[2]
#: The nav entries a reader sees on every page, in the order of docs/index.md.
GUIDE = [
    "Migrating from faststream.asgi",
    "Running on trio",
    "Server \u00d7 backend compatibility",
    "anystream run",
    "Benchmarks",
    "Overload",
    "Observability",
    "Kubernetes",
    "anystream.nats",
    "Reliability",
]
API_MODULES = [
    "anystream",
    "anystream.asgi",
    "anystream.nats",
    "anystream.testing",
    "anystream.observability",
    "anystream.health",
]
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def build(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=project,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = build(ROOT, out)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr}"
    return out


def page_path(site: Path, page: str) -> Path:
    """docs/<page>.md -> its HTML file (directory URLs)."""
    return site / "index.html" if page == "index" else site / page / "index.html"


def nav_pages() -> list[str]:
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)

    def walk(node: object) -> Iterator[str]:
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    return list(walk(config["nav"]))


# -- the build ----------------------------------------------------------------------------------


def test_every_guide_page_api_module_and_the_changelog_become_pages(site: Path) -> None:
    for doc in sorted((ROOT / "docs").glob("*.md")):
        assert page_path(site, doc.stem).is_file(), f"docs/{doc.name} has no page"
    for module in API_MODULES:
        assert page_path(site, f"api/{module}").is_file(), module
    changelog = page_path(site, "changelog").read_text()
    assert "Keep a Changelog" in changelog


def test_the_nav_lists_every_page_in_docs_in_the_user_guide_order() -> None:
    pages = nav_pages()
    in_docs = {p.name for p in (ROOT / "docs").glob("*.md")}
    missing = sorted(in_docs - set(pages))
    assert not missing, f"add `- Title: <page>.md` to the nav in mkdocs.yml for {missing}"
    # docs/index.md's list is the order of the guide: the nav follows it.
    index_order = re.findall(r"\]\(([a-z-]+\.md)\)", (ROOT / "docs" / "index.md").read_text())
    guide = [p for p in pages if p in index_order]
    assert guide == list(dict.fromkeys(index_order)), "mkdocs.yml's nav: docs/index.md's order"


def test_the_api_reference_documents_every_public_name(site: Path) -> None:
    for module_name in API_MODULES:
        module = importlib.import_module(module_name)
        page = page_path(site, f"api/{module_name}").read_text()
        for name in module.__all__:
            if name.startswith("_"):
                continue
            obj = getattr(module, name)
            origin = getattr(obj, "__module__", "") or ""
            if origin.startswith("faststream"):
                # faststream's own, listed with where it is defined
                assert f"<code>{name}</code>" in page, f"{module_name}.{name} not listed"
            else:
                # (a name that shadows its submodule is rendered from the submodule)
                ids = {f'id="{module_name}.{name}"', f'id="{origin}.{obj.__qualname__}"'}
                assert any(i in page for i in ids), f"{module_name}.{name} undocumented"
        # reST in docstrings (:class:`X`, "Example::") is shown as code, not as typed
        assert not re.search(r":(class|func|mod|meth|data):|::</p>|<p>::", page), module_name
    asgi = page_path(site, "api/anystream.asgi").read_text()
    assert "An ASGI app that runs FastStream brokers in its lifespan" in asgi  # the docstring


def test_the_benchmark_plots_are_pictures_served_from_benchmarks_results(site: Path) -> None:
    page = page_path(site, "benchmarks").read_text()
    sources = re.findall(r'<img [^>]*src="([^"]+\.png)"', page)
    assert len(sources) >= 2, sources
    for src in sources:
        served = (site / "benchmarks" / src).resolve()
        assert served.is_file(), src
        relative = served.relative_to((site / "_repo").resolve())
        assert relative.parts[:2] == ("benchmarks", "results")
        assert served.read_bytes() == (ROOT / relative).read_bytes()
    assert not list((ROOT / "docs").rglob("*.png")), "plots are served, not copied into docs/"


def test_code_is_highlighted(site: Path) -> None:
    page = page_path(site, "nats").read_text()
    assert '<div class="highlight">' in page
    assert '<span class="kn">import</span>' in page  # pygments tokens, styled by the theme


def test_the_search_index_covers_the_guide_and_the_api(site: Path) -> None:
    index = json.loads((site / "search" / "search_index.json").read_text())
    locations = {doc["location"].split("#")[0] for doc in index["docs"]}
    assert {"", "trio/", "nats/", "api/anystream.asgi/", "changelog/"} <= locations


class _Assets(html.parser.HTMLParser):
    """URLs a browser loads by itself: scripts, stylesheets, icons, images, frames, media."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag in ("script", "img", "iframe", "audio", "video", "source", "embed", "track"):
            self.urls += [values[k] for k in ("src", "srcset") if values.get(k)]
        elif tag == "link" and values.get("rel") not in ("canonical", "alternate", None):
            self.urls.append(values.get("href", ""))
        elif tag == "object" and values.get("data"):
            self.urls.append(values["data"])


def test_no_page_or_stylesheet_loads_anything_from_another_host(site: Path) -> None:
    outside = []
    for page in site.rglob("*.html"):
        parser = _Assets()
        parser.feed(page.read_text())
        outside += [(page.name, u) for u in parser.urls if urlsplit(u).netloc or "//" in u]
        for style in re.findall(r"@import[^;]*|url\(['\"]?(?:https?:)?//[^)]*\)", page.read_text()):
            outside.append((page.name, style))
    for style in site.rglob("*.css"):
        text = style.read_text()
        outside += [(style.name, u) for u in re.findall(r"url\(['\"]?(?:https?:)?//[^)]*\)", text)]
        outside += [(style.name, u) for u in re.findall(r"@import[^;]*", text)]
    assert outside == []
    assert "fonts.googleapis.com" not in page_path(site, "index").read_text()


# -- strict mode ----------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the docs with the rest of the repository linked in, free to be broken."""
    copy = tmp_path / "project"
    copy.mkdir()
    shutil.copytree(ROOT / "docs", copy / "docs")
    for name in ("mkdocs.yml", "CHANGELOG.md"):
        shutil.copy(ROOT / name, copy / name)
    for name in ("src", "scripts", "benchmarks", "examples", "tests"):
        (copy / name).symlink_to(ROOT / name)
    return copy


def test_a_link_to_a_missing_page_fails_the_build(project: Path, tmp_path: Path) -> None:
    trio = project / "docs" / "trio.md"
    trio.write_text(trio.read_text() + "\nSee [the old page](no-such-page.md).\n")
    result = build(project, tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-page.md" in result.stderr


def test_a_link_to_a_missing_repository_file_fails_the_build(project: Path, tmp_path: Path) -> None:
    page = project / "docs" / "benchmarks.md"
    page.write_text(page.read_text() + "\n![gone](../benchmarks/results/none/plot.png)\n")
    result = build(project, tmp_path / "site")
    assert result.returncode != 0
    assert "results/none/plot.png" in result.stderr


def test_a_nav_entry_without_its_page_fails_the_build(project: Path, tmp_path: Path) -> None:
    (project / "docs" / "kubernetes.md").unlink()
    result = build(project, tmp_path / "site")
    assert result.returncode != 0
    assert "kubernetes.md" in result.stderr


def test_a_page_left_out_of_the_nav_fails_the_build(project: Path, tmp_path: Path) -> None:
    (project / "docs" / "orphan.md").write_text("# Orphan\n")
    result = build(project, tmp_path / "site")
    assert result.returncode != 0
    assert "orphan.md" in result.stderr


# -- in a browser ---------------------------------------------------------------------------------


@dataclass
class Served:
    url: str
    not_found: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[Served]:
    record = Served(url="")

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def send_error(self, code: int, message: str | None = None, explain: str | None = None):
            record.not_found.append(f"{code} {self.path}")
            super().send_error(code, message, explain)

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=site))
    record.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def chromium_path() -> str:
    path = os.environ.get("ANYSTREAM_CHROMIUM") or shutil.which("chromium")
    if path:
        return path
    message = "chromium is not installed: apt-get install -y chromium (.ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Visit:
    title: str
    screenshot: Path
    requests: list[str]
    failures: list[str]
    errors: list[str]


@pytest.fixture
def visit(browser, served: Served, tmp_path: Path):  # type: ignore[no-untyped-def]
    pages = []
    # Screenshots land in $ANYSTREAM_SCREENSHOTS when it is set (CI keeps them), else tmp_path.
    shots = Path(os.environ.get("ANYSTREAM_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)

    def open_page(path: str, name: str) -> tuple[Visit, object]:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        pages.append(page)
        seen = Visit("", shots / f"{name}.png", requests=[], failures=[], errors=[])
        page.on("request", lambda r: seen.requests.append(r.url))
        page.on("requestfailed", lambda r: seen.failures.append(f"{r.url}: {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and seen.failures.append(
            f"{r.url}: HTTP {r.status}"))
        page.on("pageerror", lambda e: seen.errors.append(str(e)))
        page.on("console", lambda m: m.type == "error" and seen.errors.append(m.text))
        page.goto(served.url + path, wait_until="networkidle")
        seen.title = page.title()
        page.screenshot(path=str(seen.screenshot))
        print(f"screenshot: {seen.screenshot}")
        return seen, page

    yield open_page
    for page in pages:
        page.close()


def assert_rendered(seen: Visit, page, served: Served) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    nav = page.locator("nav.md-nav--primary").inner_text()
    for entry in [*GUIDE, "API reference", "Changelog"]:
        assert entry in nav, f"{entry!r} missing from the navigation"
    assert page.locator("article h1").first.is_visible()
    stylesheet_applied = page.evaluate(
        "getComputedStyle(document.querySelector('.md-header')).position"
    )
    assert stylesheet_applied == "sticky"  # material's CSS loaded and applied
    assert seen.failures == [] and served.not_found == [], (seen.failures, served.not_found)
    assert seen.errors == []
    assert [u for u in seen.requests if not u.startswith(served.url)] == []  # loopback only
    broken = page.evaluate(
        "[...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
    )
    assert broken == []
    with Image.open(seen.screenshot) as shot:
        assert shot.size == (1280, 900)
        assert len(shot.convert("RGB").getcolors(1 << 20) or ()) > 50  # not a blank page


def test_the_home_page_renders_with_its_navigation_and_search(visit, served: Served) -> None:
    seen, page = visit("", "home")

    assert seen.title == "anystream"
    assert_rendered(seen, page, served)
    assert "anystream user guide" in page.locator("article h1").inner_text()
    page.locator("input.md-search__input").click()
    page.keyboard.type("hypercorn", delay=20)
    page.locator(".md-search-result__item").first.wait_for(timeout=15_000)
    assert "matching documents" in page.locator(".md-search-result__meta").inner_text()


def test_a_guide_page_renders_its_plots_and_highlighted_code(visit, served: Served) -> None:
    seen, page = visit("benchmarks/", "benchmarks")

    assert seen.title == "Benchmarks - anystream"
    assert_rendered(seen, page, served)
    plots = page.evaluate(
        "[...document.querySelectorAll('article img')].map(i => [i.naturalWidth, i.src])"
    )
    assert len(plots) >= 2 and all(width > 300 for width, _ in plots), plots
    assert page.locator("article .highlight").count() > 0
    page.locator("article img").first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # the header's title swap on scroll settles
    page.screenshot(path=str(seen.screenshot.with_name("benchmarks-plot.png")))


def test_an_api_reference_page_renders_the_docstrings(visit, served: Served) -> None:
    seen, page = visit("api/anystream.asgi/", "api")

    assert seen.title == "anystream.asgi - anystream"
    assert_rendered(seen, page, served)
    assert page.locator("[id='anystream.asgi.AsgiFastStream']").is_visible()
