"""The package's import graph, read from the source: one-way layers and no cycles.

``pretrain`` <- ``rewards`` <- ``envs`` <- ``agents`` <- ``sequence_tutor`` (the tool): a module
may import its own layer and those to its left, never one to its right. ``rewards`` imports no
Gymnasium or SB3, ``envs`` no SB3. Every import statement counts, those inside functions too
(only ``if TYPE_CHECKING:`` blocks, which never run, are left out), so a lazy import cannot hide
a cycle, and relative imports are resolved against the module's package. The deprecated aliases
of moved modules (``agents._moved``) resolve by name at run time and are no edges here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("pretrain", "rewards", "envs", "agents", "sequence_tutor")
FORBIDDEN = {
    "pretrain": {"gymnasium", "stable_baselines3", "sb3_contrib"},
    "rewards": {"gymnasium", "stable_baselines3", "sb3_contrib"},
    "envs": {"stable_baselines3", "sb3_contrib"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _absolute(module: str | None, level: int, package: str) -> str:
    """The absolute name of ``from <level dots><module> import ...`` written in ``package``."""
    if level == 0:
        return module or ""
    parts = package.split(".") if package else []
    if level - 1 > len(parts) - 1:
        raise ImportError(f"relative import beyond the top-level package in {package!r}")
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _imports(tree: ast.AST, package: str = "") -> list[tuple[str, list[str]]]:
    """``(module, names)`` of every import statement that can run; relative imports are
    resolved against ``package`` (the package the module is in: itself for an ``__init__``)."""
    found: list[tuple[str, list[str]]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node.module, node.level, package)
            found.append((module, [alias.name for alias in node.names]))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """``(edges between our modules, third-party top-level names per module)``."""
    paths = {_module_name(p): p for layer in LAYERS for p in (ROOT / layer).rglob("*.py")}
    edges: dict[str, set[str]] = {name: set() for name in paths}
    external: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for module, names in _imports(tree, package):
            if module.split(".")[0] not in LAYERS:
                external[name].add(module.split(".")[0])
                continue
            # ``from pkg import sub`` imports the module pkg.sub when there is one.
            targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in paths] or [module]
            edges[name].update(t for t in targets if t in paths and t != name)
    return edges, external


def _layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return found


def test_no_import_cycles():
    assert cycles(import_graph()[0]) == []


def test_imports_follow_the_layers():
    edges, _ = import_graph()
    against = sorted(
        f"{source} imports {target}"
        for source, targets in edges.items()
        for target in targets
        if _layer(target) > _layer(source)
    )
    assert against == []


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_lower_layers_import_no_rl_framework(layer):
    _, external = import_graph()
    bad = sorted(
        f"{module} imports {name}"
        for module, names in external.items()
        if module.split(".")[0] == layer
        for name in names & FORBIDDEN[layer]
    )
    assert bad == []


def test_the_graph_sees_lazy_imports_and_skips_type_checking_blocks():
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from agents.kl_control import SequenceTutorDQN\n"
        "def f():\n    from envs.vector import SequenceTutorVectorEnv\n"
    )
    assert [m for m, _ in _imports(tree)] == ["typing", "envs.vector"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_graph_resolves_relative_imports():
    tree = ast.parse(
        "from . import sibling\n"
        "from .rollout import collect\n"
        "def f():\n    from ..config import KLControlConfig\n"
        "from .. import envs\n"
    )
    assert _imports(tree, "agents.policy_gradient") == [
        ("agents.policy_gradient", ["sibling"]),
        ("agents.policy_gradient.rollout", ["collect"]),
        ("agents.config", ["KLControlConfig"]),
        ("agents", ["envs"]),
    ]
    with pytest.raises(ImportError, match="beyond the top-level package"):
        _imports(ast.parse("from ... import x\n"), "agents.policy_gradient")


def test_no_generic_top_level_package_names():
    # Every top-level package lands in site-packages under its own name.
    generic = {"cli", "common", "utils", "evaluation", "report", "benchmark", "core", "lib"}
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert not packages & generic
    assert packages - {"tests", "benchmarks"} == set(LAYERS)
