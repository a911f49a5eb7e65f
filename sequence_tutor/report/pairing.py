"""Line up compositions of several agents so that melodies from the same primer sit side by side.

``sequence-tutor sample --seed S`` gives the k-th composition of every agent the same primer, so
the natural match is by index; where indices disagree (files sampled with other seeds or in
another order) a composition with the same primer is used instead, and failing that the one at
the same index, flagged so the page can say the primers differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from sequence_tutor.report.inputs import Composition, SampleSet

__all__ = ["CompositionRow", "order_for_comparison", "pair_compositions"]


@dataclass(frozen=True)
class CompositionRow:
    """The k-th row of the comparison: one cell per sample set (None when it has too few)."""

    index: int
    cells: tuple[Composition | None, ...]
    same_primer: bool
    """True when every present cell was sampled from the reference cell's primer."""


def _is_note_rnn(sample_set: SampleSet) -> bool:
    name = sample_set.agent.lower().replace("_", "-").replace(" ", "-")
    return "note-rnn" in name or name in ("noternn", "pretrained")


def order_for_comparison(sets: list[SampleSet]) -> list[SampleSet]:
    """The Note RNN's sample sets first (the reference the paper compares against), then the rest."""
    return [s for s in sets if _is_note_rnn(s)] + [s for s in sets if not _is_note_rnn(s)]


def pair_compositions(sets: list[SampleSet], count: int) -> list[CompositionRow]:
    """``count`` rows (fewer if the first set has fewer compositions), matched by primer."""
    if not sets:
        return []
    reference, others = sets[0], sets[1:]
    used: list[set[int]] = [set() for _ in others]
    rows = []
    for k, ref in enumerate(reference.compositions[:count]):
        cells: list[Composition | None] = [ref]
        same = True
        for j, other in enumerate(others):
            match = _match(ref, other.compositions, used[j])
            if match is not None:
                used[j].add(match.index)
                same = same and match.primer == ref.primer
            cells.append(match)
        rows.append(CompositionRow(k, tuple(cells), same))
    return rows


def _match(ref: Composition, candidates: list[Composition], used: set[int]) -> Composition | None:
    free = [c for c in candidates if c.index not in used]
    for candidate in free:  # same position and primer: what `sample --seed S` produces
        if candidate.index == ref.index and candidate.primer == ref.primer:
            return candidate
    for candidate in free:
        if candidate.primer == ref.primer and (ref.seed is None or candidate.seed == ref.seed):
            return candidate
    for candidate in free:
        if candidate.primer == ref.primer:
            return candidate
    for candidate in free:
        if candidate.index == ref.index:
            return candidate
    return free[0] if free else None
