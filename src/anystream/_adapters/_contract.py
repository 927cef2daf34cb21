"""Assumptions about another library's internals, checked before patching it.

An adapter lists what it relies on as :class:`Assumption` s (built with the checks below:
a class defines an attribute, a signature, the names a function's code uses, the source a
copy was made from) and what it replaces as :class:`Patch` es; a :class:`PatchSet` checks
every assumption and patches only if all hold, else raises naming each broken one.
Checks look at the library's *original* code even once it is patched.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

__all__ = (
    "Assumption",
    "Broken",
    "Patch",
    "PatchSet",
    "all_of",
    "defines",
    "fingerprint",
    "has_slot",
    "lookup",
    "signature",
    "slots",
    "source_has",
    "unchanged",
    "uses",
)


class Broken(Exception):
    """An assumption does not hold; the message says how."""


def lookup(path: str) -> Any:
    """``"package.module:Class.attr"`` to the object (a class's own ``__dict__`` entry, so
    properties and functions come back as defined), or :class:`Broken` naming what is missing.
    """
    module_name, _, qualname = path.partition(":")
    try:
        obj: Any = import_module(module_name)
    except ImportError as exc:
        raise Broken(f"module {module_name} cannot be imported ({exc})") from None
    for part in filter(None, qualname.split(".")):
        try:
            obj = obj.__dict__[part] if isinstance(obj, type) else getattr(obj, part)
        except (KeyError, AttributeError):
            raise Broken(f"{path}: {part!r} is missing") from None
    return obj


# (owner, attr) -> the library's own attribute, saved when a patch replaces it
_originals: dict[tuple[str, str], Any] = {}


def original(owner: str, attr: str) -> Any:
    """The attribute as the library defines it (the saved original once patched)."""
    saved = _originals.get((owner, attr))
    return saved if saved is not None else lookup(f"{owner}.{attr}")


def _function(obj: Any) -> Any:
    if isinstance(obj, property):
        return obj.fget
    if isinstance(obj, classmethod | staticmethod):
        return obj.__func__
    return obj


def _names_used(obj: Any) -> set[str]:
    code = getattr(_function(obj), "__code__", None)
    if code is None:
        raise Broken(f"{obj!r} is not a Python function")
    names: set[str] = set()
    stack = [code]
    while stack:  # nested code objects too (comprehensions, closures)
        code = stack.pop()
        names.update(code.co_names)
        stack.extend(c for c in code.co_consts if inspect.iscode(c))
    return names


def fingerprint(obj: Any) -> str:
    """A short hash of a function's source, to tell whether a copied function changed."""
    source = inspect.getsource(_function(obj))
    return hashlib.sha256(source.encode()).hexdigest()[:16]


Check = Callable[[], None]


@dataclass(frozen=True)
class Assumption:
    """One thing an adapter assumes about a library's internals."""

    name: str
    check: Check

    def broken(self) -> str | None:
        """``None`` if the assumption holds, else why not."""
        try:
            self.check()
        except Broken as exc:
            return str(exc)
        except (OSError, TypeError, ValueError) as exc:  # getsource / signature failed
            return f"cannot be checked: {exc!r}"
        return None


def defines(owner: str, *attrs: str) -> Check:
    """The class ``owner`` defines each of ``attrs`` itself (not by inheritance)."""

    def check() -> None:
        cls = lookup(owner)
        if not isinstance(cls, type):
            raise Broken(f"{owner} is not a class")
        missing = [attr for attr in attrs if attr not in cls.__dict__]
        if missing:
            raise Broken(f"{owner} no longer defines {', '.join(missing)}")

    return check


def signature(owner: str, attr: str, expected: str) -> Check:
    """Parameter names, kinds and defaults (annotations are left out: they are cosmetic)."""

    def check() -> None:
        found_signature = inspect.signature(_function(original(owner, attr)))
        found = str(
            found_signature.replace(
                parameters=[
                    p.replace(annotation=inspect.Parameter.empty)
                    for p in found_signature.parameters.values()
                ],
                return_annotation=inspect.Signature.empty,
            )
        )
        if found != expected:
            raise Broken(f"{owner}.{attr}{found}, expected {attr}{expected}")

    return check


def uses(owner: str, attr: str, *names: str) -> Check:
    """The code of ``owner.attr`` still names each of ``names`` (globals, attributes)."""

    def check() -> None:
        missing = set(names) - _names_used(original(owner, attr))
        if missing:
            raise Broken(f"{owner}.{attr} no longer uses {', '.join(sorted(missing))}")

    return check


def unchanged(owner: str, attr: str, expected: str, *, copy_in: str) -> Check:
    """The source of ``owner.attr`` is the one the copy in ``copy_in`` was made from."""

    def check() -> None:
        found = fingerprint(original(owner, attr))
        if found != expected:
            raise Broken(
                f"{owner}.{attr} changed (source fingerprint {found}, the copy in {copy_in} "
                f"was made from {expected}): review the copy against it"
            )

    return check


def source_has(owner: str, attr: str, *snippets: str) -> Check:
    """The source of ``owner.attr`` still contains each of ``snippets`` (a call, a test)."""

    def check() -> None:
        source = inspect.getsource(_function(original(owner, attr)))
        missing = [snippet for snippet in snippets if snippet not in source]
        if missing:
            raise Broken(f"{owner}.{attr} no longer contains {', '.join(map(repr, missing))}")

    return check


def slots(owner: str, expected: tuple[str, ...]) -> Check:
    """The class ``owner`` declares exactly these ``__slots__``."""

    def check() -> None:
        found = tuple(lookup(owner).__dict__.get("__slots__", ()))
        if found != expected:
            raise Broken(f"{owner}.__slots__ is {found}, expected {expected}")

    return check


def has_slot(owner: str, name: str) -> Check:
    """The class ``owner`` declares ``name`` among its ``__slots__``."""

    def check() -> None:
        found = tuple(lookup(owner).__dict__.get("__slots__", ()))
        if name not in found:
            raise Broken(f"{owner}.__slots__ {found} has no {name!r}")

    return check


def all_of(*checks: Check) -> Check:
    def check() -> None:
        for each in checks:
            each()

    return check


@dataclass(frozen=True)
class Patch:
    """Replace ``owner.attr`` (``owner`` a ``"module:Class"`` path) with ``replacement``."""

    owner: str
    attr: str
    replacement: Any


@dataclass(frozen=True)
class PatchSet:
    """An adapter: the patches it applies and the assumptions they rest on."""

    distribution: str
    assumptions: tuple[Assumption, ...]
    patches: tuple[Patch, ...]
    error: type[Exception] = RuntimeError

    def is_installed(self) -> bool:
        """Whether every patch is in place."""
        try:
            return all(lookup(p.owner).__dict__.get(p.attr) is p.replacement for p in self.patches)
        except Broken:
            return False

    def broken(self) -> list[tuple[str, str]]:
        """``(assumption, why)`` for each assumption that does not hold."""
        return [(a.name, why) for a in self.assumptions if (why := a.broken()) is not None]

    def install(self) -> None:
        """Check every assumption, then apply every patch; idempotent.

        Patches nothing and raises ``self.error`` naming each broken assumption unless all hold.
        """
        if self.is_installed():
            return
        broken = self.broken()
        if broken:
            details = "\n".join(f"  - {name}: {why}" for name, why in broken)
            raise self.error(
                f"cannot adapt {self.distribution} {_version(self.distribution)}: "
                f"{len(broken)} assumption(s) about its internals no longer hold, so its "
                f"code cannot be replaced safely:\n{details}"
            )
        for patch in self.patches:
            cls = lookup(patch.owner)
            current = cls.__dict__[patch.attr]
            if current is not patch.replacement:
                _originals.setdefault((patch.owner, patch.attr), current)
                setattr(cls, patch.attr, patch.replacement)

    def uninstall(self) -> None:
        """Put the library's own code back."""
        for patch in self.patches:
            saved = _originals.pop((patch.owner, patch.attr), None)
            if saved is not None:
                setattr(lookup(patch.owner), patch.attr, saved)


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:  # pragma: no cover
        return "(version unknown)"
