"""Deprecated: moved to :mod:`sequence_tutor.cli.benchmark` (this alias goes in the next release)."""

from agents._moved import alias

alias("agents.benchmark_command")
