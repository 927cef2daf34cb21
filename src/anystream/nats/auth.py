"""Credentials for CONNECT: NKey seeds and ``.creds`` files (JWT + NKey seed).

NKey signing uses the ``nkeys`` package (Ed25519), imported only when a seed is used.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import AuthorizationError

__all__ = ("Credentials", "parse_creds", "sign_nonce")

_CREDS_BLOCK = re.compile(
    r"\s*(?:(?:-{3,}[^\n]*-{3,}\n)(.+?)(?:\n\s*-{3,}[^\n]*-{3,}\n?))", re.DOTALL
)


@dataclass(frozen=True)
class Credentials:
    """A user JWT and the NKey seed that signs the server's nonce for it."""

    jwt: str
    seed: bytes


def parse_creds(text: str) -> Credentials:
    """Read a ``.creds`` file's text: the first framed block is the JWT, the second the seed.

    Raises :class:`AuthorizationError` when the text does not hold both.
    """
    blocks = [m.group(1).strip() for m in _CREDS_BLOCK.finditer(text)]
    if len(blocks) < 2 or not blocks[0] or not blocks[1].startswith("S"):
        raise AuthorizationError("credentials file does not hold a user JWT and an NKey seed")
    return Credentials(jwt=blocks[0], seed=blocks[1].encode())


def load_creds(path: str | Path) -> Credentials:
    """Read and parse a ``.creds`` file."""
    return parse_creds(Path(path).read_text())


def _keypair(seed: bytes) -> Any:
    try:
        import nkeys  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise AuthorizationError(
            "NKey authentication needs the 'nkeys' package: pip install nkeys"
        ) from exc
    try:
        return nkeys.from_seed(seed)
    except Exception as exc:
        raise AuthorizationError(f"invalid NKey seed: {exc}") from None


def public_key(seed: bytes) -> str:
    """The public NKey (``U...``) of ``seed``."""
    return str(_keypair(seed).public_key.decode())


def sign_nonce(seed: bytes, nonce: str) -> str:
    """Sign the server's ``nonce`` with ``seed``: base64url without padding, as CONNECT wants."""
    signature: bytes = _keypair(seed).sign(nonce.encode())
    return base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
