"""Deprecated: moved to :mod:`sequence_tutor.cli.report` (this alias goes in the next release)."""

from agents._moved import alias

alias("agents.report_command")
