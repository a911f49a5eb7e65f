"""``sequence-tutor report``: a self-contained HTML page to listen to and look at compositions.

Per agent or sample file: the paper's Table 1 statistics (with the paper's columns), reward-term
learning curves of train runs, and for a handful of compositions an audio player (FluidSynth +
a General MIDI soundfont), the score (engraved by Verovio) and a piano roll, with compositions
from the same primer side by side.
"""

from __future__ import annotations

from sequence_tutor.report.build import ReportResult, build_report

__all__ = ["ReportResult", "build_report"]
