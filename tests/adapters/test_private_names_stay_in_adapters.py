"""Other libraries' private names are used in ``anystream._adapters`` only.

ruff's banned-API rule (TID251, pyproject.toml) keeps their private *modules* out of
``src/`` (``faststream._internal``, ``anyio._backends``, hypercorn's worker modules);
``_adapters/`` is exempt. These tests close what ruff cannot see:

- TID251 is off where asyncio/trio are allowed (``runtime/``) and in ``tests/``, and on
  in ``_adapters/`` only for the third-party private modules: the import checks below
  cover those files.
- Private *attributes* cannot be banned by ruff. Python has no types at this level, so
  the check is by name, in two parts, chosen so that anystream's own private attributes
  (``self._router``, ``sub._close``, ...) are never flagged:

  1. ``self._x`` / ``cls._x`` in a class derived from another library's class (faststream's
     ``AsgiFastStream``, nats-py's ``JetStreamContext``, ...) is inherited from it unless
     anystream's own classes in the hierarchy define ``_x`` (a method, a class attribute,
     a slot, or ``self._x = ...``): flagged.
  2. ``obj._x`` (or ``getattr(obj, "_x")``) on any other object is flagged when ``_x`` is
     a private name anystream itself never defines (then it can only be someone else's;
     ``_anystream*`` names are anystream's markers on other objects), or one of
     :data:`KNOWN_FOREIGN`: private names of those libraries that anystream
     also uses for attributes of its own, which the first rule cannot tell apart.

  What this cannot see: a foreign private attribute whose name anystream also defines,
  reached on an object other than ``self``, and not listed in :data:`KNOWN_FOREIGN`
  (nats-py ``Msg``'s ``_ackd``/``_metadata`` share names with anystream's own ``JsMsg``
  slots, so they cannot be listed: reviews and ``_adapters/nats_py.py`` guard them).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "anystream"
ADAPTERS = SRC / "_adapters"
TESTS = ROOT / "tests"

#: Other libraries' private modules: banned outside _adapters/ (pyproject.toml TID251).
BANNED_MODULES = (
    "faststream._internal",
    "anyio._backends",
    "hypercorn.asyncio.run",
    "hypercorn.trio.run",
    "hypercorn.app_wrappers",
)

#: Backend modules: only runtime/ imports them (TID251), so not _adapters/ either.
BACKEND_MODULES = ("asyncio", "trio", "trio_asyncio")

#: Private names of faststream, nats-py, hypercorn, prometheus_client and anyio that
#: anystream has reached into, and that it also uses as names of its own attributes.
KNOWN_FOREIGN = frozenset(
    {
        "_connect",  # faststream BrokerUsecase's connect hook
        "_connection",  # faststream BrokerUsecase's connection
        "_client",  # nats-py Msg's client
        "_sid",  # nats-py Msg's subscription id
        "_prefix",  # nats-py JetStreamContext/JetStreamManager's API prefix
        "_timeout",  # nats-py JetStreamContext/JetStreamManager's timeout
        "_nc",  # nats-py JetStreamContext/JetStreamManager's connection
        "_log",  # faststream Application._log
        "_send_ping",  # nats-py Client._send_ping
        "_transport",  # nats-py Client._transport
        "_subs",  # nats-py Client._subs
    }
)

#: anystream's own marker attributes on other objects (``error_cb._anystream_slicer``).
OWN_MARKER = "_anystream"

#: Bases that do not make a class "another library's" (stdlib).
_STDLIB = frozenset(sys.stdlib_module_names) | {"typing_extensions"}


def _python_files(root: Path, *, outside: Path | None = None) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        if outside is None or outside not in path.parents:
            yield path


def _imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _imports_of(files: Iterator[Path], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(
        {
            f"{path.relative_to(ROOT)}:{line}: {module}"
            for path in files
            for line, module in _imported_modules(ast.parse(path.read_text()))
            if _under(module, prefixes)
        }
    )


def test_ruff_bans_every_private_module_outside_adapters() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lint = config["tool"]["ruff"]["lint"]
    banned = lint["flake8-tidy-imports"]["banned-api"]
    assert set(BANNED_MODULES) <= set(banned)
    exempt = [p for p, rules in lint["per-file-ignores"].items() if "TID251" in rules]
    assert "src/anystream/_adapters/**" in exempt


def test_no_private_module_is_imported_outside_adapters_in_runtime_or_tests() -> None:
    # ruff is off for TID251 in runtime/ (asyncio, trio) and tests/: checked here.
    files = [
        *_python_files(SRC / "runtime"),
        *_python_files(TESTS, outside=TESTS / "adapters"),
    ]
    assert _imports_of(iter(files), BANNED_MODULES) == []


def test_adapters_import_no_backend_module() -> None:
    # TID251 is off in _adapters/ (for the private modules): asyncio/trio stay in runtime/.
    assert _imports_of(_python_files(ADAPTERS), BACKEND_MODULES) == []


# ---------------------------------------------------------------- private attributes


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@dataclass
class _Class:
    own: set[str] = field(default_factory=set)  # private names the class defines
    bases: list[str] = field(default_factory=list)  # anystream base class names
    foreign_base: bool = False  # derives from another library's class directly


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


def _class_names(node: ast.ClassDef) -> set[str]:
    names: set[str] = set()
    for item in node.body:
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(item.name)
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            names.add(item.target.id)
        elif isinstance(item, ast.Assign):
            for target in item.targets:
                if isinstance(target, ast.Name):
                    names.add(target.id)
                    if target.id == "__slots__":
                        names |= {
                            c.value
                            for c in ast.walk(item.value)
                            if isinstance(c, ast.Constant) and isinstance(c.value, str)
                        }
    for sub in ast.walk(node):
        if (
            isinstance(sub, ast.Attribute)
            and isinstance(sub.ctx, ast.Store)
            and isinstance(sub.value, ast.Name)
            and sub.value.id in ("self", "cls")
        ):
            names.add(sub.attr)
    return names


class _Source:
    """anystream's source outside _adapters/: its classes and the private names it defines."""

    def __init__(self) -> None:
        self.trees = {path: ast.parse(path.read_text()) for path in _python_files(SRC)}
        self.classes: dict[str, list[_Class]] = {}
        self.own: set[str] = set()  # every private name anystream defines
        for path, tree in self.trees.items():
            foreign = self._foreign_names(tree)
            for node in tree.body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    self.own.add(node.name)
                elif isinstance(node, ast.Assign | ast.AnnAssign):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    self.own |= {t.id for t in targets if isinstance(t, ast.Name)}
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef):
                    cls = _Class(own=_class_names(node))
                    for base in node.bases:
                        name = _root_name(base)
                        if name in foreign:
                            cls.foreign_base = True
                        elif name is not None:
                            cls.bases.append(name)
                    self.classes.setdefault(node.name, []).append(cls)
                    if ADAPTERS not in path.parents:
                        self.own |= cls.own

    @staticmethod
    def _foreign_names(tree: ast.Module) -> set[str]:
        """Names this module imports from another library (not anystream, not stdlib)."""
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                top = node.module.partition(".")[0]
                if top not in _STDLIB and top != "anystream":
                    names |= {a.asname or a.name for a in node.names}
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    top = alias.name.partition(".")[0]
                    if top not in _STDLIB and top != "anystream":
                        names.add(alias.asname or top)
        return names

    def chain(self, name: str, seen: frozenset[str] = frozenset()) -> tuple[set[str], bool]:
        """(private names anystream's classes named ``name`` and their bases define,
        whether one of them derives from another library's class)."""
        own: set[str] = set()
        foreign = False
        for cls in self.classes.get(name, []):
            own |= cls.own
            foreign |= cls.foreign_base
            for base in cls.bases:
                if base not in seen:
                    base_own, base_foreign = self.chain(base, seen | {name})
                    own |= base_own
                    foreign |= base_foreign
        return own, foreign


Access = tuple[ast.AST, ast.expr, str, str | None]


def _accesses(tree: ast.AST) -> Iterator[Access]:
    """(node, receiver, private attribute, enclosing class) for every private access."""

    def visit(node: ast.AST, cls: str | None) -> Iterator[Access]:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, ast.ClassDef) else cls
            if isinstance(child, ast.Attribute) and _private(child.attr):
                yield child, child.value, child.attr, cls
            elif (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Name)
                and child.func.id in ("getattr", "setattr", "hasattr", "delattr")
                and len(child.args) >= 2
                and isinstance(child.args[1], ast.Constant)
                and isinstance(child.args[1].value, str)
                and _private(child.args[1].value)
            ):
                yield child, child.args[0], child.args[1].value, cls
            yield from visit(child, inner)

    yield from visit(tree, None)


def _foreign_private_accesses(source: _Source) -> list[str]:
    found = []
    for path, tree in source.trees.items():
        if ADAPTERS in path.parents:
            continue
        for node, receiver, attr, cls in _accesses(tree):
            on_self = isinstance(receiver, ast.Name) and receiver.id in ("self", "cls")
            if on_self and cls is not None:
                own, foreign = source.chain(cls)
                flagged = foreign and attr not in own
            elif attr.startswith(OWN_MARKER):
                flagged = False
            else:
                flagged = attr not in source.own or attr in KNOWN_FOREIGN
            if flagged:
                where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
                found.append(f"{where}: {ast.unparse(receiver)}.{attr}")
    return sorted(found)


# Sites in files the regroup branch moves or deletes (issue 15): moved into _adapters/
# once its moves are on main. Transitional: this list must be empty by the end.
_PENDING_REGROUP = [
    "src/anystream/ping.py:32: broker._connection",
    "src/anystream/ping.py:58: broker._connection",
    "src/anystream/runtime/_nats_py.py:44: connection._send_ping",
    "src/anystream/slicing.py:229: client._transport",
    "src/anystream/slicing.py:233: client._subs",
    "src/anystream/slicing.py:239: client._subs",
    "src/anystream/slicing.py:359: ref()._connection",
    "src/anystream/slicing.py:365: ref()._connection",
    "src/anystream/slicing.py:371: broker._connection_kwargs",
]


def test_no_other_librarys_private_attribute_is_used_outside_adapters() -> None:
    assert _foreign_private_accesses(_Source()) == _PENDING_REGROUP


def test_the_check_flags_what_it_is_meant_to_and_not_anystreams_own() -> None:
    source = _Source()
    tree = ast.parse(
        "from faststream.asgi import AsgiFastStream\n"
        "class App(AsgiFastStream):\n"
        "    def __init__(self):\n"
        "        self._mine = 1\n"
        "    def run(self, broker, registry, sub):\n"
        "        self._mine, self._log_level\n"  # own; inherited from faststream
        "        broker._connection_kwargs, broker._connection\n"  # never own; known
        "        getattr(registry, '_names_to_collectors', {})\n"  # never own
        "        sub._close, sub._native\n"  # anystream's own private names
    )
    path = SRC / "_example.py"
    source.trees = {path: tree}
    source.classes.setdefault("App", []).append(
        _Class(own=_class_names(tree.body[1]), foreign_base=True)  # type: ignore[arg-type]
    )

    found = [line.split(": ", 1)[1] for line in _foreign_private_accesses(source)]

    assert found == [
        "self._log_level",
        "broker._connection",
        "broker._connection_kwargs",
        "registry._names_to_collectors",
    ]
