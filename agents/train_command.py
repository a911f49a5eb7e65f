"""Deprecated: moved to :mod:`sequence_tutor.cli.train` (this alias goes in the next release)."""

from agents._moved import alias

alias("agents.train_command")
