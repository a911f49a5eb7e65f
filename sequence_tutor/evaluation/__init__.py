"""Evaluation of sampled compositions: the paper's Table 1, log p under the Note RNN, MusPy
metrics (:mod:`~sequence_tutor.evaluation.table1`) and piano-roll figures
(:mod:`~sequence_tutor.evaluation.piano_roll`)."""

__all__: list[str] = []
