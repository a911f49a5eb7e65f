"""Deprecated: moved to :mod:`sequence_tutor.cli.evaluate` (this alias goes in the next release)."""

from agents._moved import alias

alias("agents.evaluate_command")
