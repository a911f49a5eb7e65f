"""Training throughput of the Note RNNs, measured side by side in one run.

A training step is what :mod:`pretrain.training` does: forward over ``[B, T]`` tokens, cross
entropy, backward, gradient clipping, Adam. Models (about equal parameter counts):

* ``nn.LSTM`` reference: ``torch.nn.LSTM`` on one-hot input + ``nn.Linear`` (written inline),
* our ``LSTMNoteRNN`` 1 x 100,
* our ``RHNNoteRNN`` depth 3 (H = 90) and depth 5 (H = 71),
* our ``DTRNNNoteRNN`` (the RHN without gates) depth 3 (H = 128) and depth 5 (H = 101).

The models take turns, ``--steps`` steps each per round, for ``--rounds`` rounds; the median
tokens/second of each is reported with its ratio to ``nn.LSTM``. One thread (the project's rule).
Rates are per second of this process's CPU time (``time.process_time``), which stays meaningful
on a machine shared with other jobs; wall-clock rates are printed beside them.

    python benchmarks/pretrain_throughput.py [--batch 64] [--window 128] [--rounds 7] [--steps 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from pretrain.models import NoteRNNConfig, build_note_rnn

VOCAB = 38


class ReferenceLSTM(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(VOCAB, hidden, batch_first=True)
        self.output = nn.Linear(hidden, VOCAB)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, None]:
        hidden, _ = self.lstm(F.one_hot(tokens, VOCAB).float())
        return self.output(hidden), None


def make_step(model: nn.Module, batch: int, window: int):
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, VOCAB, (batch, window + 1), generator=generator)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]

    def step() -> None:
        logits, _ = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--window", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = {
        "nn.LSTM 1x100 (reference)": ReferenceLSTM(100),
        "LSTMNoteRNN 1x100": build_note_rnn(NoteRNNConfig(kind="lstm", hidden_size=100)),
        "RHNNoteRNN L=3 H=90": build_note_rnn(NoteRNNConfig(kind="rhn", hidden_size=90, depth=3)),
        "RHNNoteRNN L=5 H=71": build_note_rnn(NoteRNNConfig(kind="rhn", hidden_size=71, depth=5)),
        "DTRNNNoteRNN L=3 H=128": build_note_rnn(
            NoteRNNConfig(kind="dtrnn", hidden_size=128, depth=3)
        ),
        "DTRNNNoteRNN L=5 H=101": build_note_rnn(
            NoteRNNConfig(kind="dtrnn", hidden_size=101, depth=5)
        ),
    }
    steps = {name: make_step(model, args.batch, args.window) for name, model in models.items()}
    for step in steps.values():  # warm-up
        step()
    rates: dict[str, list[float]] = {name: [] for name in models}
    wall: dict[str, list[float]] = {name: [] for name in models}
    tokens = args.batch * args.window
    for _ in range(args.rounds):
        for name, step in steps.items():
            start, start_wall = time.process_time(), time.perf_counter()
            for _ in range(args.steps):
                step()
            rates[name].append(tokens * args.steps / (time.process_time() - start))
            wall[name].append(tokens * args.steps / (time.perf_counter() - start_wall))
    reference = statistics.median(rates["nn.LSTM 1x100 (reference)"])
    print(
        f"training tokens/s, B={args.batch} T={args.window}, {args.threads} thread(s), "
        f"median of {args.rounds} interleaved rounds x {args.steps} steps, torch {torch.__version__}"
    )
    print(
        f"{'model':28s} {'params':>7s} {'tokens/CPU-s':>12s} {'vs nn.LSTM':>10s} {'tokens/wall-s':>13s}"
    )
    for name, model in models.items():
        rate = statistics.median(rates[name])
        params = sum(p.numel() for p in model.parameters())
        print(
            f"{name:28s} {params:7d} {rate:12.0f} {rate / reference:9.2f}x "
            f"{statistics.median(wall[name]):13.0f}"
        )


if __name__ == "__main__":
    main()
