#!/usr/bin/env python3
"""Fetch the AsyncAPI page's JavaScript and CSS once, for docs served without internet.

    python scripts/fetch_asyncapi_assets.py --dest asyncapi-assets
    ANYSTREAM_ASYNCAPI_ASSETS=asyncapi-assets uvicorn main:app

It runs ``npm pack @asyncapi/react-component@<version>`` (the version faststream's
page uses), checks the tarball against the registry's integrity hash, and copies
the browser bundle and stylesheet (with their licences) into ``--dest``::

    index.js                  browser/standalone/index.js
    index.js.LICENSE.txt      browser/standalone/index.js.LICENSE.txt
    default.min.css           styles/default.min.css
    LICENSE                   LICENSE
    assets.json               package, version, integrity, sha256 of each file

Run it where the npm registry is reachable (a build stage, a workstation) and
ship the folder with the image. ``--tarball FILE`` uses a tarball you already
have instead of npm. The "try it out" plugin is not on the npm registry; without
``try-it-plugin.js`` in the folder the page is built without try-it-out.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "@asyncapi/react-component"

#: Files taken from the package: member of the tarball -> name in the folder.
FILES = {
    "package/browser/standalone/index.js": "index.js",
    "package/browser/standalone/index.js.LICENSE.txt": "index.js.LICENSE.txt",
    "package/styles/default.min.css": "default.min.css",
    "package/LICENSE": "LICENSE",
}
REQUIRED = ("index.js", "default.min.css")


class FetchError(Exception):
    """A readable one-line reason the assets could not be fetched."""


def default_version() -> str:
    """The version faststream's page loads from the CDN."""
    from faststream.specification.asyncapi.site import ASYNCAPI_JS_DEFAULT_URL

    match = re.search(r"react-component@([^/]+)/", ASYNCAPI_JS_DEFAULT_URL)
    if match is None:  # pragma: no cover - depends on faststream
        raise FetchError(f"cannot tell the version from {ASYNCAPI_JS_DEFAULT_URL}")
    return match.group(1)


def npm_pack(spec: str, workdir: Path) -> tuple[Path, str]:
    """``npm pack spec`` into ``workdir``: the tarball and its registry integrity."""
    npm = shutil.which("npm")
    if npm is None:
        raise FetchError("npm is not installed (or use --tarball FILE)")
    try:
        done = subprocess.run(
            [npm, "pack", spec, "--json", "--pack-destination", str(workdir)],
            capture_output=True, text=True, timeout=300, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise FetchError(f"npm pack {spec} took more than 300 s") from exc
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if "npm error" in ln] or [done.stderr]
        raise FetchError(f"npm pack {spec} failed: {lines[0].strip()}")
    info = json.loads(done.stdout)[0]
    return workdir / info["filename"], str(info["integrity"])


def check_integrity(tarball: Path, integrity: str) -> None:
    """Compare the tarball with an SRI string (``sha512-<base64>``)."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm not in ("sha512", "sha384", "sha256"):
        raise FetchError(f"unknown integrity algorithm {algorithm!r}")
    digest = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if digest != expected:
        raise FetchError(f"{tarball.name} does not match the registry's {algorithm} hash")


def extract_assets(tarball: Path, dest: Path) -> dict[str, str]:
    """Copy :data:`FILES` out of an npm tarball into ``dest``; their sha256 by name.

    Only the listed members are read (never ``extractall``), as regular files.
    """
    dest.mkdir(parents=True, exist_ok=True)
    hashes: dict[str, str] = {}
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member_name, target in FILES.items():
                try:
                    member = archive.getmember(member_name)
                except KeyError:
                    if target in REQUIRED:
                        raise FetchError(f"{tarball.name} has no {member_name}") from None
                    continue
                if not member.isfile():
                    raise FetchError(f"{member_name} in {tarball.name} is not a regular file")
                stream = archive.extractfile(member)
                assert stream is not None
                data = stream.read()
                (dest / target).write_bytes(data)
                hashes[target] = hashlib.sha256(data).hexdigest()
    except (tarfile.TarError, OSError) as exc:
        raise FetchError(f"cannot read {tarball}: {exc}") from exc
    return hashes


def fetch(dest: Path, version: str, tarball: Path | None = None) -> dict[str, object]:
    """Fill ``dest`` with the assets; returns the manifest written to ``assets.json``."""
    with tempfile.TemporaryDirectory() as tmp:
        integrity = None
        if tarball is None:
            tarball, integrity = npm_pack(f"{PACKAGE}@{version}", Path(tmp))
            check_integrity(tarball, integrity)
        files = extract_assets(tarball, dest)
    manifest: dict[str, object] = {
        "package": PACKAGE, "version": version, "integrity": integrity, "files": files,
    }
    (dest / "assets.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=Path("asyncapi-assets"),
                        help="folder to write (default: ./asyncapi-assets)")
    parser.add_argument("--version", default=None,
                        help=f"{PACKAGE} version (default: the one faststream uses)")
    parser.add_argument("--tarball", type=Path, default=None,
                        help="use this npm tarball instead of running npm pack")
    args = parser.parse_args(argv)
    try:
        version = args.version or default_version()
        manifest = fetch(args.dest, version, args.tarball)
    except FetchError as exc:
        print(f"fetch_asyncapi_assets: {exc}", file=sys.stderr)
        return 1
    files = manifest["files"]
    assert isinstance(files, dict)
    print(f"{PACKAGE}@{version}: {', '.join(sorted(files))} -> {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
