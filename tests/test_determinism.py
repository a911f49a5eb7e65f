"""Determinism (issue 8): same seed and inputs give identical bytes and metrics on CPU.

Covered: the corpus cache file, pretraining (weights, per-epoch validation metrics, the best
checkpoint's metrics), and sampled compositions. GPU nondeterminism is documented in
``benchmarks/reliability.md``; everything here runs on CPU with one thread.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.security import runs

REPO = Path(__file__).resolve().parent.parent


def write_data(folder: Path, tunes: int = 24, seed: int = 0) -> Path:
    """A small melody folder: random ABC tunes plus one MIDI and one MusicXML file."""
    from pretrain.tokenizer import write_melody  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    letters = list("CDEFGABcde")
    text = []
    for i in range(tunes):
        bars = [
            "".join(rng.choice(letters) + rng.choice(["", "2", "", "/"]) for _ in range(4))
            for _ in range(6)
        ]
        text.append(f"X:{i + 1}\nT:Tune {i}\nM:4/4\nL:1/8\nK:C\n{'|'.join(bars)}|]\n")
    (folder / "tunes.abc").write_text("\n".join(text))
    melody = [14, 1, 1, 1, 16, 1, 18, 1, 19, 1, 1, 1, 0, 1, 21, 1]
    write_melody(np.array(melody), folder / "song.mid")
    write_melody(np.array(melody[::-1][1:] + [14]), folder / "song.musicxml")
    return folder


def test_corpus_cache_is_byte_identical(tmp_path):
    from pretrain.corpus import load_corpus  # noqa: PLC0415

    data = write_data(tmp_path / "data")
    copy = tmp_path / "elsewhere" / "data"
    shutil.copytree(data, copy)  # the same inputs at another path, with other mtimes
    first = load_corpus(data, cache_dir=tmp_path / "c1", workers=1, progress=False)
    again = load_corpus(data, cache_dir=tmp_path / "c2", workers=1, progress=False, rebuild=True)
    moved = load_corpus(copy, cache_dir=tmp_path / "c3", workers=1, progress=False)
    caches = [Path(c.report.cache_path).read_bytes() for c in (first, again, moved)]
    assert caches[0] == caches[1] == caches[2]
    assert first.hash == again.hash == moved.hash
    assert first.report.kept >= 20
    for a, b in zip(first.train + first.valid, moved.train + moved.valid, strict=True):
        assert np.array_equal(a, b)


def test_corpus_split_depends_only_on_the_seed(tmp_path):
    from pretrain.corpus import load_corpus  # noqa: PLC0415

    data = write_data(tmp_path / "data")
    a = load_corpus(data, cache_dir=tmp_path / "c", seed=7, workers=1, progress=False)
    b = load_corpus(data, cache_dir=tmp_path / "c", seed=7, workers=1, progress=False)
    assert b.report.from_cache
    assert [t.tobytes() for t in a.valid] == [t.tobytes() for t in b.valid]


def test_pretrain_same_seed_identical_metrics_and_weights(tmp_path):
    a = runs.run_pretrain(tmp_path / "a", epochs=3)
    b = runs.run_pretrain(tmp_path / "b", epochs=3)
    fa, fb = runs.fingerprint(tmp_path / "a"), runs.fingerprint(tmp_path / "b")
    assert fa == fb
    assert a.metrics["loss"] == b.metrics["loss"]
    assert (tmp_path / "a" / "note_rnn_lstm.safetensors").read_bytes() == (
        tmp_path / "b" / "note_rnn_lstm.safetensors"
    ).read_bytes()
    runs.run_pretrain(tmp_path / "c", epochs=3, seed=1)
    assert runs.fingerprint(tmp_path / "c")["weights"] != fa["weights"]  # the seed matters


def _cli(args: list[str], env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "sequence_tutor.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_pretrain_cli_is_deterministic_across_processes(tmp_path):
    """Two processes with different hash seeds, same --seed: identical weights and metrics."""
    data = write_data(tmp_path / "data")
    outputs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"run{hash_seed}"
        args = ["pretrain", "--data", str(data), "--cache-dir", str(tmp_path / f"cache{hash_seed}"),
                "--out", str(out), "--hidden", "16", "--epochs", "3", "--steps-per-epoch", "4",
                "--batch-size", "8", "--window", "32", "--seed", "5", "--no-progress",
                "--no-tensorboard"]  # fmt: skip
        done = _cli(args, {"PYTHONHASHSEED": hash_seed})
        assert done.returncode == 0, done.stderr
        metrics = json.loads((out / "note_rnn_lstm.json").read_text())["metrics"]
        metrics = {k: v for k, v in metrics.items() if k not in runs.TIMING_KEYS}
        outputs.append(((out / "note_rnn_lstm.safetensors").read_bytes(), metrics))
    assert outputs[0] == outputs[1]


def test_samples_same_seed_identical_bytes(tmp_path, capsys):
    """``sample --agent note-rnn`` with one seed writes the same JSON Lines bytes twice, and
    another seed gives other compositions."""
    from sequence_tutor.cli import main  # noqa: PLC0415

    outputs = []
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        out = tmp_path / f"{name}.jsonl"
        argv = ["sample", "--agent", "note-rnn", "--n", "20", "--seed", seed, "--out", str(out),
                "--no-progress"]  # fmt: skip
        assert main(argv) == 0
        outputs.append(out.read_bytes())
    capsys.readouterr()
    assert outputs[0] == outputs[1] and outputs[0].count(b"\n") == 20
    assert outputs[0] != outputs[2]
