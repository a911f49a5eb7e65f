"""Table 1 of the paper for the report: our statistics next to the paper's columns."""

from __future__ import annotations

import numpy as np

from agents.report.inputs import SampleSet
from agents.report.page import StatisticsTable
from pretrain.vocabulary import DEFAULT_VOCABULARY, Vocabulary

__all__ = ["PAPER_COLUMNS", "PAPER_TABLE1", "composition_details", "statistics_table"]

PAPER_COLUMNS = ("Note RNN", "Q", "Ψ", "G")
# Jaques et al. 2017, Table 1 (100 000 compositions each), in the order of the paper's rows.
PAPER_TABLE1 = {
    "notes excessively repeated": ("63.3%", "0.0%", "0.02%", "0.03%"),
    "mean autocorrelation, lag 1": ("-.16", "-.11", "-.10", ".55"),
    "mean autocorrelation, lag 2": (".14", ".03", "-.01", ".31"),
    "mean autocorrelation, lag 3": ("-.13", ".03", ".01", ".17"),
    "notes not in key": ("0.1%", "1.0%", "0.6%", "28.7%"),
    "starts with the tonic": ("0.9%", "28.8%", "28.7%", "0.0%"),
    "leaps resolved": ("77.2%", "91.1%", "90.0%", "52.2%"),
    "compositions with a unique max note": ("64.7%", "56.4%", "59.4%", "37.1%"),
    "compositions with a unique min note": ("49.4%", "51.9%", "58.3%", "56.5%"),
    "notes in a motif": ("5.9%", "75.7%", "73.8%", "69.3%"),
    "notes in a repeated motif": ("0.007%", "0.11%", "0.09%", "0.01%"),
}


def statistics_table(sets: list[SampleSet]) -> StatisticsTable:
    """Table 1 for each sample set (placeholder until the evaluation module lands)."""
    rows = []
    for label, reference in PAPER_TABLE1.items():
        rows.append((label, tuple("n/a" for _ in sets), reference))
    counts = ", ".join(f"{s.label}: {len(s.compositions)}" for s in sets)
    return StatisticsTable(
        agents=tuple(s.label for s in sets),
        reference_columns=PAPER_COLUMNS,
        rows=tuple(rows),
        caption=f"Compositions per agent: {counts}. Paper: 100 000 compositions each.",
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
