"""mkdocs hooks for the documentation site (``mkdocs.yml`` names this file).

- API reference pages: every nav entry ``api/<module>.md`` with no file behind it becomes a
  page generated from that module's docstrings (``::: <module>``, mkdocstrings). Names the
  module re-exports from faststream (``anystream.asgi.Request``, ...) are listed with the
  module that defines them: faststream's documentation describes them.
- ``changelog.md`` is the repository's ``CHANGELOG.md``.
- Links from a page in ``docs/`` to other files of the repository (``../examples/x.py``,
  ``../benchmarks/results/<run>/plot.png``) are kept as written, so they work on GitHub, and
  the files they name are served from the site under ``_repo/``, so they work there too,
  offline, with no copy in ``docs/``. A link to a file that does not exist is left alone:
  mkdocs reports it and the strict build fails.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

API_PREFIX = "api/"
REPO_PREFIX = "_repo/"
CHANGELOG = ("changelog.md", "CHANGELOG.md")  # site page, repository file

# A Markdown link or image target that leaves docs/: ](../path) or ](../path#anchor "title").
_OUTSIDE_LINK = re.compile(r"\]\((?P<up>(?:\.\./)+)(?P<path>[^)\s#]+)")


def _root(config: MkDocsConfig) -> Path:
    return Path(config.config_file_path).parent


def _nav_paths(nav: Any) -> list[str]:
    """Every page path named in the nav, depth first."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [path for value in nav.values() for path in _nav_paths(value)]
    if isinstance(nav, list):
        return [path for item in nav for path in _nav_paths(item)]
    return []


def _api_page(module: str) -> str:
    page = f"# `{module}`\n\n::: {module}\n"
    imported = importlib.import_module(module)
    for name in getattr(imported, "__all__", ()):
        obj = getattr(imported, name)
        if (
            not inspect.ismodule(obj)
            and getattr(obj, "__module__", None) == f"{module}.{name}"
            and importlib.util.find_spec(f"{module}.{name}") is not None
        ):
            # A name that shadows the submodule defining it (anystream.testing.lifespan): the
            # docstring collector sees the submodule, so the object is rendered from there.
            page += (
                f"\n::: {module}.{name}.{obj.__qualname__}\n"
                "    options:\n      show_root_heading: true\n      show_root_full_path: false\n"
            )
    foreign = [
        (name, getattr(getattr(imported, name), "__module__", None) or "")
        for name in getattr(imported, "__all__", ())
    ]
    foreign = [(name, origin) for name, origin in foreign if origin.startswith("faststream")]
    if foreign:
        page += (
            "\n## Re-exported from faststream\n\n"
            f"faststream's own, importable from `{module}` too, so that moving from faststream "
            "changes one import line; faststream's documentation describes them.\n\n"
            "| Name | Defined in |\n| --- | --- |\n"
        )
        page += "".join(f"| `{name}` | `{origin}` |\n" for name, origin in foreign)
    return page


def _outside_targets(page_uri: str, markdown: str, root: Path, docs: Path) -> dict[str, str]:
    """Repository paths (relative to the root) of the non-Markdown files ``markdown`` links to."""
    targets = {}
    page_dir = posixpath.dirname(page_uri)
    for match in _OUTSIDE_LINK.finditer(markdown):
        link = match["up"] + match["path"]
        # the target relative to the repository root, docs/ being one level below it
        relative = posixpath.normpath(posixpath.join(docs.name, page_dir, link))
        if relative.startswith("../") or relative.startswith(docs.name + "/"):
            continue  # outside the repository, or inside docs/ after all: left to mkdocs
        if relative.endswith(".md") or not (root / relative).is_file():
            continue  # left to mkdocs: a broken link fails the build
        targets[link] = relative
    return targets


def on_files(files: Files, config: MkDocsConfig) -> Files:
    root = _root(config)
    docs = Path(config.docs_dir)
    for path in _nav_paths(config.nav):
        if path.startswith(API_PREFIX) and files.get_file_from_path(path) is None:
            module = path.removeprefix(API_PREFIX).removesuffix(".md")
            files.append(File.generated(config, path, content=_api_page(module)))
    page_uri, source = CHANGELOG
    if files.get_file_from_path(page_uri) is None and (root / source).is_file():
        files.append(File.generated(config, page_uri, abs_src_path=str(root / source)))
    served: set[str] = set()
    for file in list(files.documentation_pages()):
        if file.abs_src_path is None or not file.abs_src_path.startswith(str(docs)):
            continue
        markdown = Path(file.abs_src_path).read_text(encoding="utf-8")
        served.update(_outside_targets(file.src_uri, markdown, root, docs).values())
    for relative in sorted(served):
        files.append(
            File.generated(config, REPO_PREFIX + relative, abs_src_path=str(root / relative))
        )
    return files


def on_page_markdown(
    markdown: str, page: Page, config: MkDocsConfig, files: Files
) -> str:
    if page.file.abs_src_path is None:
        return markdown
    root = _root(config)
    docs = Path(config.docs_dir)
    targets = _outside_targets(page.file.src_uri, markdown, root, docs)
    if not targets:
        return markdown
    page_dir = posixpath.dirname(page.file.src_uri)

    def rewrite(match: re.Match[str]) -> str:
        link = match["up"] + match["path"]
        if link not in targets:
            return match[0]
        return "](" + posixpath.relpath(REPO_PREFIX + targets[link], page_dir or ".")

    return _OUTSIDE_LINK.sub(rewrite, markdown)
