"""AsyncAPI docs: faststream's schema and page, with credentials kept out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from faststream._internal.application import StartAbleApplication
from faststream.specification import AsyncAPI
from faststream.specification.asyncapi.site import (
    ASYNCAPI_CSS_DEFAULT_URL,
    ASYNCAPI_JS_DEFAULT_URL,
    ASYNCAPI_TRY_IT_PLUGIN_URL,
    get_asyncapi_html,
)
from faststream.specification.base import SpecificationFactory

from .._redact import redact
from ._handlers import GetHandler, get
from ._responses import AsgiResponse
from .types import Scope

if TYPE_CHECKING:
    from faststream.specification.schema import Tag, TagDict

__all__ = ("make_asyncapi_asgi", "make_asyncapi_json_asgi", "specification_of")

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
) -> GetHandler:
    """The AsyncAPI HTML page of an app (``FastStream(broker)``), a broker, or a schema.

    ``try_it_out_path`` (default None: no form) is where the page's try-it-out form
    posts; set it only where such a handler answers (``AsgiFastStream(try_it_out=True)``
    or :func:`anystream.asgi._try_it_out.make_try_it_out_handler`).

    ``asyncapi_assets`` (default: ``$ANYSTREAM_ASYNCAPI_ASSETS``) is a folder with
    the page's JavaScript and CSS (``scripts/fetch_asyncapi_assets.py``): the page
    then serves them itself (``?asset=index.js``) and loads nothing from outside.
    """
    from ..observability._assets import offline_asyncapi_assets

    schema = specification_of(app_or_broker)
    cached: bytes | None = None
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

    @get(
        include_in_schema=include_in_schema,
        description=description,
        tags=tags,
        unique_id=unique_id,
    )
    async def docs(scope: Scope) -> AsgiResponse:
        nonlocal cached
        if offline is not None and (asset := await offline.serve(scope)) is not None:
            return asset
        if cached is None:
            html = get_asyncapi_html(
                schema.to_specification(),
                sidebar=sidebar,
                info=info,
                servers=servers,
                operations=operations,
                messages=messages,
                schemas=schemas,
                errors=errors,
                expand_message_examples=expand_message_examples,
                asyncapi_js_url=asyncapi_js_url,
                asyncapi_css_url=asyncapi_css_url,
                try_it_out_plugin_url=try_it_out_plugin_url,
                try_it_out_path=try_it_out_path,
            )
            if offline is not None:
                html = offline.localize(html)
            cached = redact(html).encode()
        return AsgiResponse(cached, 200, _HTML)

    return docs


def make_asyncapi_json_asgi(app_or_broker: Any, *, include_in_schema: bool = False) -> GetHandler:
    """The AsyncAPI schema as JSON, credentials removed."""
    schema = specification_of(app_or_broker)
    cached: bytes | None = None

    @get(include_in_schema=include_in_schema)
    async def asyncapi_json(scope: Scope) -> AsgiResponse:
        nonlocal cached
        if cached is None:
            cached = redact(schema.to_specification().to_json()).encode()
        return AsgiResponse(cached, 200, _JSON)

    return asyncapi_json
