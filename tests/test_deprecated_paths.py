"""Modules that moved into the tool package keep working from their old import paths for one
release, each import warning with a ``DeprecationWarning`` that names the new path."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agents._moved import MOVED


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
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


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
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
