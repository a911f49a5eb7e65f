"""Every loading path of the command line with hostile inputs (issue 8).

Each case runs ``sequence-tutor ...`` through ``agents.cli.main`` in a bounded forked child (see
:mod:`tests.security.cli_cases`): no code runs, nothing is written outside the output folder and
the corpus cache, memory stays under the ceiling, and the command ends with exit code 2 and one
line naming the input. A few representative cases run in the fast suite; the full sweep is slow
(and is what ``benchmarks/reliability.py`` tabulates).
"""

from __future__ import annotations

import pytest

from tests.security import hostile
from tests.security.cli_cases import run_cli_case

PRETRAIN_TINY = ["--hidden", "4", "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2",
                 "--window", "8", "--workers", "1", "--no-progress", "--no-tensorboard"]  # fmt: skip
FAST_MELODIES = {"musicxml-billion-laughs", "midi-huge-duration", "mxl-zip-bomb", "midi-fifo"}


def pretrain_data_case(tmp_path, case):
    sandbox = tmp_path / "sandbox"
    data = sandbox / "data"
    data.mkdir(parents=True)
    path = case.build(data, sandbox / hostile.MARKER_NAME)
    argv = ["pretrain", "--data", str(data), "--cache-dir", str(sandbox / "cache"),
            "--out", str(sandbox / "out"), *PRETRAIN_TINY]  # fmt: skip
    outcome = run_cli_case(argv, sandbox, allowed=["out", "cache"])
    return outcome, [str(data), path.name]


@pytest.mark.parametrize(
    "case",
    [pytest.param(h, marks=[] if h.name in FAST_MELODIES else [pytest.mark.slow])
     for h in hostile.MELODIES],
    ids=[h.name for h in hostile.MELODIES],
)  # fmt: skip
def test_pretrain_data_with_a_hostile_file(tmp_path, case):
    outcome, names = pretrain_data_case(tmp_path, case)
    assert outcome.problems(names) == []
