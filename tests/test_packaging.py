"""Packaging: every import is declared, the declared floors are pinned for CI, extras are named.

A fresh ``pip install -e .`` gets ``install_requires`` and nothing else, so a module that arrives
today through another package (as ``rich`` once did through SB3's extras) breaks the first command
the day that package changes. These tests read the source, not the installed environment.
"""

from __future__ import annotations

import ast
import configparser
import importlib.metadata
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pretrain", "rewards", "envs", "agents", "sequence_tutor")
FLOORS_FILE = ROOT / "constraints-floors.txt"

# Import name -> distribution name, where they differ and the distribution may not be installed.
DISTRIBUTIONS = {
    "PIL": "pillow",
    "sb3_contrib": "sb3-contrib",
    "stable_baselines3": "stable-baselines3",
    "yaml": "pyyaml",
    "_pytest": "pytest",
}
# Packages that our code needs although no module of ours imports them by name.
IMPLIED = {
    # SB3's ProgressBarCallback (``learn(progress_bar=True)``) imports rich and tqdm inside.
    "rich": "progress_bar=",
}
# Distributions that arrive with a declared one and that tests may use as its part.
PROVIDED_BY = {"ray": "ray[tune]"}
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(?:>=\s*([^,;\s]+))?")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    return config


def _requirements(text: str) -> dict[str, str | None]:
    """``{normalised name: floor or None}`` of a setup.cfg requirement list."""
    found = {}
    for line in text.strip().splitlines():
        match = REQUIREMENT.match(line)
        if match:
            found[_normalise(match.group(1))] = match.group(3)
    return found


def install_requires() -> dict[str, str | None]:
    return _requirements(_setup_cfg()["options"]["install_requires"])


def extras() -> dict[str, dict[str, str | None]]:
    section = _setup_cfg()["options.extras_require"]
    return {name: _requirements(section[name]) for name in section}


def imported_modules(paths: list[Path]) -> dict[str, set[Path]]:
    """Top-level names of every absolute import in ``paths`` (function-level imports too)."""
    modules: dict[str, set[Path]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                modules.setdefault(name.split(".")[0], set()).add(path)
    return modules


def third_party(modules: dict[str, set[Path]]) -> dict[str, set[Path]]:
    ours = {*PACKAGES, "tests", "benchmarks"}
    return {
        name: files
        for name, files in modules.items()
        if name not in sys.stdlib_module_names and name not in ours and name != "__future__"
    }


def distribution_of(module: str) -> str:
    if module in DISTRIBUTIONS:
        return DISTRIBUTIONS[module]
    installed = importlib.metadata.packages_distributions().get(module)
    return _normalise(installed[0]) if installed else _normalise(module)


def _sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def test_every_third_party_import_of_the_package_is_declared():
    required = install_requires()
    optional = extras()
    missing = []
    for module, files in sorted(third_party(imported_modules(_sources(*PACKAGES))).items()):
        dist = _normalise(distribution_of(module))
        if dist in required:
            continue
        named_in = [extra for extra, reqs in optional.items() if dist in reqs and extra != "test"]
        if not named_in:
            missing.append(f"{module} ({dist}) imported by {sorted(map(str, files))[0]}")
            continue
        # An optional import must name the extra that brings it where it is imported.
        texts = [path.read_text(encoding="utf-8") for path in files]
        if not any(f"[{extra}]" in text for text in texts for extra in named_in):
            missing.append(f"{module}: no file that imports it names the extra {named_in}")
    assert not missing, "undeclared imports:\n" + "\n".join(missing)


def test_packages_our_code_needs_without_importing_them_are_declared():
    sources = [p.read_text(encoding="utf-8") for p in _sources(*PACKAGES)]
    for dist, usage in IMPLIED.items():
        if any(usage in text for text in sources):
            assert dist in install_requires(), f"code uses {usage!r}, which needs {dist}"


def test_the_progress_bar_dependencies_import():
    # What SB3 checks before learn(progress_bar=True): the crash that a fresh install hit.
    from stable_baselines3.common.callbacks import ProgressBarCallback

    ProgressBarCallback()


def test_tests_and_benchmarks_import_only_declared_packages():
    declared = {**install_requires(), **extras()["test"]}
    declared |= {
        _normalise(p): None for p, via in PROVIDED_BY.items() if _normalise(via) in declared
    }
    missing = sorted(
        f"{module} ({distribution_of(module)})"
        for module in third_party(imported_modules(_sources("tests", "benchmarks")))
        if _normalise(distribution_of(module)) not in declared
    )
    assert not missing, f"tests or benchmarks import packages the test extra lacks: {missing}"


def test_the_floors_file_pins_every_declared_floor():
    pinned = {}
    text = FLOORS_FILE.read_text(encoding="utf-8").split("# Not direct dependencies")[0]
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pinned[_normalise(name)] = version.strip()
    declared = {**install_requires(), **extras()["test"]}
    declared = {name.split("[")[0]: floor for name, floor in declared.items()}
    assert set(pinned) == set(declared), set(pinned) ^ set(declared)
    for name, floor in declared.items():
        assert floor is not None, f"setup.cfg: {name} has no lower bound"
        if name == "torch":  # the CPU wheel; see the comment in the floors file
            continue
        assert _version(pinned[name]) == _version(floor), f"{name}: {pinned[name]} != {floor}"


def _version(text: str) -> tuple[int, ...]:
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def test_no_test_skips_over_an_import_error_in_our_own_packages():
    """``pytest.importorskip`` is for optional third-party packages: on one of ours it would turn
    an import error (a bug) into a skip and a green suite."""
    found = []
    for path in _sources("tests"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name != "importorskip":
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            args = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "modname")]
            if (
                not args
                or not isinstance(args[0], ast.Constant)
                or not isinstance(args[0].value, str)
            ):  # a computed name could hide one of ours
                found.append(f"{where}: importorskip without a literal module name")
            elif args[0].value.split(".")[0] in PACKAGES:
                found.append(f"{where}: importorskip({args[0].value!r})")
    assert not found, "import our own packages plainly:\n" + "\n".join(found)
