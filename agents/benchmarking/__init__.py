"""Deprecated: moved to :mod:`sequence_tutor.benchmark` (this alias goes in the next release)."""

from agents._moved import alias

alias("agents.benchmarking")
