"""Deprecated: moved to :mod:`sequence_tutor.cli` (this alias goes in the next release)."""

import sys

from agents._moved import alias

cli = alias("agents.cli")

if __name__ == "__main__":  # python -m agents.cli, the old spelling of python -m sequence_tutor.cli
    sys.exit(cli.main())
