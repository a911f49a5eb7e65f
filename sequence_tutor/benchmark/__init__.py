"""Benchmark any agent on ``SequenceTutor-v0``: agents × env settings × seeds at equal budgets.

Used by ``sequence-tutor benchmark``. Submodules: :mod:`~sequence_tutor.benchmark.spec` (what a run
is), :mod:`~sequence_tutor.benchmark.agent_factories` (built-in agents, user plug-ins),
:mod:`~sequence_tutor.benchmark.runner` (one run), :mod:`~sequence_tutor.benchmark.local_backend` and
:mod:`~sequence_tutor.benchmark.ray_backend` (many runs), :mod:`~sequence_tutor.benchmark.search` (Optuna),
:mod:`~sequence_tutor.benchmark.results_table` and :mod:`~sequence_tutor.benchmark.plots` (the results).
Heavy imports (torch, SB3, Ray) happen in the submodules, so importing this package is cheap.
"""

from __future__ import annotations

from sequence_tutor.benchmark.spec import BUILTIN_AGENT_NAMES, RunSpec, expand_runs

__all__ = ["BUILTIN_AGENT_NAMES", "RunSpec", "expand_runs"]
