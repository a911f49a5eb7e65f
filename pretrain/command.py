"""Deprecated: the ``pretrain`` subcommand moved to :mod:`sequence_tutor.cli.pretrain` and the
sizing helpers to :mod:`pretrain.sizing` (this alias goes in the next release)."""

import importlib
import sys
import warnings

warnings.warn(
    "pretrain.command moved to sequence_tutor.cli.pretrain (sizing helpers: pretrain.sizing); "
    "import it from there (the old path goes in the next release)",
    DeprecationWarning,
    stacklevel=2,
)
# resolved by name: the library layer never imports the tool
sys.modules[__name__] = importlib.import_module("sequence_tutor.cli.pretrain")
