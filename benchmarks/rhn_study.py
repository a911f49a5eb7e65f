"""The seed's two RHN claims, tested on melodies: RHN against DT-RNN at equal parameters, and
what each micro-layer does.

Trains, on the default corpus and its validation split, the 1x100 LSTM and, at every depth of
``--depths``, a DT-RNN (the RHN's deep transition without highway gates) and an RHN, each sized
to the LSTM's 59 838 parameters (:func:`pretrain.sizing.hidden_for_parameters`), for the same
token budget and the same batches (one seed draws the same windows for every model), with
``--seeds`` seeds. All use the project's pretraining loop (:func:`pretrain.training.train_note_rnn`)
with its defaults (Adam 3e-3, clip 5, B 64, T 128) and a constant learning rate (no plateau
halving, no early stopping), validating on the whole validation split ``--validations`` times.

Each (model, depth, seed) run writes ``OUT/<model>-L<depth>-seed<seed>.json`` (validation curve
against training tokens and training time, final metrics, throughput, and per micro-layer on
the validation tunes the relative state change and the RHN's transform gate); an existing JSON
is not rerun and an interrupted run resumes from its state in ``--runs``, so an interrupted
study continues where it stopped. Then it writes the table (``--table``), the curves
(``--curves``) and the micro-layer plot (``--micro``). Medians over seeds with min-max spread.

    nice -n 10 python benchmarks/rhn_study.py --tokens 12000000 --seeds 0 1 2 --depths 1 3 5 10
    python benchmarks/rhn_study.py --report-only      # redraw the table and plots from the JSONs
    python benchmarks/rhn_study.py --readme           # print the README's two tables, nothing else

``--readme`` trains nothing and writes nothing: it prints, from the JSONs in ``--out``, the summary
table and the per-seed curve table that the README's "The RHN study" holds verbatim (a test checks
that it does).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from pretrain.models import NoteRNNConfig
from pretrain.sizing import LSTM_REFERENCE_HIDDEN, hidden_for_parameters, lstm_parameters
from pretrain.training import (
    RESUME_FILE,
    TrainingConfig,
    micro_layer_statistics,
    train_note_rnn,
)
from pretrain.vocabulary import DEFAULT_VOCABULARY

SHIPPED_LSTM_PERPLEXITY = 2.217  # pretrain/checkpoints/note_rnn_lstm, converged (71 M tokens)
LABELS = {"lstm": "LSTM", "dtrnn": "DT-RNN", "rhn": "RHN"}


def run_name(kind: str, depth: int, seed: int) -> str:
    return f"{kind}-L{depth}-seed{seed}"


def study_configs(
    depths: list[int], vocab_size: int, models: tuple[str, ...] = ("lstm", "dtrnn", "rhn")
) -> list[NoteRNNConfig]:
    """The LSTM 1x100, then a DT-RNN and an RHN per depth, all within the LSTM's parameters."""
    budget = lstm_parameters(LSTM_REFERENCE_HIDDEN, vocab_size)
    configs = []
    if "lstm" in models:
        configs.append(NoteRNNConfig(kind="lstm", vocab_size=vocab_size, hidden_size=100))
    for depth in depths:
        for kind in [k for k in ("dtrnn", "rhn") if k in models]:
            hidden = hidden_for_parameters(kind, budget, depth, vocab_size)
            configs.append(
                NoteRNNConfig(kind=kind, vocab_size=vocab_size, hidden_size=hidden, depth=depth)
            )
    return configs


def training_config(
    tokens: int, validations: int, seed: int, learning_rate: float = 3e-3
) -> TrainingConfig:
    base = TrainingConfig(seed=seed)
    steps = max(validations, round(tokens / (base.batch_size * base.window)))
    per_validation = math.ceil(steps / validations)
    return TrainingConfig(
        seed=seed,
        learning_rate=learning_rate,
        epochs=validations,
        steps_per_epoch=per_validation,
        patience=validations + 1,  # never stop early
        lr_decay=1.0,  # constant learning rate: the curves compare learning speed only
        checkpoint_seconds=120.0,
    )


def run_one(corpus, config: NoteRNNConfig, train: TrainingConfig, run_dir: Path) -> dict:
    """Train one model (resuming an interrupted run) and measure it; returns the JSON record."""
    resume = (run_dir / RESUME_FILE).is_file()
    result = train_note_rnn(
        corpus,
        run_dir,
        model_config=None if resume else config,
        config=None if resume else train,
        resume=resume,
        overwrite=not resume,
        progress=False,
        tensorboard=False,
        log=None,
    )
    curve = [
        {
            k: point[k]
            for k in (
                "step",
                "train_tokens",
                "train_seconds",
                "train_cpu_seconds",
                "loss",
                "perplexity",
                "accuracy",
                "nonhold_accuracy",
            )
        }
        for point in result.history
    ]
    final = curve[-1]
    model = result.model.eval()
    return {
        "kind": config.kind,
        "depth": config.depth if config.kind != "lstm" else 1,
        "hidden": config.hidden_size,
        "parameters": model.num_parameters(),
        "seed": train.seed,
        "model_config": config.to_dict(),
        "training_config": train.to_dict(),
        "corpus_hash": corpus.hash,
        "valid_targets": result.metrics["tokens"],
        "curve": curve,
        "final": final,
        "best": {k: result.metrics[k] for k in ("loss", "perplexity", "accuracy", "step")},
        "tokens_per_cpu_second": final["train_tokens"] / final["train_cpu_seconds"],
        "tokens_per_wall_second": final["train_tokens"] / final["train_seconds"],
        "micro_layers": micro_layer_statistics(model, corpus.valid),
        "torch": torch.__version__,
        "machine": platform.machine(),
    }


# --------------------------------------------------------------------------- report


def _group(records: list[dict]) -> dict[tuple[str, int], list[dict]]:
    groups: dict[tuple[str, int], list[dict]] = {}
    for record in records:
        groups.setdefault((record["kind"], record["depth"]), []).append(record)
    order = {"lstm": 0, "dtrnn": 1, "rhn": 2}
    return dict(
        sorted(
            groups.items(), key=lambda item: (item[0][0] != "lstm", item[0][1], order[item[0][0]])
        )
    )


def _spread(values: list[float], digits: int = 3, bold: bool = False) -> str:
    """The median (in bold if ``bold``), then the min–max over seeds when there are several."""
    median = f"{statistics.median(values):.{digits}f}"
    if bold:
        median = f"**{median}**"
    if len(values) == 1:
        return median
    return f"{median} ({min(values):.{digits}f}–{max(values):.{digits}f})"


REACH_LOSS = 1.0  # nats per token (perplexity e = 2.72): how soon a model gets there


def _time_to_reach(group: list[dict], key: str, scale: float, digits: int) -> str:
    """Median over seeds of ``key`` at the first validation with loss <= REACH_LOSS."""
    reached = []
    for record in group:
        hits = [p[key] for p in record["curve"] if p["loss"] <= REACH_LOSS]
        if hits:
            reached.append(hits[0] / scale)
    if len(reached) < len(group):
        return f"not reached ({len(reached)}/{len(group)} seeds)" if reached else "never"
    return _spread(reached, digits)


def _label(kind: str, depth: int, hidden: int) -> str:
    if kind == "lstm":
        return f"LSTM 1×{hidden}"
    return f"{LABELS[kind]} L = {depth}, H = {hidden}"


def write_table(records: list[dict], path: Path, command: str) -> None:
    groups = _group(records)
    any_record = records[0]
    train = any_record["training_config"]
    tokens = statistics.median(r["final"]["train_tokens"] for r in records)
    seeds = sorted({r["seed"] for r in records})
    lines = [
        "# RHN study: RHN against DT-RNN at equal parameters, and what each micro-layer does",
        "",
        f"Written by `{command}` (`benchmarks/rhn_study.py`). Default corpus "
        f"(hash `{any_record['corpus_hash'][:8]}…`), its validation split "
        f"({any_record['valid_targets']} targets, every tune whole from the zero state). "
        f"Every model ≤ 59 838 parameters (the 1×100 LSTM's), {tokens / 1e6:.2f} M training "
        f"tokens each ({train['epochs'] * train['steps_per_epoch']} steps of B = "
        f"{train['batch_size']} × T = {train['window']}), Adam {train['learning_rate']:g} "
        f"constant, clip {train['clip']:g}, seeds {', '.join(map(str, seeds))} (one seed draws "
        "the same batches for every model). Cells: median over seeds (min–max). The budget is "
        "far below convergence (the shipped LSTM took 71 M tokens to reach perplexity 2.217): "
        "these are learning-speed results at this budget, not converged quality.",
        "",
        "| model | parameters | valid accuracy | non-hold accuracy | perplexity | best perplexity | "
        f"M tokens to loss ≤ {REACH_LOSS:g} | CPU-minutes to loss ≤ {REACH_LOSS:g} | "
        "training tokens / CPU-s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (kind, depth), group in groups.items():
        lines.append(
            f"| {_label(kind, depth, group[0]['hidden'])} | {group[0]['parameters']} | "
            f"{_spread([r['final']['accuracy'] for r in group])} | "
            f"{_spread([r['final']['nonhold_accuracy'] for r in group])} | "
            f"{_spread([r['final']['perplexity'] for r in group])} | "
            f"{_spread([r['best']['perplexity'] for r in group])} | "
            f"{_time_to_reach(group, 'train_tokens', 1e6, 1)} | "
            f"{_time_to_reach(group, 'train_cpu_seconds', 60, 2)} | "
            f"{statistics.median(r['tokens_per_cpu_second'] for r in group):,.0f} |"
        )
    lines += [
        "",
        "*valid accuracy, non-hold accuracy, perplexity*: at the end of the budget; *best "
        f"perplexity*: the lowest of the validations along the way; *to loss ≤ {REACH_LOSS:g}*: "
        f"training tokens and CPU time at the first validation with a loss of at most "
        f"{REACH_LOSS:g} nat per token (perplexity {math.exp(REACH_LOSS):.2f}; validations every "
        f"{train['steps_per_epoch']} steps, so this resolves to about "
        f"{train['steps_per_epoch'] * train['batch_size'] * train['window'] / 1e6:.1f} M tokens).",
        "",
        "## Per micro-layer, on the validation tunes (final models)",
        "",
        "Relative state change ‖s_l − s_{l−1}‖ / ‖s_{l−1}‖ (mean over validation steps after each "
        "tune's first) and, for the RHN, the mean transform gate t_l; median over seeds.",
        "",
        "| model | state change per micro-layer 1, 2, … | RHN transform gate per micro-layer |",
        "|---|---|---|",
    ]
    for (kind, depth), group in groups.items():
        if kind == "lstm" or depth == 1:
            continue
        change = np.median([r["micro_layers"]["state_change"] for r in group], axis=0)
        gates = (
            " / ".join(
                f"{v:.2f}"
                for v in np.median([r["micro_layers"]["transform_gate"] for r in group], axis=0)
            )
            if kind == "rhn"
            else "–"
        )
        lines.append(
            f"| {_label(kind, depth, group[0]['hidden'])} | "
            f"{' / '.join(f'{v:.2f}' for v in change)} | {gates} |"
        )
    lines += [
        "",
        "## Per seed, along the validation curves",
        "",
        curve_table(records),
        "",
        "*below the LSTM / the other model of its depth*: validations at which the run's loss is "
        "lower than that of the LSTM (of the DT-RNN for an RHN, of the RHN for a DT-RNN) with the "
        f"same seed at the same step; *fall*: minus the least-squares slope of the validation "
        f"loss over the last {FALL_POINTS} validations ({FALL_POINTS - 1} intervals), of the "
        "median curve over seeds and of each seed. The same command with `--readme` prints this "
        "table and the README's summary table from the same JSONs, training nothing.",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


FALL_POINTS = 4  # the fall rate is fitted over the last four validations (three intervals)


def _losses(record: dict) -> list[float]:
    return [p["loss"] for p in record["curve"]]


def _validations_below(record: dict, other: dict | None) -> str:
    """How many validations of ``record`` have a lower loss than ``other``'s at the same step."""
    if other is None:
        return "–"
    return str(sum(a < b for a, b in zip(_losses(record), _losses(other), strict=True)))


def _fall_rate(tokens: list[float], losses: list[float]) -> str:
    """Minus the least-squares slope of loss against training tokens over the last
    ``FALL_POINTS`` validations, in nats per million tokens (positive: still falling)."""
    x = np.asarray(tokens[-FALL_POINTS:], dtype=float) / 1e6
    y = np.asarray(losses[-FALL_POINTS:], dtype=float)
    return f"{round(-float(np.polyfit(x, y, 1)[0]), 3) + 0.0:.3f}"  # + 0.0: no "-0.000"


def curve_table(records: list[dict]) -> str:
    """One row per model and depth, one value per seed: where the validation loss ends, its range,
    how often it is below the LSTM and below the other deep-transition model of its depth (same
    seed, same step), and how fast it still falls at the end (median curve, then per seed)."""
    groups = _group(records)
    by_run = {(r["kind"], r["depth"], r["seed"]): r for r in records}
    seeds = sorted({r["seed"] for r in records})
    validations = statistics.median(len(r["curve"]) for r in records)
    lines = [
        f"| model | final loss, seeds {' / '.join(map(str, seeds))} | lowest–highest loss | "
        f"validations (of {validations:g}) below the LSTM | below the other model of its depth | "
        f"fall over the last {FALL_POINTS} validations, nats / M tokens: median curve (per seed) |",
        "|---|---|---|---|---|---|",
    ]
    for (kind, depth), group in groups.items():
        group = sorted(group, key=lambda r: r["seed"])
        other = {"dtrnn": "rhn", "rhn": "dtrnn"}.get(kind)
        lstm = [None if kind == "lstm" else by_run.get(("lstm", 1, r["seed"])) for r in group]
        rival = [by_run.get((other, depth, r["seed"])) for r in group]
        points = min(len(r["curve"]) for r in group)
        median_tokens = np.median(
            [[p["train_tokens"] for p in r["curve"][:points]] for r in group], 0
        )
        median_loss = np.median([_losses(r)[:points] for r in group], axis=0)
        per_seed = " / ".join(
            _fall_rate([p["train_tokens"] for p in r["curve"]], _losses(r)) for r in group
        )
        lines.append(
            f"| {_label(kind, depth, group[0]['hidden'])} | "
            + " / ".join(f"{_losses(r)[-1]:.3f}" for r in group)
            + " | "
            + " / ".join(f"{min(_losses(r)):.3f}–{max(_losses(r)):.3f}" for r in group)
            + " | "
            + " / ".join(_validations_below(r, o) for r, o in zip(group, lstm, strict=True))
            + " | "
            + " / ".join(_validations_below(r, o) for r, o in zip(group, rival, strict=True))
            + f" | {_fall_rate(list(median_tokens), list(median_loss))} ({per_seed}) |"
        )
    return "\n".join(lines)


def readme_table(records: list[dict]) -> str:
    """The summary table of the README's "The RHN study" (medians over seeds, min–max)."""
    groups = _group(records)
    vocab_size = records[0]["model_config"]["vocab_size"]
    budget = f"{lstm_parameters(LSTM_REFERENCE_HIDDEN, vocab_size):,}".replace(",", " ")
    tokens = statistics.median(r["final"]["train_tokens"] for r in records) / 1e6
    best = min(statistics.median(r["final"]["perplexity"] for r in g) for g in groups.values())
    # the lowest median perplexity is printed in bold
    lines = [
        f"| model (≤ {budget} parameters) | valid accuracy | non-hold accuracy | "
        f"perplexity at {tokens:.1f} M tokens | M tokens to loss ≤ {REACH_LOSS:g} nat | "
        "tokens / CPU-s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for (kind, depth), group in groups.items():
        perplexities = [r["final"]["perplexity"] for r in group]
        perplexity = _spread(perplexities, bold=statistics.median(perplexities) == best)
        label = _label(kind, depth, group[0]["hidden"])
        lines.append(
            f"| {label}{' (tanh RNN)' if kind == 'dtrnn' and depth == 1 else ''} | "
            f"{_spread([r['final']['accuracy'] for r in group])} | "
            f"{_spread([r['final']['nonhold_accuracy'] for r in group])} | {perplexity} | "
            f"{_time_to_reach(group, 'train_tokens', 1e6, 1)} | "
            f"{statistics.median(r['tokens_per_cpu_second'] for r in group) / 1e3:.0f}k |"
        )
    return "\n".join(lines)


def readme_report(records: list[dict]) -> str:
    """What ``--readme`` prints: the summary table, then the per-seed curve table."""
    return readme_table(records) + "\n\n" + curve_table(records) + "\n"


def _style(kind: str, depth: int, depths: list[int]):
    plt = _pyplot()
    if kind == "lstm":
        return {"color": "black", "linestyle": ":", "linewidth": 2.0}
    shade = 0.35 + 0.65 * (sorted(depths).index(depth) + 1) / len(depths)
    colour = (plt.cm.Blues if kind == "dtrnn" else plt.cm.Reds)(shade)
    return {"color": colour, "linestyle": "--" if kind == "dtrnn" else "-", "linewidth": 1.6}


def _pyplot():
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)


def plot_curves(records: list[dict], path: Path) -> None:
    plt = _pyplot()
    groups = _group(records)
    depths = sorted({d for (k, d) in groups if k != "lstm"})
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), sharey=True)
    for (kind, depth), group in groups.items():
        points = min(len(r["curve"]) for r in group)
        loss = np.array([[p["loss"] for p in r["curve"][:points]] for r in group])
        tokens = np.median(
            [[p["train_tokens"] for p in r["curve"][:points]] for r in group], axis=0
        )
        seconds = {
            key: np.median([[p[key] for p in r["curve"][:points]] for r in group], axis=0)
            for key in ("train_cpu_seconds", "train_seconds")
        }
        style = _style(kind, depth, depths)
        label = _label(kind, depth, group[0]["hidden"])
        for ax, x in (
            (axes[0], tokens / 1e6),
            (axes[1], seconds["train_cpu_seconds"] / 60),
            (axes[2], seconds["train_seconds"] / 60),
        ):
            ax.plot(x, np.median(loss, axis=0), label=label, **style)
            ax.fill_between(x, loss.min(axis=0), loss.max(axis=0), color=style["color"], alpha=0.15)
    for ax in axes:
        ax.axhline(math.log(SHIPPED_LSTM_PERPLEXITY), color="grey", linewidth=0.8)
        ax.grid(alpha=0.3)
    axes[0].text(
        0.02,
        math.log(SHIPPED_LSTM_PERPLEXITY),
        " shipped LSTM, converged (71 M tokens)",
        va="bottom",
        fontsize=8,
        color="grey",
        transform=axes[0].get_yaxis_transform(),
    )
    axes[0].set_xlabel("training tokens (millions)")
    axes[1].set_xlabel("training CPU time (minutes, 1 thread; median over seeds)")
    axes[2].set_xlabel("training wall-clock time (minutes; shared machine, median over seeds)")
    axes[0].set_ylabel("validation loss (nats per token)")
    low = min(min(p["loss"] for p in r["curve"]) for r in records)
    high = statistics.median(r["curve"][0]["loss"] for r in records)
    axes[0].set_ylim(min(low, math.log(SHIPPED_LSTM_PERPLEXITY)) - 0.02, high + 0.05)
    axes[2].legend(fontsize=7.5, ncol=2, loc="upper right")
    seeds = len({r["seed"] for r in records})
    fig.suptitle(
        f"Validation loss at ≤ 59 838 parameters: median over {seeds} seeds, band = min–max "
        "(DT-RNN dashed blue, RHN solid red, darker = deeper)"
    )
    _save(fig, path)


def plot_micro_layers(records: list[dict], path: Path) -> None:
    plt = _pyplot()
    groups = _group(records)
    depths = sorted({d for (k, d) in groups if k != "lstm" and d > 1})
    if not depths:
        return
    fig, axes = plt.subplots(2, len(depths), figsize=(4.2 * len(depths), 6.4), squeeze=False)
    for column, depth in enumerate(depths):
        top, bottom = axes[0, column], axes[1, column]
        layers = np.arange(1, depth + 1)
        for offset, kind in ((-0.18, "dtrnn"), (0.18, "rhn")):
            group = groups.get((kind, depth))
            if not group:
                continue
            change = np.array([r["micro_layers"]["state_change"] for r in group])
            median = np.median(change, axis=0)
            colour = "tab:blue" if kind == "dtrnn" else "tab:red"
            top.bar(
                layers + offset,
                median,
                width=0.36,
                color=colour,
                yerr=[median - change.min(axis=0), change.max(axis=0) - median],
                capsize=2,
                label=f"{LABELS[kind]} (H = {group[0]['hidden']})",
            )
            if kind == "rhn":
                gate = np.array([r["micro_layers"]["transform_gate"] for r in group])
                gmed = np.median(gate, axis=0)
                bottom.bar(
                    layers,
                    gmed,
                    width=0.5,
                    color=colour,
                    yerr=[gmed - gate.min(axis=0), gate.max(axis=0) - gmed],
                    capsize=2,
                )
        top.set_yscale("log")
        top.set_title(f"depth L = {depth}")
        top.set_xticks(layers)
        bottom.set_xticks(layers)
        top.set_ylabel("‖s_l − s_{l−1}‖ / ‖s_{l−1}‖")
        bottom.set_ylabel("RHN mean transform gate t_l")
        bottom.set_ylim(0, 1)
        bottom.set_xlabel("micro-layer l")
        top.grid(alpha=0.3, axis="y")
        bottom.grid(alpha=0.3, axis="y")
        top.legend(fontsize=8)
    seeds = len({r["seed"] for r in records})
    fig.suptitle(
        f"What each micro-layer does, on the validation tunes (median over {seeds} seeds, "
        "bars = min–max)"
    )
    _save(fig, path)


# --------------------------------------------------------------------------- main


def load_records(
    out: Path, seeds: list[int], depths: list[int], models: list[str] | tuple[str, ...]
) -> list[dict]:
    """The run JSONs in ``out`` of the study with these seeds, depths and models."""
    wanted = {
        run_name(c.kind, c.depth if c.kind != "lstm" else 1, s)
        for c in study_configs(depths, DEFAULT_VOCABULARY.size, tuple(models))
        for s in seeds
    }
    return [json.loads(p.read_text()) for p in sorted(out.glob("*.json")) if p.stem in wanted]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=float, default=12e6, help="training tokens per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--depths", type=int, nargs="+", default=[1, 3, 5, 10])
    parser.add_argument("--validations", type=int, default=12, help="points on each curve")
    parser.add_argument(
        "--models", nargs="+", choices=("lstm", "dtrnn", "rhn"), default=["lstm", "dtrnn", "rhn"]
    )
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (constant)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/rhn_study"), help="run JSONs")
    parser.add_argument("--runs", type=Path, default=Path("runs/rhn_study"), help="run folders")
    parser.add_argument("--table", type=Path, default=Path("benchmarks/rhn_study.md"))
    parser.add_argument("--curves", type=Path, default=Path("docs/rhn_study_curves.png"))
    parser.add_argument("--micro", type=Path, default=Path("docs/rhn_micro_layers.png"))
    parser.add_argument("--data", type=Path, default=None, help="melody folder (default corpus)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="corpus cache folder")
    parser.add_argument("--report-only", action="store_true", help="no training, redraw only")
    parser.add_argument(
        "--readme",
        action="store_true",
        help="no training, no files: print the README's tables from the run JSONs in --out",
    )
    args = parser.parse_args(argv)
    if args.tokens < 1 or any(d < 1 for d in args.depths) or args.validations < 1:
        parser.error("--tokens, --depths and --validations must be >= 1")
    torch.set_num_threads(1)
    if args.readme:
        records = load_records(args.out, args.seeds, args.depths, args.models)
        if not records:
            parser.error(f"{args.out}: no run JSON to report")
        print(readme_report(records), end="")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        from pretrain.corpus import load_corpus  # noqa: PLC0415

        corpus = load_corpus(args.data, cache_dir=args.cache_dir, progress=False)
        configs = study_configs(args.depths, corpus.vocabulary.size, tuple(args.models))
        for seed in args.seeds:  # seed-major: an interrupted study still has whole seeds
            for config in configs:
                name = run_name(config.kind, config.depth if config.kind != "lstm" else 1, seed)
                path = args.out / f"{name}.json"
                train = training_config(int(args.tokens), args.validations, seed, args.lr)
                if path.is_file():
                    stored = json.loads(path.read_text())
                    if stored["training_config"] != train.to_dict():
                        parser.error(
                            f"{path}: made with other settings ({stored['training_config']}); "
                            "use another --out or delete it"
                        )
                    continue
                start = time.monotonic()
                record = run_one(corpus, config, train, args.runs / name)
                path.write_text(json.dumps(record, indent=1) + "\n")
                final = record["final"]
                print(
                    f"{name}: H = {record['hidden']}, {record['parameters']} parameters, "
                    f"{final['train_tokens']} tokens: valid accuracy {final['accuracy']:.4f}, "
                    f"perplexity {final['perplexity']:.3f}, "
                    f"{record['tokens_per_cpu_second']:.0f} tokens/CPU-s "
                    f"({time.monotonic() - start:.0f} s)",
                    flush=True,
                )
    records = load_records(args.out, args.seeds, args.depths, args.models)
    if not records:
        parser.error(f"{args.out}: no run JSON to report")
    command = (
        f"python benchmarks/rhn_study.py --tokens {int(args.tokens)} "
        f"--seeds {' '.join(map(str, args.seeds))} --depths {' '.join(map(str, args.depths))}"
        + (f" --models {' '.join(args.models)}" if len(args.models) < 3 else "")
        + (f" --lr {args.lr:g}" if args.lr != 3e-3 else "")
    )
    write_table(records, args.table, command)
    plot_curves(records, args.curves)
    plot_micro_layers(records, args.micro)
    print(f"wrote {args.table}, {args.curves}, {args.micro} from {len(records)} runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
