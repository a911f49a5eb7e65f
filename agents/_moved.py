"""Old import paths of modules that moved into the ``sequence_tutor`` tool package (0.2).

Each old module is a two-line alias: importing it warns once with a ``DeprecationWarning`` and
hands back the new module itself, so ``from agents.cli import main`` keeps working for one release.
A module below an old package path (``import agents.report.build``,
``from agents.benchmarking import spec``) is the very module of its new path too: a finder on
``sys.meta_path`` (:class:`MovedFinder`) maps the old dotted name onto the new one, registers the
new module under the old name and warns, instead of letting the import system load the file a
second time as another module. The new code never imports these aliases (``tests/test_layers.py``
checks the import graph).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

MOVED = {
    "agents.cli": "sequence_tutor.cli",
    "agents.train_command": "sequence_tutor.cli.train",
    "agents.sample_command": "sequence_tutor.cli.sample",
    "agents.evaluate_command": "sequence_tutor.cli.evaluate",
    "agents.benchmark_command": "sequence_tutor.cli.benchmark",
    "agents.report_command": "sequence_tutor.cli.report",
    "agents.evaluation": "sequence_tutor.evaluation.table1",
    "agents.piano_roll": "sequence_tutor.evaluation.piano_roll",
    "agents.report": "sequence_tutor.report",
    "agents.benchmarking": "sequence_tutor.benchmark",
}


def _warn(old: str, new: str, stacklevel: int) -> None:
    warnings.warn(
        f"{old} moved to {new}; import it from there (the old path goes in the next release)",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def alias(old: str) -> ModuleType:
    """Warn that ``old`` moved, and make ``old`` name the new module in ``sys.modules``."""
    new = MOVED[old]
    _warn(old, new, stacklevel=4)
    module = importlib.import_module(new)
    sys.modules[old] = module
    return module


def new_name(old: str) -> str | None:
    """The new dotted name of a module below an old package path (``agents.report.build`` ->
    ``sequence_tutor.report.build``), or None."""
    for package, target in MOVED.items():
        if old.startswith(package + "."):
            return target + old[len(package) :]
    return None


class MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``agents.report.build`` & co. as their new modules: the loader hands back the module
    of the new path (importing it if needed), so both names are one module object."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        new = new_name(fullname)
        if new is None or importlib.util.find_spec(new) is None:
            return None  # not moved, or no such module: the import fails as it would have
        return importlib.machinery.ModuleSpec(fullname, self, loader_state=new)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        _warn(spec.name, spec.loader_state, stacklevel=3)  # warnings skips importlib's frames
        module = importlib.import_module(spec.loader_state)
        # The import system sets __spec__ on what create_module returns; keep the module's own
        # spec here so that exec_module can put it back.
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        alias_spec = module.__spec__
        if alias_spec is not None and alias_spec.loader is self:
            module.__spec__ = alias_spec.loader_state


def install() -> None:
    """Put one :class:`MovedFinder` first on ``sys.meta_path`` (once per process)."""
    if not any(isinstance(finder, MovedFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, MovedFinder())


install()
