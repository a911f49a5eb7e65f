"""Table 1 of the paper for the report: :mod:`sequence_tutor.evaluation.table1`'s statistics per agent, next to
the paper's columns (the same numbers ``sequence-tutor evaluate`` prints)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from pretrain.vocabulary import DEFAULT_VOCABULARY, Vocabulary
from sequence_tutor.report.inputs import SampleSet
from sequence_tutor.report.page import StatisticsTable

__all__ = ["PAPER_COLUMNS", "composition_details", "statistics_table"]

PAPER_COLUMNS = ("Note RNN", "Q", "Ψ", "G")


def _evaluable(sample_set: SampleSet):
    """The set's compositions as one :class:`agents.sampling.Samples` batch.

    Table 1 is defined over compositions of one length in one key; a file mixing several keeps
    its largest (key, length) group, and the caption says so.
    """
    from agents.sampling import Samples

    groups = Counter((c.key, len(c.tokens)) for c in sample_set.compositions)
    (key, length), _ = groups.most_common(1)[0]
    chosen = [c for c in sample_set.compositions if c.key == key and len(c.tokens) == length]
    samples = Samples(
        np.stack([c.tokens for c in chosen]),
        [list(c.primer) for c in chosen],
        key=key,
        agent=sample_set.label,
        seeds=[c.seed or 0 for c in chosen],
    )
    return samples, len(chosen) < len(sample_set.compositions), key, length


def statistics_table(
    sets: list[SampleSet], note_rnn=None, vocabulary: Vocabulary = DEFAULT_VOCABULARY
) -> StatisticsTable:
    """Table 1 (and log p under ``note_rnn`` when given, MusPy metrics, mean reward terms)."""
    from sequence_tutor.evaluation.table1 import TABLE1_ROWS, evaluate_samples, table_rows

    evaluations, notes = [], []
    for sample_set in sets:
        samples, partial, key, length = _evaluable(sample_set)
        scorer = note_rnn if all(samples.primers) else None  # log p needs a primer
        evaluation = evaluate_samples(samples, scorer, vocabulary=vocabulary, name=sample_set.label)
        evaluations.append(evaluation)
        count = f"{sample_set.label}: {len(samples)}"
        if partial:
            count += f" of {len(sample_set.compositions)} (those of {length} steps in {key})"
        notes.append(count)
    header, rows = table_rows(evaluations, paper=PAPER_COLUMNS)
    agents_count = len(evaluations)
    caption = (
        "Compositions evaluated: " + "; ".join(notes) + ". Paper (Jaques et al. 2017, Table 1): "
        "100 000 compositions each."
    )
    if note_rnn is None:
        caption += " Log p is left out (no Note RNN to score with)."
    return StatisticsTable(
        agents=tuple(header[1 : 1 + agents_count]),
        reference_columns=PAPER_COLUMNS,
        rows=tuple(
            (row[0], tuple(row[1 : 1 + agents_count]), tuple(row[1 + agents_count :]))
            for row in rows
        ),
        caption=caption,
        table1_rows=len(TABLE1_ROWS),
    )


def composition_details(
    tokens: np.ndarray, key: str, vocabulary: Vocabulary = DEFAULT_VOCABULARY
) -> tuple[tuple[str, str], ...]:
    """A few facts shown under one composition: notes, range, notes outside the key."""
    from envs.rendering import note_name
    from rewards.keys import key_tables

    tables = key_tables(key, vocabulary)
    notes = [int(t) for t in tokens if vocabulary.is_note(int(t))]
    if not notes:
        return (("notes", "0 (silence)"),)
    outside = sum(not tables.in_key[t] for t in notes)
    return (
        ("notes", str(len(notes))),
        ("range", f"{note_name(min(notes), vocabulary)}–{note_name(max(notes), vocabulary)}"),
        ("not in key", f"{outside} of {len(notes)}"),
    )
