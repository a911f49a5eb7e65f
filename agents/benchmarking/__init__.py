"""Benchmark any agent on ``SequenceTutor-v0``: agents × env settings × seeds at equal budgets.

Used by ``sequence-tutor benchmark``. Submodules: :mod:`~agents.benchmarking.spec` (what a run
is), :mod:`~agents.benchmarking.agent_factories` (built-in agents, user plug-ins),
:mod:`~agents.benchmarking.runner` (one run), :mod:`~agents.benchmarking.local_backend` and
:mod:`~agents.benchmarking.ray_backend` (many runs), :mod:`~agents.benchmarking.search` (Optuna),
:mod:`~agents.benchmarking.results_table` and :mod:`~agents.benchmarking.plots` (the results).
Heavy imports (torch, SB3, Ray) happen in the submodules, so importing this package is cheap.
"""

from __future__ import annotations

from agents.benchmarking.spec import BUILTIN_AGENT_NAMES, RunSpec, expand_runs

__all__ = ["BUILTIN_AGENT_NAMES", "RunSpec", "expand_runs"]
