"""Plot the shipped RHN Note RNN's transform-gate activity per micro-layer (``docs/rhn_gates.png``).

Runs the RHN over the validation tunes of the default corpus (each from the zero state) and
shows, per micro-layer ``l``: the mean transform gate ``t_l`` (how much of the state that
micro-layer rewrites), the distribution over units of each unit's mean gate, and the mean
relative state change ``||s_l - s_{l-1}|| / ||s_{l-1}||`` (how much it did rewrite). The RHN paper
(Zilly et al. 2017, Fig. 4) found the first micro-layer transforming most and later ones refining.

    python benchmarks/pretrain_rhn_gates.py [--checkpoint PATH] [--out docs/rhn_gates.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the shipped RHN")
    parser.add_argument("--out", type=Path, default=Path("docs/rhn_gates.png"))
    parser.add_argument("--tunes", type=int, default=400, help="validation tunes to run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    from pretrain.checkpoint import default_checkpoint, load_note_rnn  # noqa: PLC0415
    from pretrain.corpus import load_corpus  # noqa: PLC0415
    from pretrain.training import micro_layer_statistics  # noqa: PLC0415

    model, meta = load_note_rnn(args.checkpoint or default_checkpoint("rhn"))
    corpus = load_corpus(progress=False)
    depth, hidden = model.config.depth, model.config.hidden_size
    total = np.zeros((depth, hidden))
    count = 0
    for tune in corpus.valid[: args.tunes]:
        gates = model.transform_gates(torch.as_tensor(np.asarray(tune, dtype=np.int64))[None])
        total += gates[:, 0].sum(dim=1).double().numpy()
        count += gates.shape[2]
    per_unit = total / count  # [L, H]
    layer_mean = per_unit.mean(axis=1)
    change = micro_layer_statistics(model, corpus.valid[: args.tunes])["state_change"]
    for layer, (value, delta) in enumerate(zip(layer_mean, change), 1):
        print(
            f"micro-layer {layer}: mean transform gate {value:.3f}, "
            f"relative state change {delta:.3f}"
        )

    fig, (left, right, third) = plt.subplots(1, 3, figsize=(12.5, 3.4))
    layers = np.arange(1, depth + 1)
    left.bar(layers, layer_mean, color="tab:blue")
    left.set_xticks(layers)
    left.set_xlabel("micro-layer l")
    left.set_ylabel("mean transform gate t")
    left.set_title("mean over units, steps, tunes")
    right.boxplot([per_unit[i] for i in range(depth)], positions=layers, widths=0.5)
    right.set_xlabel("micro-layer l")
    right.set_ylabel("per-unit mean t")
    right.set_title(f"distribution over the {hidden} units")
    third.bar(layers, change, color="tab:red")
    third.set_xticks(layers)
    third.set_xlabel("micro-layer l")
    third.set_ylabel("‖s_l − s_{l−1}‖ / ‖s_{l−1}‖")
    third.set_title("relative state change (steps after the first)")
    metrics = meta.get("metrics", {})
    fig.suptitle(
        f"RHN Note RNN (depth {depth}, H = {hidden}), {count} validation steps; "
        f"val. accuracy {metrics.get('accuracy', float('nan')):.3f}"
    )
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
