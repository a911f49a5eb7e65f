"""Old import paths of modules that moved into the ``sequence_tutor`` tool package (0.2).

Each old module is a two-line alias: importing it warns once with a ``DeprecationWarning`` and
hands back the new module itself, so ``from agents.cli import main`` keeps working for one release.
The new code never imports these aliases (``tests/test_layers.py`` checks the import graph).
"""

from __future__ import annotations

import importlib
import sys
import warnings
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


def alias(old: str) -> ModuleType:
    """Warn that ``old`` moved, and make ``old`` name the new module in ``sys.modules``."""
    new = MOVED[old]
    warnings.warn(
        f"{old} moved to {new}; import it from there (the old path goes in the next release)",
        DeprecationWarning,
        stacklevel=3,
    )
    module = importlib.import_module(new)
    sys.modules[old] = module
    return module
