"""AsyncAPI docs: faststream's schema and page, with credentials kept out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from faststream.specification import AsyncAPI
from faststream.specification.asyncapi.site import (
    ASYNCAPI_CSS_DEFAULT_URL,
    ASYNCAPI_JS_DEFAULT_URL,
    ASYNCAPI_TRY_IT_PLUGIN_URL,
    get_asyncapi_html,
)
from faststream.specification.base import SpecificationFactory
from typing_extensions import Unpack

from .._adapters.faststream import StartAbleApplication
from .._redact import redact
from ._assets import OfflineAsyncAPIAssets, offline_asyncapi_assets
from ._endpoint import Endpoint, EndpointOptions
from ._responses import AsgiResponse
from .types import Scope

if TYPE_CHECKING:
    from faststream.specification.schema import Tag, TagDict

__all__ = (
    "AsyncAPIJSON",
    "AsyncAPIPage",
    "make_asyncapi_asgi",
    "make_asyncapi_json_asgi",
    "specification_of",
)

_HTML = {"content-type": "text/html; charset=utf-8"}
_JSON = {"content-type": "application/json"}


def specification_of(source: Any) -> SpecificationFactory:
    """The schema factory of an app, a broker, or a factory itself."""
    if isinstance(source, StartAbleApplication):
        return source.schema
    if callable(getattr(source, "to_specification", None)):
        return source  # type: ignore[no-any-return]
    if hasattr(source, "subscribers") and hasattr(source, "publishers"):
        return AsyncAPI(source)
    raise TypeError(
        f"expected a FastStream app, a broker or a specification, got {type(source).__name__}"
    )


def make_asyncapi_asgi(
    app_or_broker: Any,
    description: str | None = None,
    tags: Sequence[Tag | TagDict | dict[str, Any]] | None = None,
    unique_id: str | None = None,
    include_in_schema: bool = True,
    *,
    sidebar: bool = True,
    info: bool = True,
    servers: bool = True,
    operations: bool = True,
    messages: bool = True,
    schemas: bool = True,
    errors: bool = True,
    expand_message_examples: bool = True,
    asyncapi_js_url: str = ASYNCAPI_JS_DEFAULT_URL,
    asyncapi_css_url: str = ASYNCAPI_CSS_DEFAULT_URL,
    try_it_out_plugin_url: str = ASYNCAPI_TRY_IT_PLUGIN_URL,
    try_it_out_path: str | None = None,
    asyncapi_assets: str | os.PathLike[str] | None = None,
) -> AsyncAPIPage:
    """The AsyncAPI HTML page of an app (``FastStream(broker)``), a broker, or a schema.

    ``try_it_out_path`` (default None: no form) is where the page's try-it-out form
    posts; set it only where such a handler answers (``AsgiFastStream(try_it_out=True)``
    or :func:`anystream.asgi._try_it_out.make_try_it_out_handler`).

    ``asyncapi_assets`` (default: ``$ANYSTREAM_ASYNCAPI_ASSETS``) is a folder with
    the page's JavaScript and CSS (``scripts/fetch_asyncapi_assets.py``): the page
    then serves them itself (``?asset=index.js``) and loads nothing from outside.
    """
    offline = offline_asyncapi_assets(asyncapi_assets)
    if offline is not None:
        asyncapi_js_url, asyncapi_css_url, try_it_out_plugin_url, try_it_out_path = (
            offline.page_options(
                asyncapi_js_url,
                asyncapi_css_url,
                try_it_out_plugin_url,
                try_it_out_path,
                defaults=(
                    ASYNCAPI_JS_DEFAULT_URL,
                    ASYNCAPI_CSS_DEFAULT_URL,
                    ASYNCAPI_TRY_IT_PLUGIN_URL,
                ),
            )
        )
    page_options = {
        "sidebar": sidebar,
        "info": info,
        "servers": servers,
        "operations": operations,
        "messages": messages,
        "schemas": schemas,
        "errors": errors,
        "expand_message_examples": expand_message_examples,
        "asyncapi_js_url": asyncapi_js_url,
        "asyncapi_css_url": asyncapi_css_url,
        "try_it_out_plugin_url": try_it_out_plugin_url,
        "try_it_out_path": try_it_out_path,
    }
    return AsyncAPIPage(
        specification_of(app_or_broker),
        page_options,
        offline,
        include_in_schema=include_in_schema,
        description=description,
        tags=tags,
        unique_id=unique_id,
    )


class AsyncAPIPage(Endpoint):
    """GET/HEAD: the AsyncAPI HTML page, built once, credentials removed."""

    def __init__(
        self,
        schema: SpecificationFactory,
        page_options: dict[str, Any],
        offline: OfflineAsyncAPIAssets | None,
        **options: Unpack[EndpointOptions],
    ) -> None:
        super().__init__(**options)
        self.schema = schema
        self._page_options = page_options
        self._offline = offline
        self._cached: bytes | None = None

    async def respond(self, scope: Scope) -> AsgiResponse:
        offline = self._offline
        if offline is not None and (asset := await offline.serve(scope)) is not None:
            return asset
        if self._cached is None:
            html = get_asyncapi_html(self.schema.to_specification(), **self._page_options)
            if offline is not None:
                html = offline.localize(html)
            self._cached = redact(html).encode()
        return AsgiResponse(self._cached, 200, _HTML)


def make_asyncapi_json_asgi(
    app_or_broker: Any, *, include_in_schema: bool = False
) -> AsyncAPIJSON:
    """The AsyncAPI schema as JSON, credentials removed."""
    return AsyncAPIJSON(specification_of(app_or_broker), include_in_schema=include_in_schema)


class AsyncAPIJSON(Endpoint):
    """GET/HEAD: the AsyncAPI schema as JSON, built once, credentials removed."""

    def __init__(self, schema: SpecificationFactory, *, include_in_schema: bool = False) -> None:
        super().__init__(include_in_schema=include_in_schema)
        self.schema = schema
        self._cached: bytes | None = None

    async def respond(self, scope: Scope) -> AsgiResponse:
        if self._cached is None:
            self._cached = redact(self.schema.to_specification().to_json()).encode()
        return AsgiResponse(self._cached, 200, _JSON)
