"""Deprecated: moved to :mod:`sequence_tutor.cli.sample` (this alias goes in the next release)."""

from agents._moved import alias

alias("agents.sample_command")
