"""Our vectorised MusPy metrics against ``muspy`` itself: equal values, time side by side.

Samples compositions from the shipped Note RNN (the compositions ``evaluate`` sees), computes
pitch-class entropy, scale consistency and empty-beat rate both ways in interleaved rounds, checks
the values agree, and prints the median of the per-round speed ratios with their range.

    python benchmarks/muspy_metrics.py [--n 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import muspy
import numpy as np
import torch

from pretrain.vocabulary import DEFAULT_VOCABULARY, NO_EVENT, NOTE_OFF
from sequence_tutor.evaluation.table1 import muspy_metrics


def to_music(tokens) -> muspy.Music:
    notes, start, pitch = [], None, None
    for step, token in enumerate([*map(int, tokens), NOTE_OFF]):
        if token == NO_EVENT:
            continue
        if start is not None:
            notes.append(muspy.Note(time=start, pitch=pitch, duration=step - start))
            start = None
        if token != NOTE_OFF:
            start, pitch = step, DEFAULT_VOCABULARY.min_pitch + token - 2
    return muspy.Music(resolution=4, tracks=[muspy.Track(notes=notes)])


def with_muspy(tokens: np.ndarray) -> dict[str, float]:
    values = []
    for row in tokens:
        music = to_music(row)
        values.append(
            (
                muspy.pitch_class_entropy(music),
                muspy.scale_consistency(music),
                muspy.empty_beat_rate(music),
            )
        )
    means = np.nanmean(np.array(values), axis=0)
    return dict(zip(("pitch_class_entropy", "scale_consistency", "empty_beat_rate"), means))


def note_rnn_compositions(n: int, seed: int) -> np.ndarray:
    from agents.sampling import note_rnn_sampler, sample  # noqa: PLC0415
    from pretrain.checkpoint import default_checkpoint, load_note_rnn  # noqa: PLC0415

    note_rnn, _ = load_note_rnn(default_checkpoint("lstm"))
    return sample(note_rnn_sampler(note_rnn), n, agent="note-rnn", seed=seed).tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="compositions per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    tokens = note_rnn_compositions(args.n, seed=0)
    ratios, ours_s, theirs_s = [], [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        theirs = with_muspy(tokens)
        theirs_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        ours = muspy_metrics(tokens, DEFAULT_VOCABULARY)
        ours_s.append(time.perf_counter() - start)
        ratios.append(theirs_s[-1] / ours_s[-1])
    worst = max(abs(ours[k] - theirs[k]) for k in ours)
    print(f"{args.n} Note RNN compositions, {args.rounds} interleaved rounds")
    print(f"values: ours {ours}; largest difference from muspy {worst:.2e}")
    print(
        f"time per round: muspy {statistics.median(theirs_s) * 1e3:.0f} ms, ours "
        f"{statistics.median(ours_s) * 1e3:.1f} ms (medians); ours is "
        f"{statistics.median(ratios):.0f}x faster (median of per-round ratios, range "
        f"{min(ratios):.0f}-{max(ratios):.0f}x)"
    )


if __name__ == "__main__":
    main()
