"""Deprecated: moved to :mod:`sequence_tutor.evaluation.table1` (this alias goes in the next release)."""

from agents._moved import alias

alias("agents.evaluation")
