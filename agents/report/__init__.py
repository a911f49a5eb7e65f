"""Deprecated: moved to :mod:`sequence_tutor.report` (this alias goes in the next release)."""

from agents._moved import alias

alias("agents.report")
