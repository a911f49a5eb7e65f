"""``python -m sequence_tutor``: the ``sequence-tutor`` console script."""

import sys

from sequence_tutor.cli import main

sys.exit(main())
