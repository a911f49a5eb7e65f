"""Table 1 statistics, log p and corpus metrics on hand-made compositions; the evaluate command."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from agents.sampling import Samples, write_jsonl
from pretrain.models import NoteRNNConfig, build_note_rnn
from pretrain.vocabulary import DEFAULT_VOCABULARY
from sequence_tutor.cli import main
from sequence_tutor.evaluation.table1 import (
    autocorrelation,
    evaluate_samples,
    muspy_metrics,
    note_rnn_log_likelihood,
)

torch.set_num_threads(1)

C4, CS4, C3, D3, C5 = 14, 15, 2, 4, 26
REPEATED = [C4] * 32  # the 6th play of the same note onwards is excessive: 27 steps
ALTERNATING = [C3, D3] * 16
HELD_SHARP = [CS4] + [1] * 31  # one note outside C major, then holds (the 6th hold onwards: 26)


def uniform_note_rnn():
    model = build_note_rnn(NoteRNNConfig(hidden_size=4))
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.zero_()
    return model.eval()


def samples(rows, primers=None, agent="hand"):
    primers = primers or [[C4]] * len(rows)
    return Samples(np.array(rows), primers, agent=agent)


def test_table1_statistics_of_hand_made_compositions():
    result = evaluate_samples(samples([REPEATED, ALTERNATING, HELD_SHARP]), uniform_note_rnn())
    v = result.values
    assert v["excessively_repeated"] == pytest.approx((27 + 0 + 26) / 96)
    assert v["not_in_key"] == pytest.approx(1 / 96)
    assert v["starts_with_tonic"] == pytest.approx(1 / 3)
    assert v["unique_max"] == pytest.approx(1 / 3)  # only the held C#4
    assert v["unique_min"] == pytest.approx(1 / 3)
    assert v["in_motif"] == 0.0  # never 3 distinct notes within 8 steps
    assert v["in_repeated_motif"] == 0.0
    # REPEATED has no autocorrelation (constant); the mean is over the other two.
    sharp = autocorrelation(np.array([HELD_SHARP]), 1)[0]
    assert v["autocorrelation_lag1"] == pytest.approx((-31 / 32 + sharp) / 2)
    assert v["log_p"] == pytest.approx(32 * math.log(1 / 38), rel=1e-6)
    assert v["compositions"] == 3
    assert result.reward_terms["repetition"] == pytest.approx(-100 * 53 / 3)
    assert result.reward_terms["key"] == pytest.approx(-1 / 3)
    theory = sum(value for name, value in result.reward_terms.items() if name != "note_rnn")
    assert v["reward"] == pytest.approx(theory / 0.5 + 32 * math.log(1 / 38))


def test_autocorrelation_by_hand():
    rho = [autocorrelation(np.array([ALTERNATING]), lag)[0] for lag in (1, 2, 3)]
    assert rho == pytest.approx([-31 / 32, 30 / 32, -29 / 32])
    assert np.isnan(autocorrelation(np.array([REPEATED]), 1)[0])


def test_leaps_resolved_counts_resolutions_against_doubled_leaps():
    resolved = [C4, *[1] * 7, C5, *[1] * 7, C4, *[1] * 15]  # up an octave, back after 8 steps
    doubled = [C3, C4, C5, *[1] * 29]  # two octave leaps up in a row
    v = evaluate_samples(samples([resolved, doubled]), None).values
    assert v["leaps_resolved"] == pytest.approx(0.5)
    assert math.isnan(v["log_p"])  # no Note RNN given


def test_muspy_metrics_by_hand():
    single = muspy_metrics(np.array([REPEATED]), DEFAULT_VOCABULARY)
    assert single == {"pitch_class_entropy": 0.0, "scale_consistency": 1.0, "empty_beat_rate": 0.0}
    # MusPy counts beats up to the last note's end, a note filling the beat its end falls in:
    rest_after_one_beat = [C4, 1, 1, 1, 0, *[1] * 27]  # ends on the line of beat 1: 0 of 2 empty
    m = muspy_metrics(np.array([rest_after_one_beat]), DEFAULT_VOCABULARY)
    assert m["empty_beat_rate"] == 0.0
    gap = [C4, 0, 1, 1, *[1] * 8, C4, 0, *[1] * 18]  # beats 0 and 3 filled, 1 and 2 empty
    m = muspy_metrics(np.array([gap]), DEFAULT_VOCABULARY)
    assert m["empty_beat_rate"] == pytest.approx(2 / 4)
    assert math.isnan(muspy_metrics(np.array([[0] * 32]), DEFAULT_VOCABULARY)["empty_beat_rate"])
    chromatic = [2 + (t % 12) for t in range(32)]  # 32 onsets over 12 pitch classes
    m = muspy_metrics(np.array([chromatic]), DEFAULT_VOCABULARY)
    counts = np.bincount([t % 12 for t in range(32)], minlength=12) / 32
    assert m["pitch_class_entropy"] == pytest.approx(-(counts * np.log2(counts)).sum())


def test_log_likelihood_conditions_on_the_whole_primer():
    torch.manual_seed(0)
    rnn = build_note_rnn(NoteRNNConfig(hidden_size=6)).eval()
    tokens = np.array([ALTERNATING, HELD_SHARP])
    primers = [[C4], [C3, D3]]
    got = note_rnn_log_likelihood(rnn, tokens, primers)
    for i in range(2):
        sequence = torch.tensor([primers[i] + tokens[i].tolist()])
        with torch.no_grad():
            logits, _ = rnn(sequence)
        expected, p = 0.0, len(primers[i])
        for t in range(32):
            expected += torch.log_softmax(logits[0, p - 1 + t], -1)[tokens[i][t]].item()
        assert got[i] == pytest.approx(expected, rel=1e-5)


def test_evaluate_command_writes_tables_side_by_side(tmp_path, capsys):
    a = write_jsonl(samples([REPEATED, ALTERNATING], agent="alpha"), tmp_path / "a.jsonl")
    b = write_jsonl(samples([HELD_SHARP], agent="beta"), tmp_path / "b.jsonl")
    out = tmp_path / "eval"
    assert main(["evaluate", str(a), str(b), "--out", str(out), "--paper"]) == 0
    printed = capsys.readouterr().out
    assert "alpha" in printed and "beta" in printed and "paper Ψ" in printed
    rows = list(csv.reader((out / "evaluation.csv").open()))
    assert rows[0] == ["statistic", "alpha", "beta"]
    starts = next(r for r in rows if r[0] == "starts_with_tonic")
    assert [float(x) for x in starts[1:]] == [0.5, 0.0]
    assert "| notes not in key |" in (out / "evaluation.md").read_text()
    assert (out / "piano_roll.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_bad_files_are_one_line_errors(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"tokens": [1, 2, 99]}\n')
    assert main(["evaluate", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "bad.jsonl:1" in err and "99" in err
    assert main(["evaluate", str(tmp_path / "missing.jsonl")]) == 2
    assert "not found" in capsys.readouterr().err
    bad.write_text(json.dumps({"primer": [1]}) + "\n")
    assert main(["evaluate", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "not a composition record" in capsys.readouterr().err


def test_evaluate_reward_flags_are_the_env_settings(tmp_path, capsys):
    from envs.config import EnvConfig

    good = write_jsonl(samples([REPEATED], agent="alpha"), tmp_path / "a.jsonl")
    for argv, message in (
        (["--reward-scale", "0"], "--reward-scale must be > 0, got 0.0"),
        (["--note-rnn-weight", "nan"], "--note-rnn-weight must be finite, got nan"),
    ):
        assert main(["evaluate", str(good), "--out", str(tmp_path / "o"), *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err == f"sequence-tutor evaluate: error: {message}"
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default: {EnvConfig.reward_scale})" in text
    assert f"(default: {EnvConfig.note_rnn_weight})" in text


def test_piano_roll_labels_whole_pitches_by_name():
    from sequence_tutor.evaluation.piano_roll import pitch_name, pitch_ticks

    assert [pitch_name(p) for p in (48, 60, 61, 71, 83)] == ["C3", "C4", "C#4", "B4", "B5"]
    assert pitch_ticks(57, 72) == [60, 67, 72]  # the Cs and Gs in A3..C5
    assert pitch_ticks(61, 65) == [61, 62, 63, 64, 65]  # no C or G: every pitch


def test_piano_roll_axis_ticks_are_note_names(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sequence_tutor.evaluation.piano_roll import plot_piano_rolls

    captured = []
    original = plt.Figure.savefig

    def spy(fig, *args, **kwargs):
        captured.extend(tick.get_text() for tick in fig.axes[0].get_yticklabels())
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(plt.Figure, "savefig", spy)
    plot_piano_rolls({"x": [np.array([14, 1, 16, 1, 18, 0, 21, 1] * 4)]}, tmp_path / "r.png")
    assert captured == ["C4", "G4"]
