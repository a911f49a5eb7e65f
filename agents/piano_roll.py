"""Deprecated: moved to :mod:`sequence_tutor.evaluation.piano_roll` (this alias goes in the next release)."""

from agents._moved import alias

alias("agents.piano_roll")
