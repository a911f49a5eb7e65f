"""Modules that moved into the tool package keep working from their old import paths for one
release, each import warning with a ``DeprecationWarning`` that names the new path."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agents._moved import MOVED


def run_python(code: str) -> None:
    """Run ``code`` in a fresh interpreter (a clean ``sys.modules``); fail with its stderr."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_module_path_warns_and_is_the_new_module(old, new):
    # a fresh interpreter: the alias warns only on the first import of the old path
    code = (
        "import importlib, warnings\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        f"    old = importlib.import_module({old!r})\n"
        f"new = importlib.import_module({new!r})\n"
        "assert old is new, (old, new)\n"
        "messages = [str(w.message) for w in caught if w.category is DeprecationWarning]\n"
        f"assert any({old!r} in m and {new!r} in m for m in messages), messages\n"
    )
    run_python(code)


SUBMODULES = [
    ("agents.report.build", "sequence_tutor.report.build"),
    ("agents.report.page", "sequence_tutor.report.page"),
    ("agents.benchmarking.spec", "sequence_tutor.benchmark.spec"),
    ("agents.benchmarking.statistics", "sequence_tutor.benchmark.statistics"),
    ("agents.cli.train", "sequence_tutor.cli.train"),
]


@pytest.mark.parametrize("first", ["old", "new"])
@pytest.mark.parametrize(("old", "new"), SUBMODULES)
def test_an_old_submodule_path_is_the_very_new_module_and_warns(old, new, first):
    # ``import agents.report.build`` must not load build.py a second time as another module,
    # whichever of the two paths is imported first.
    code = (
        "import importlib, sys, warnings\n"
        f"if {first!r} == 'new':\n"
        f"    importlib.import_module({new!r})\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        f"    exec('import {old}')\n"
        f"    old = sys.modules[{old!r}]\n"
        f"    again = importlib.import_module({old!r})\n"
        f"new = importlib.import_module({new!r})\n"
        "assert old is new and again is new, (old, new)\n"
        f"assert new.__name__ == new.__spec__.name == {new!r}, new.__spec__\n"
        "copies = {id(m) for m in list(sys.modules.values()) if getattr(m, '__file__', 0) == new.__file__}\n"
        "assert copies == {id(new)}, copies\n"
        "messages = [str(w.message) for w in caught if w.category is DeprecationWarning]\n"
        f"assert any(m.startswith({old!r} + ' moved to ' + {new!r}) for m in messages), messages\n"
    )
    run_python(code)


def test_from_an_old_package_import_a_submodule_is_the_new_module():
    # submodules their package's __init__ does not import (``from`` imports them by the
    # package's own __name__, so this form never made a copy; kept as a guard)
    code = (
        "import sys, warnings\n"
        "warnings.simplefilter('ignore', DeprecationWarning)\n"
        "assert 'sequence_tutor.benchmark.runner' not in sys.modules\n"
        "from agents.benchmarking import runner, statistics\n"
        "from agents.cli import sample\n"
        "import sequence_tutor.benchmark.runner, sequence_tutor.benchmark.statistics\n"
        "import sequence_tutor.cli.sample\n"
        "assert runner is sequence_tutor.benchmark.runner\n"
        "assert statistics is sequence_tutor.benchmark.statistics\n"
        "assert sample is sequence_tutor.cli.sample\n"
    )
    run_python(code)


def test_an_old_path_to_no_module_still_fails():
    code = (
        "import warnings\n"
        "warnings.simplefilter('ignore', DeprecationWarning)\n"
        "try:\n"
        "    import agents.report.nothing\n"
        "except ModuleNotFoundError as exc:\n"
        "    assert exc.name == 'agents.report.nothing', exc.name\n"
        "else:\n"
        "    raise AssertionError('imported a module that does not exist')\n"
    )
    run_python(code)


def test_agent_checkpoint_names_warn_and_resolve_to_their_new_homes():
    import agents.agent_checkpoint as old
    from agents.agent_file import save_agent
    from agents.kl_control import load_agent
    from agents.training_state import latest_checkpoint

    for name, expected in (
        ("save_agent", save_agent),
        ("load_agent", load_agent),
        ("latest_checkpoint", latest_checkpoint),
    ):
        with pytest.warns(DeprecationWarning, match=f"agents.agent_checkpoint.{name} moved"):
            assert getattr(old, name) is expected
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        old.nothing  # noqa: B018


def test_the_old_console_module_still_runs():
    result = subprocess.run(
        [sys.executable, "-m", "agents.cli", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "sequence-tutor" in result.stdout


def test_the_old_pretrain_command_path_warns_and_is_the_new_module():
    code = (
        "import importlib, warnings\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    old = importlib.import_module('pretrain.command')\n"
        "import sequence_tutor.cli.pretrain as new\n"
        "assert old is new and old.hidden_for_parameters is not None\n"
        "assert any('sequence_tutor.cli.pretrain' in str(w.message) for w in caught)\n"
    )
    run_python(code)
