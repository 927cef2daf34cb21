"""Offline AsyncAPI docs: the page and its assets come from the app, nothing from outside.

No network: every test builds a tiny fake assets folder; the real one fetched by
``scripts/fetch_asyncapi_assets.py`` is tested too when ``ANYSTREAM_ASYNCAPI_ASSETS``
points at it.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import tarfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from faststream.nats import NatsBroker

from anystream.asgi import AsgiFastStream, make_asyncapi_asgi
from anystream.asgi._assets import ASSETS_ENV
from anystream.observability import make_static_asgi
from tests.helpers import call_asgi, client, http_scope

ROOT = Path(__file__).resolve().parents[2]
FAKE_JS = b"window.AsyncApiStandalone = {render() {}};\n"
FAKE_CSS = b"body { margin: 0 }\n"
SECRET = b"top secret\n"


def _fake_folder(base: Path) -> Path:
    folder = base / "assets"
    (folder / "sub").mkdir(parents=True)
    (folder / "index.js").write_bytes(FAKE_JS)
    (folder / "default.min.css").write_bytes(FAKE_CSS)
    (folder / "sub" / "note.txt").write_bytes(b"nested\n")
    (folder / ".hidden").write_bytes(SECRET)
    (base / "secret.txt").write_bytes(SECRET)
    (folder / "link-out").symlink_to(base / "secret.txt")
    return folder


def _asset_folders() -> list[Any]:
    params: list[Any] = [pytest.param(None, id="fake-assets")]
    real = os.environ.get(ASSETS_ENV)
    if real and (Path(real) / "index.js").is_file():
        params.append(pytest.param(Path(real), id="fetched-assets"))
    return params


@pytest.fixture
def fake_assets(tmp_path: Path) -> Path:
    return _fake_folder(tmp_path)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.urls.append(value)


def _links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


def _app(broker: NatsBroker, **docs: Any) -> AsgiFastStream:
    @broker.subscriber("docs.in")
    async def handle(body: str) -> None: ...

    return AsgiFastStream(broker, asgi_routes=[("/docs", make_asyncapi_asgi(broker, **docs))])


Headers = tuple[tuple[bytes, bytes], ...]


async def _raw_get(
    app: Any, path: str, query: bytes = b"", method: str = "GET", headers: Headers = ()
) -> tuple[int, dict[str, str], bytes]:
    """Call the app with a hand-made scope: paths reach it exactly as written (no URL cleanup)."""
    scope = http_scope(path, query, method, headers, client=("127.0.0.1", 1), server=("test", 80))
    return await call_asgi(app, scope)


@pytest.mark.anyio
@pytest.mark.parametrize("real", _asset_folders())
async def test_docs_page_with_local_assets_references_no_outside_host(
    real: Path | None, fake_assets: Path
) -> None:
    folder = real or fake_assets
    app = _app(NatsBroker(), asyncapi_assets=folder)
    async with client(app) as http:
        page = await http.get("/docs")
        assert page.status_code == 200
        urls = _links(page.text)
        assert len(urls) >= 2  # the script and the stylesheet
        for url in urls:
            parts = urlsplit(urljoin(str(page.url), url))
            assert (parts.scheme, parts.netloc) == ("http", "test"), url
        assert "unpkg.com" not in page.text and "jsdelivr" not in page.text
        # ...and each of them is served by the app, byte for byte.
        served = {}
        for url in urls:
            response = await http.get(urljoin(str(page.url), url))
            assert response.status_code == 200, url
            served[response.headers["content-type"].split(";")[0]] = response.content
    assert served["text/javascript"] == (folder / "index.js").read_bytes()
    assert served["text/css"] == (folder / "default.min.css").read_bytes()


@pytest.mark.anyio
async def test_docs_page_uses_the_cdn_when_no_folder_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ASSETS_ENV, raising=False)
    app = _app(NatsBroker())
    async with client(app) as http:
        page = await http.get("/docs")
    outside = {urlsplit(u).netloc for u in _links(page.text)} - {""}
    assert "unpkg.com" in outside


@pytest.mark.anyio
async def test_environment_variable_turns_on_offline_docs_for_asyncapi_path(
    monkeypatch: pytest.MonkeyPatch, fake_assets: Path
) -> None:
    monkeypatch.setenv(ASSETS_ENV, str(fake_assets))
    app = AsgiFastStream(NatsBroker(), asyncapi_path="/docs")
    async with client(app) as http:
        page = await http.get("/docs")
        script = await http.get("/docs", params={"asset": "index.js"})
    assert all(not urlsplit(u).netloc for u in _links(page.text))
    assert script.content == FAKE_JS
    assert script.headers["x-content-type-options"] == "nosniff"


@pytest.mark.anyio
async def test_try_it_out_plugin_and_icon_are_served_when_present(fake_assets: Path) -> None:
    (fake_assets / "try-it-plugin.js").write_bytes(b"window.AsyncApiTryItPlugin = {};\n")
    (fake_assets / "favicon.ico").write_bytes(b"\x00\x00\x01\x00")
    # The page offers try-it-out only where a handler answers it: name its path.
    app = _app(NatsBroker(), asyncapi_assets=fake_assets, try_it_out_path="/docs/try")
    async with client(app) as http:
        page = await http.get("/docs")
        urls = _links(page.text)
        plugin = await http.get("/docs?asset=try-it-plugin.js")
    assert "?asset=try-it-plugin.js" in urls and "?asset=favicon.ico" in urls
    assert "AsyncApiTryItPlugin.createTryItOutPlugin" in page.text
    assert plugin.status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize(
    "name",
    ["../secret.txt", "sub/../../secret.txt", "/etc/passwd", "..\\secret.txt", ".hidden",
     "link-out", "sub", "missing.js", "index.js\0", ""],
)
async def test_asset_requests_outside_the_folder_get_404(name: str, fake_assets: Path) -> None:
    from urllib.parse import quote

    app = _app(NatsBroker(), asyncapi_assets=fake_assets)
    query = b"asset=" + quote(name, safe="").encode()
    status, _, body = await _raw_get(app, "/docs", query)
    assert status == 404
    assert SECRET not in body


@pytest.mark.anyio
async def test_unchanged_asset_answers_304_to_its_etag(fake_assets: Path) -> None:
    app = _app(NatsBroker(), asyncapi_assets=fake_assets)
    status, head, _ = await _raw_get(app, "/docs", b"asset=index.js")
    assert status == 200
    status, _, body = await _raw_get(
        app, "/docs", b"asset=index.js", headers=((b"if-none-match", head["etag"].encode()),)
    )
    assert (status, body) == (304, b"")


def test_missing_folder_or_files_fail_when_the_app_is_built(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_asyncapi_asgi(NatsBroker(), asyncapi_assets=tmp_path / "nowhere")
    (tmp_path / "index.js").write_bytes(FAKE_JS)
    with pytest.raises(FileNotFoundError, match=r"lacks default\.min\.css"):
        make_asyncapi_asgi(NatsBroker(), asyncapi_assets=tmp_path)


@pytest.mark.anyio
async def test_static_mount_serves_files_below_it_and_nothing_else(fake_assets: Path) -> None:
    app = AsgiFastStream(NatsBroker())
    app.mount("/static", make_static_asgi(fake_assets))
    status, head, body = await _raw_get(app, "/static/sub/note.txt")
    assert (status, body) == (200, b"nested\n")
    assert head["content-type"] == "text/plain; charset=utf-8"
    status, _, body = await _raw_get(app, "/static/index.js", method="HEAD")
    assert (status, body) == (200, b"")
    status, head, _ = await _raw_get(app, "/static/index.js", method="POST")
    assert (status, head["allow"]) == (405, "GET, HEAD")
    for path in ("/static/../secret.txt", "/static/sub/../../secret.txt", "/static/link-out",
                 "/static/.hidden", "/static//etc/passwd", "/static/"):
        status, _, body = await _raw_get(app, path)
        assert status == 404, path
        assert SECRET not in body


# The fetch script, without the network: a tarball shaped like npm's.

def _script() -> Any:
    spec = importlib.util.spec_from_file_location(
        "fetch_asyncapi_assets", ROOT / "scripts" / "fetch_asyncapi_assets.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_fetch_script_copies_bundle_and_css_from_an_npm_tarball(tmp_path: Path) -> None:
    tarball = _tarball(tmp_path / "pkg.tgz", {
        "package/browser/standalone/index.js": FAKE_JS,
        "package/styles/default.min.css": FAKE_CSS,
        "package/LICENSE": b"Apache-2.0\n",
        "package/browser/index.js": b"not the standalone bundle",
    })
    dest = tmp_path / "out"
    script = _script()
    assert script.main(["--tarball", str(tarball), "--dest", str(dest), "--version", "1.2.3"]) == 0
    assert (dest / "index.js").read_bytes() == FAKE_JS
    assert (dest / "default.min.css").read_bytes() == FAKE_CSS
    manifest = json.loads((dest / "assets.json").read_text())
    assert manifest["version"] == "1.2.3"
    assert set(manifest["files"]) == {"index.js", "default.min.css", "LICENSE"}
    # The folder it made is what the docs page needs.
    make_asyncapi_asgi(NatsBroker(), asyncapi_assets=dest)


def test_fetch_script_reports_a_broken_tarball_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tarball = _tarball(tmp_path / "pkg.tgz", {"package/styles/default.min.css": FAKE_CSS})
    script = _script()
    assert script.main(["--tarball", str(tarball), "--dest", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "fetch_asyncapi_assets: pkg.tgz has no package/browser/standalone/index.js"


def test_fetch_script_rejects_a_tarball_that_does_not_match_its_integrity(
    tmp_path: Path,
) -> None:
    script = _script()
    tarball = _tarball(tmp_path / "pkg.tgz", {"package/LICENSE": b"x"})
    with pytest.raises(script.FetchError, match="does not match"):
        script.check_integrity(tarball, "sha512-AAAA")
