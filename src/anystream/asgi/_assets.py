"""Serve files from a local folder safely, and the AsyncAPI page's assets offline.

:class:`AssetFolder` maps a relative name to a file inside one folder and refuses
everything else: ``..`` segments, absolute paths, backslashes, NUL bytes, hidden
files, and symlinks that lead out of the folder. Files are read in a worker
thread (never blocking the event loop) and cached, since assets do not change
while the app runs.

The AsyncAPI page (``/docs``) loads its JavaScript and CSS from a public CDN.
Point ``make_asyncapi_asgi(..., asyncapi_assets=FOLDER)`` or the
``ANYSTREAM_ASYNCAPI_ASSETS`` environment variable at a folder made by
``scripts/fetch_asyncapi_assets.py`` and the page is served with its assets from
the app itself: ``/docs?asset=index.js``, relative to the page, so it works
under any mount prefix or ``root_path``.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, quote

import anyio

from ._responses import AsgiResponse, method_not_allowed, not_found
from ._routing import route_path
from .types import Receive, Scope, Send

__all__ = (
    "ASSETS_ENV",
    "AssetFolder",
    "OfflineAsyncAPIAssets",
    "StaticFiles",
    "make_static_asgi",
    "offline_asyncapi_assets",
)

#: Environment variable naming the folder of AsyncAPI page assets.
ASSETS_ENV = "ANYSTREAM_ASYNCAPI_ASSETS"

#: Files of an AsyncAPI assets folder (``scripts/fetch_asyncapi_assets.py`` writes them).
ASYNCAPI_JS = "index.js"
ASYNCAPI_CSS = "default.min.css"
#: Optional: the "try it out" plugin's bundle; without it the page has no try-it-out form.
TRY_IT_PLUGIN_JS = "try-it-plugin.js"
#: Optional: the page icon.
FAVICON = "favicon.ico"

_CACHE_LIMIT = 16 * 1024 * 1024  # files larger than this are read on every request
_ICON_LINK = re.compile(r"[ \t]*<link rel=\"icon\"[^>]*>\n?")


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


class AssetFolder:
    """The files of one folder, by relative POSIX name, and nothing outside it."""

    def __init__(self, directory: str | os.PathLike[str], *, required: tuple[str, ...] = ()):
        root = Path(directory).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"asset folder {str(root)!r} does not exist")
        self.root = root.resolve()
        missing = [name for name in required if self.path_of(name) is None]
        if missing:
            raise FileNotFoundError(
                f"asset folder {str(root)!r} lacks {', '.join(missing)}"
            )
        self._cache: dict[str, Asset] = {}

    def path_of(self, name: str) -> Path | None:
        """The file ``name`` stands for, or None if it is not a file inside the folder."""
        if not name or "\0" in name or "\\" in name or name.startswith("/"):
            return None
        parts = PurePosixPath(name).parts
        if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
            return None
        try:
            candidate = self.root.joinpath(*parts).resolve(strict=True)
        except (OSError, RuntimeError):  # missing, or a symlink loop
            return None
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate

    def __contains__(self, name: str) -> bool:
        return self.path_of(name) is not None

    async def get(self, name: str) -> Asset | None:
        """The file's bytes, content type and ETag; None if it is not servable."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        path = self.path_of(name)
        if path is None:
            return None
        try:
            body = await anyio.to_thread.run_sync(path.read_bytes)
        except OSError:
            return None
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in (
            "application/javascript",
            "application/json",
        ):
            content_type += "; charset=utf-8"
        asset = Asset(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
        if len(body) <= _CACHE_LIMIT:
            self._cache[name] = asset
        return asset

    async def response(self, name: str, scope: Scope) -> AsgiResponse:
        """200 with the file, 304 if the client has it (``If-None-Match``), 404 if none."""
        asset = await self.get(name)
        if asset is None:
            return not_found
        headers = {
            "etag": asset.etag,
            "cache-control": "public, max-age=3600",
            "x-content-type-options": "nosniff",
        }
        for key, value in scope.get("headers", ()):
            if key == b"if-none-match" and asset.etag in value.decode("latin-1"):
                return AsgiResponse(b"", 304, headers)
        return AsgiResponse(asset.body, 200, {**headers, "content-type": asset.content_type})


class StaticFiles:
    """An ASGI app serving the files of an :class:`AssetFolder` below its mount point."""

    def __init__(self, folder: AssetFolder) -> None:
        self.folder = folder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] not in ("GET", "HEAD"):
            await method_not_allowed(("GET", "HEAD"))(scope, receive, send)
            return
        name = route_path(scope).lstrip("/")
        await (await self.folder.response(name, scope))(scope, receive, send)


def make_static_asgi(directory: str | os.PathLike[str]) -> StaticFiles:
    """An ASGI app serving the files of ``directory``; mount it: ``app.mount("/static", ...)``.

    GET and HEAD only (405 with ``Allow`` otherwise), 404 for anything that is
    not a file inside the folder. The folder must exist when this is called.
    """
    return StaticFiles(AssetFolder(directory))


class OfflineAsyncAPIAssets:
    """The AsyncAPI page with its assets served by the page's own route."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.folder = AssetFolder(directory, required=(ASYNCAPI_JS, ASYNCAPI_CSS))
        self.has_try_it_plugin = TRY_IT_PLUGIN_JS in self.folder
        self.has_favicon = FAVICON in self.folder

    @staticmethod
    def url(name: str) -> str:
        """The asset's URL relative to the page: ``?asset=<name>``."""
        return "?asset=" + quote(name, safe="")

    def page_options(
        self,
        js_url: str,
        css_url: str,
        try_it_out_plugin_url: str,
        try_it_out_path: str | None,
        *,
        defaults: tuple[str, str, str],
    ) -> tuple[str, str, str, str | None]:
        """Page URLs with the CDN defaults replaced by local ones.

        URLs the caller chose (not the defaults) are kept. Without the try-it-out
        plugin in the folder, the page is built without try-it-out.
        """
        default_js, default_css, default_plugin = defaults
        if js_url == default_js:
            js_url = self.url(ASYNCAPI_JS)
        if css_url == default_css:
            css_url = self.url(ASYNCAPI_CSS)
        if try_it_out_plugin_url == default_plugin:
            if self.has_try_it_plugin:
                try_it_out_plugin_url = self.url(TRY_IT_PLUGIN_JS)
            else:
                try_it_out_path = None
        return js_url, css_url, try_it_out_plugin_url, try_it_out_path

    def localize(self, html: str) -> str:
        """Drop the page's icons from asyncapi.com (a local ``favicon.ico`` replaces them)."""
        icon = (
            f'        <link rel="icon" href="{self.url(FAVICON)}">\n' if self.has_favicon else ""
        )
        return _ICON_LINK.sub("", html, count=0).replace("<head>\n", "<head>\n" + icon, 1)

    async def serve(self, scope: Scope) -> AsgiResponse | None:
        """The asset a ``?asset=`` request asks for (404 if none); None for the page itself."""
        query = scope.get("query_string", b"").decode("latin-1")
        if "asset=" not in query:
            return None
        names = parse_qs(query).get("asset")
        if not names:
            return not_found
        return await self.folder.response(names[0], scope)


def offline_asyncapi_assets(
    directory: str | os.PathLike[str] | None,
) -> OfflineAsyncAPIAssets | None:
    """Offline assets from ``directory`` or ``$ANYSTREAM_ASYNCAPI_ASSETS``; None if neither."""
    if directory is None:
        directory = os.environ.get(ASSETS_ENV) or None
    if directory is None:
        return None
    return OfflineAsyncAPIAssets(directory)
