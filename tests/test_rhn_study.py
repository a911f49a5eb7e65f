"""benchmarks/rhn_study.py on a tiny corpus: one JSON per run, resumable, table and plots."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "rhn_study.py"
_SPEC = importlib.util.spec_from_file_location("rhn_study", _PATH)
rhn_study = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(rhn_study)

PHRASES = ["GABc d2B2|c2A2 B2G2", "ABcd e2d2|B2A2 G4", "c2e2 g2e2|f2d2 c4", "E2G2 A2G2|E2D2 C4"]


def test_sizes_every_model_to_the_lstm_budget():
    configs = rhn_study.study_configs([1, 3, 10], 38)
    assert [(c.kind, c.depth, c.hidden_size) for c in configs[1:]] == [
        ("dtrnn", 1, 209), ("rhn", 1, 146), ("dtrnn", 3, 128), ("rhn", 3, 90),
        ("dtrnn", 10, 73), ("rhn", 10, 51),
    ]  # fmt: skip
    assert configs[0].kind == "lstm" and configs[0].hidden_size == 100
    train = rhn_study.training_config(10_000_000, 12, seed=2)
    assert train.epochs * train.steps_per_epoch * 64 * 128 == pytest.approx(10_000_000, rel=0.01)
    assert train.lr_decay == 1.0 and train.patience > train.epochs and train.seed == 2


def test_tiny_study_writes_runs_table_and_plots_and_resumes(tmp_path, capsys):
    data = tmp_path / "melodies"
    data.mkdir()
    tunes = [
        f"X:{i + 1}\nT:Tune {i}\nM:4/4\nL:1/8\nK:C\n"
        + "|".join(PHRASES[(i + j) % 4] for j in range(3))
        + "|]\n"
        for i in range(12)
    ]
    (data / "tunes.abc").write_text("\n".join(tunes), encoding="utf-8")
    out = tmp_path / "study"
    argv = [
        "--tokens", "3000", "--seeds", "0", "1", "--depths", "2", "--validations", "2",
        "--data", str(data), "--cache-dir", str(tmp_path / "cache"), "--out", str(out),
        "--runs", str(tmp_path / "runs"), "--table", str(tmp_path / "t.md"),
        "--curves", str(tmp_path / "c.png"), "--micro", str(tmp_path / "m.png"),
    ]  # fmt: skip
    assert rhn_study.main(argv) == 0
    names = sorted(p.stem for p in out.glob("*.json"))
    assert names == [
        f"{k}-L{d}-seed{s}" for k, d in (("dtrnn", 2), ("lstm", 1), ("rhn", 2)) for s in (0, 1)
    ]
    record = json.loads((out / "rhn-L2-seed1.json").read_text())
    assert record["parameters"] <= 59_838 and record["seed"] == 1 and len(record["curve"]) == 2
    assert [p["step"] for p in record["curve"]] == [1, 2]  # 3000 tokens: 2 steps of 64 x 128 slots
    assert record["curve"][1]["train_tokens"] > record["curve"][0]["train_tokens"] > 0
    assert record["curve"][1]["train_cpu_seconds"] > 0
    micro = record["micro_layers"]
    assert len(micro["state_change"]) == len(micro["transform_gate"]) == 2
    assert (
        "transform_gate"
        not in json.loads((out / "dtrnn-L2-seed0.json").read_text())["micro_layers"]
    )
    assert json.loads((out / "lstm-L1-seed0.json").read_text())["micro_layers"] is None
    table = (tmp_path / "t.md").read_text()
    assert "| RHN L = 2, H = 108 | 59438 |" in table and "| DT-RNN L = 2, H = 154 |" in table
    for png in ("c.png", "m.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    # Rerun: every run is on disk, nothing is trained again.
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    assert rhn_study.main(argv) == 0
    assert "seed" not in capsys.readouterr().out.split("wrote")[0]
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")} == before
    # Other settings into the same folder: refused.
    with pytest.raises(SystemExit):
        rhn_study.main([*argv[:1], "30000", *argv[2:]])
    assert "made with other settings" in capsys.readouterr().err


_ROOT = Path(__file__).resolve().parents[1]


def test_readme_holds_the_tables_printed_from_the_committed_runs(tmp_path, capsys):
    """The README's RHN-study tables are the verbatim output of ``rhn_study.py --readme``."""
    out = _ROOT / "benchmarks" / "rhn_study"
    records = rhn_study.load_records(out, [0, 1, 2], [1, 3, 5, 10], ["lstm", "dtrnn", "rhn"])
    assert len(records) == 27
    readme = (_ROOT / "README.md").read_text(encoding="utf-8")
    assert "python benchmarks/rhn_study.py --readme" in readme
    for table in (rhn_study.readme_table(records), rhn_study.curve_table(records)):
        assert table.count("\n") >= 10 and table in readme
    before = sorted(p.name for p in out.iterdir())
    assert rhn_study.main(["--readme", "--out", str(out), "--table", str(tmp_path / "t.md")]) == 0
    assert capsys.readouterr().out == rhn_study.readme_report(records)
    assert sorted(p.name for p in out.iterdir()) == before and not (tmp_path / "t.md").exists()
    # The learning-rate 1e-3 numbers the README quotes come from the same command.
    low_lr = rhn_study.load_records(
        _ROOT / "benchmarks" / "rhn_study_lr1e-3", [0], [3, 10], ["dtrnn", "rhn"]
    )
    table = rhn_study.readme_table(low_lr)
    for number in ("3.376", "4.756", "2.803"):
        assert f"| {number} |" in table.replace("**", "") and number in readme
