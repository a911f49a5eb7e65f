"""``sequence-tutor report``: inputs, pairing, audio, engraving, curves, the page, bad inputs."""

from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from pretrain.errors import SequenceTutorError
from pretrain.vocabulary import DEFAULT_VOCABULARY
from sequence_tutor.cli import main
from sequence_tutor.report.audio import find_synthesizer
from sequence_tutor.report.build import INSTALL_AUDIO_HINT, build_report
from sequence_tutor.report.curves import find_curves
from sequence_tutor.report.inputs import load_inputs, read_sample_file
from sequence_tutor.report.pairing import order_for_comparison, pair_compositions
from sequence_tutor.report.pianoroll import piano_roll_png

C_MAJOR = [14, 16, 18, 19, 21, 23, 25, 26]


def _melody(seed: int, in_key: bool) -> list[int]:
    rng = np.random.default_rng(seed)
    tokens: list[int] = []
    while len(tokens) < 32:
        note = int(rng.choice(C_MAJOR if in_key else np.arange(2, 38)))
        tokens += [note] + [1] * int(rng.integers(0, 4))
        if rng.random() < 0.15:
            tokens += [0, 1]
    return tokens[:32]


def write_samples(path: Path, agent: str, n: int, *, seed: int = 7, in_key: bool = False) -> Path:
    """A sample file as `sequence-tutor sample --seed` writes it: k-th primer shared by agents."""
    with open(path, "w") as handle:
        for k in range(n):
            record = {
                "tokens": _melody(1000 * k + hash(agent) % 97, in_key),
                "primer": [C_MAJOR[(seed + k) % len(C_MAJOR)]],
                "key": "C major",
                "agent": agent,
                "seed": seed,
            }
            handle.write(json.dumps(record) + "\n")
    return path


class _Counter(HTMLParser):
    """Counts the elements a reader looks for in the report."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.classes: dict[str, int] = {}
        self.external: list[str] = []
        self.notices: list[str] = []
        self._in_notice = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for name in (attributes.get("class") or "").split():
            self.classes[f"{tag}.{name}"] = self.classes.get(f"{tag}.{name}", 0) + 1
        for key in ("src", "href"):
            value = attributes.get(key)
            if value is not None and not value.startswith(("data:", "#")):
                self.external.append(value)
        self._in_notice = "notice" in (attributes.get("class") or "")

    def handle_data(self, data):
        if self._in_notice and data.strip():
            self.notices.append(data.strip())
            self._in_notice = False


def count(page: Path) -> _Counter:
    counter = _Counter()
    counter.feed(page.read_text(encoding="utf-8"))
    return counter


SMALL_SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")


def quick_synthesizer(monkeypatch):
    """The installed synthesizer, with the 6 MB soundfont when present (loads 3x faster)."""
    if SMALL_SOUNDFONT.is_file():
        monkeypatch.setenv("SEQUENCE_TUTOR_SOUNDFONT", str(SMALL_SOUNDFONT))
    return find_synthesizer()


@pytest.fixture
def quick_synth(monkeypatch):
    return quick_synthesizer(monkeypatch)


@pytest.fixture
def no_synth(monkeypatch):
    """Point the synthesizer lookup at nothing."""
    monkeypatch.setenv("SEQUENCE_TUTOR_FLUIDSYNTH", "")


# --- inputs and pairing ------------------------------------------------------------------


def test_sample_file_round_trip_and_labels(tmp_path):
    a = write_samples(tmp_path / "a.jsonl", "psi", 3)
    b = write_samples(tmp_path / "b.jsonl", "psi", 2)
    sets = load_inputs([a, b])
    assert [len(s.compositions) for s in sets] == [3, 2]
    assert len({s.label for s in sets}) == 2  # same agent name from two files stays distinct
    first = sets[0].compositions[0]
    assert first.tokens.dtype == np.int64 and first.tokens.shape == (32,)
    assert first.primer == (C_MAJOR[7 % 8],) and first.seed == 7 and first.line == 1


def test_pairing_matches_primers_and_puts_note_rnn_first(tmp_path):
    psi = write_samples(tmp_path / "psi.jsonl", "psi", 4)
    rnn = tmp_path / "rnn.jsonl"
    lines = write_samples(tmp_path / "tmp.jsonl", "note-rnn", 4).read_text().splitlines()
    rnn.write_text("\n".join(reversed(lines)) + "\n")  # same primers, other order
    sets = order_for_comparison(load_inputs([psi, rnn]))
    assert [s.agent for s in sets] == ["note-rnn", "psi"]
    rows = pair_compositions(sets, 3)
    assert len(rows) == 3
    for row in rows:
        assert row.same_primer
        assert row.cells[0].primer == row.cells[1].primer
    assert len({row.cells[1].index for row in rows}) == 3  # each partner used once


def test_pairing_flags_different_primers_and_short_sets(tmp_path):
    a = write_samples(tmp_path / "a.jsonl", "note-rnn", 3, seed=1)
    b = write_samples(tmp_path / "b.jsonl", "psi", 1, seed=2)
    rows = pair_compositions(load_inputs([a, b]), 3)
    assert rows[0].cells[1] is not None and not rows[0].same_primer
    assert rows[1].cells[1] is None and rows[2].cells[1] is None


def test_piano_roll_png_is_the_env_rendering():
    import io

    from PIL import Image

    from envs.rendering import piano_roll
    from rewards.keys import key_tables

    tokens = np.array([14, 1, 1, 0, 1, 15, 18, 1])
    png = piano_roll_png(tokens, DEFAULT_VOCABULARY, key="C major", primer=[16])
    decoded = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    expected = piano_roll(
        tokens.tolist(), 8, key_tables("C major"), cell_width=34, row_height=4, primer=[16]
    )
    np.testing.assert_array_equal(decoded, expected)
    long = piano_roll_png(np.ones(128, dtype=np.int64), DEFAULT_VOCABULARY)
    assert Image.open(io.BytesIO(long)).size[0] == 2 * 130  # rolls keep a similar width


# --- bad input -----------------------------------------------------------------------------


def _cli_error(capsys, *argv) -> str:
    assert main(["report", *map(str, argv)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err  # one line, no traceback
    return err


def test_run_folder_without_samples(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.json").write_text("{}")
    err = _cli_error(capsys, run, "--out", tmp_path / "out")
    assert str(run) in err and "no samples" in err
    assert not (tmp_path / "out" / "index.html").exists()


def test_missing_input(tmp_path, capsys):
    err = _cli_error(capsys, tmp_path / "nope.jsonl", "--out", tmp_path / "out")
    assert "nope.jsonl" in err and "no such" in err


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ({"tokens": [14, 40, 1], "primer": [14], "agent": "psi"}, "40, outside the vocabulary"),
        ({"tokens": [14, -1], "agent": "psi"}, "-1, outside the vocabulary"),
        ({"tokens": "14 1 1", "agent": "psi"}, "list of integers"),
        ({"tokens": [14, 1.5], "agent": "psi"}, "list of integers"),
        ({"tokens": [], "agent": "psi"}, "empty"),
        ({"tokens": [14], "primer": [99], "agent": "psi"}, '"primer" contains 99'),
        ({"notes": [14]}, '"tokens"'),
        ({"tokens": [14], "key": "H major", "agent": "psi"}, "H major"),
    ],
)
def test_sample_file_with_invalid_tokens(tmp_path, capsys, line, expected):
    samples = write_samples(tmp_path / "s.jsonl", "psi", 2)
    with open(samples, "a") as handle:
        handle.write(json.dumps(line) + "\n")
    err = _cli_error(capsys, samples, "--out", tmp_path / "out")
    assert f"{samples} line 3" in err and expected in err
    assert not (tmp_path / "out" / "index.html").exists()


def test_sample_file_not_json_or_empty(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"tokens": [14, 1]\n')
    with pytest.raises(SequenceTutorError, match=r"bad\.jsonl line 1: not JSON"):
        read_sample_file(bad)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(SequenceTutorError, match=r"empty\.jsonl: no compositions"):
        read_sample_file(empty)


def test_unwritable_output_folder(tmp_path, capsys, no_synth):
    samples = write_samples(tmp_path / "s.jsonl", "psi", 1)
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    err = _cli_error(capsys, samples, "--out", blocker / "report")
    assert f"--out {blocker / 'report'}" in err and "cannot write" in err


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write a read-only folder"
)
def test_read_only_output_folder(tmp_path, capsys, no_synth):
    samples = write_samples(tmp_path / "s.jsonl", "psi", 1)
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        err = _cli_error(capsys, samples, "--out", out)
    finally:
        out.chmod(0o700)
    assert f"--out {out}: cannot write" in err and not (out / "index.html").exists()


def test_bad_option_values(tmp_path, capsys, no_synth):
    samples = write_samples(tmp_path / "s.jsonl", "psi", 1)
    err = _cli_error(capsys, samples, "--out", tmp_path / "o", "--n-compositions", "0")
    assert "--n-compositions 0" in err
    err = _cli_error(capsys, samples, "--out", tmp_path / "o", "--soundfont", tmp_path / "x.sf2")
    assert f"--soundfont {tmp_path / 'x.sf2'}: no such soundfont" in err


def test_failure_midway_leaves_previous_report_untouched(tmp_path, monkeypatch, no_synth):
    samples = write_samples(tmp_path / "s.jsonl", "psi", 3)
    out = tmp_path / "out"
    build_report([samples], out, n_compositions=1, engraver=None)
    before = (out / "index.html").read_bytes()

    import sequence_tutor.report.build as build_module

    calls = []

    def failing_piano_roll(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise SequenceTutorError("boom in the middle")
        return b"\x89PNG"

    monkeypatch.setattr(build_module, "piano_roll_png", failing_piano_roll)
    with pytest.raises(SequenceTutorError, match="boom"):
        build_report([samples], out, n_compositions=3, engraver=None)
    assert (out / "index.html").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["index.html"]  # no temporary leftovers


# --- the page -----------------------------------------------------------------------------


def test_report_without_synthesizer_has_midi_links_and_one_notice(tmp_path, capsys, no_synth):
    assert find_synthesizer() is None
    rnn = write_samples(tmp_path / "rnn.jsonl", "note-rnn", 3)
    psi = write_samples(tmp_path / "psi.jsonl", "psi", 3, in_key=True)
    out = tmp_path / "report"
    assert main(["report", str(psi), str(rnn), "--out", str(out), "--n-compositions", "2"]) == 0
    printed = capsys.readouterr()
    assert str(out / "index.html") in printed.out
    page = count(out / "index.html")
    assert page.tags.get("audio", 0) == 0
    assert page.classes["a.midi"] == 4 and page.classes["a.musicxml"] == 4
    assert page.classes["article.composition"] == 4
    assert page.classes["img.piano-roll"] == 4
    assert page.classes["table.statistics"] == 2  # Table 1, then the other measurements
    assert [n for n in page.notices if "FluidSynth" in n] == [INSTALL_AUDIO_HINT]
    assert page.external == []  # self-contained: only data: URIs
    text = (out / "index.html").read_text()
    assert main(["report", str(psi), "--out", str(out), "--no-audio"]) == 0
    assert "(--no-audio)" in " ".join(count(out / "index.html").notices)
    # the Note RNN column comes first even though it was given second
    assert text.index('data-agent="note-rnn"') < text.index('data-agent="psi"')


def _row(table: str, label: str) -> list[str]:
    start = table.index(f">{label}</th>")
    row = table[start : table.index("</tr>", start)]
    return re.findall(r"<td[^>]*>([^<]*)</td>", row)


def test_statistics_table_is_agents_evaluation_beside_the_paper(tmp_path, no_synth):
    from agents.sampling import read_jsonl
    from pretrain.checkpoint import default_checkpoint, load_note_rnn
    from sequence_tutor.evaluation.table1 import evaluate_samples

    tonic = tmp_path / "tonic.jsonl"
    with open(tonic, "w") as handle:
        for k in range(4):
            tokens = [14] + _melody(k, True)[1:]
            handle.write(json.dumps({"tokens": tokens, "primer": [16], "agent": "psi"}) + "\n")
    other = write_samples(tmp_path / "rnn.jsonl", "note-rnn", 3)
    note_rnn, _ = load_note_rnn(default_checkpoint("lstm"))
    result = build_report(
        [tonic, other], tmp_path / "out", n_compositions=1, engraver=None, note_rnn=note_rnn
    )
    html = result.page.read_text()
    table = html[html.index('<table class="statistics" id="table1"') : html.index("</table>")]
    assert re.findall(r'<th scope="col"[^>]*>(?:<span[^>]*></span>)?([^<]+)</th>', table) == [
        "statistic", "note-rnn", "psi", "paper: Note RNN", "paper: Q", "paper: Ψ", "paper: G",
    ]  # fmt: skip
    assert table.count("<tr>") == 1 + 11
    # Note RNN first; psi's compositions all start on the tonic (C4 = token 14)
    assert _row(table, "starts with the tonic")[1:] == [
        "100.0 %",
        "0.9 %",
        "28.8 %",
        "28.7 %",
        "0.0 %",
    ]
    assert _row(table, "notes excessively repeated")[2] == "63.3 %"
    # the same numbers as sequence_tutor.evaluation.table1 computes for the file
    expected = evaluate_samples(read_jsonl(tonic)[0], note_rnn).values
    assert _row(table, "notes not in key")[1] == f"{100 * expected['not_in_key']:.1f} %"
    measures = html[html.index('id="measures"') :]
    measures = measures[: measures.index("</table>")]
    assert "paper" not in measures
    log_p = _row(measures, "mean log p(composition) under the Note RNN")
    assert log_p[1] == f"{expected['log_p']:.2f}"
    assert _row(measures, "compositions") == ["3", "4"]
    assert "<code>key</code>" in measures  # reward-term rows


def test_engraved_scores_come_from_verovio(tmp_path, no_synth):
    pytest.importorskip("verovio", reason='verovio not installed (pip install ".[report]")')
    from sequence_tutor.report.engraving import find_engraver

    samples = write_samples(tmp_path / "s.jsonl", "psi", 2)
    result = build_report([samples], tmp_path / "out", n_compositions=2, engraver=find_engraver())
    assert result.scores == 2
    html = result.page.read_text()
    assert len(re.findall(r'<figure class="score"[^>]*><svg viewBox=', html)) == 2
    assert 'aria-label="score of psi, #1, seed 7, C major"' in html
    assert html.count("Engraved by Verovio") == 2


def test_audio_rendered_by_fluidsynth(tmp_path, quick_synth):
    synthesizer = quick_synth
    if synthesizer is None:
        pytest.skip(
            "FluidSynth or a GM soundfont not installed (apt-get install fluidsynth "
            "fluid-soundfont-gm)"
        )
    from pretrain.tokenizer import write_melody

    midi = write_melody(_melody(3, True), tmp_path / "m.mid")
    audio, mime = synthesizer.render(midi, tmp_path / "m")
    assert mime in ("audio/ogg", "audio/wav")
    data = audio.read_bytes()
    assert data[:4] in (b"OggS", b"RIFF") and len(data) > 5000


def test_curves_from_tensorboard_events_and_a_note_without(tmp_path, no_synth):
    from torch.utils.tensorboard import SummaryWriter

    run = tmp_path / "run"
    write_samples((run.mkdir() or run) / "samples.jsonl", "psi", 1)
    writer = SummaryWriter(str(run / "DQN_1"))
    for step in range(5):
        writer.add_scalar("rollout/reward_terms/key", -1.0 + 0.2 * step, step * 100)
        writer.add_scalar("rollout/reward_terms/note_rnn", -3.0 + 0.1 * step, step * 100)
        writer.add_scalar("train/loss", 1.0, step * 100)
    writer.close()
    curves = find_curves(run)
    assert sorted(c.tag for c in curves) == [
        "rollout/reward_terms/key",
        "rollout/reward_terms/note_rnn",
    ]
    assert curves[0].steps == (0.0, 100.0, 200.0, 300.0, 400.0)

    bare = tmp_path / "bare"
    write_samples((bare.mkdir() or bare) / "samples.jsonl", "q", 1)
    result = build_report([run, bare], tmp_path / "out", n_compositions=1, engraver=None)
    page = count(result.page)
    assert page.classes["figure.curves"] == 1
    assert page.classes["p.no-curves"] == 1
    assert "has no TensorBoard event files" in result.page.read_text()

    silent = tmp_path / "silent"  # logged nothing yet (fewer steps than the log interval)
    write_samples((silent.mkdir() or silent) / "samples.jsonl", "g", 1)
    SummaryWriter(str(silent / "tensorboard" / "run_1")).close()
    result = build_report([silent], tmp_path / "out2", n_compositions=1, engraver=None)
    assert "event files but no reward scalars" in result.page.read_text()


def test_curves_from_sb3_progress_csv(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "progress.csv").write_text(
        "time/total_timesteps,rollout/reward_terms/key,train/loss\n100,-1.0,0.5\n200,,0.4\n300,-0.5,0.3\n"
    )
    (run / "evaluation.csv").write_text("statistic,value\nnotes not in key,0.1\n")
    curves = find_curves(run)
    assert [(c.tag, c.steps, c.values) for c in curves] == [
        ("rollout/reward_terms/key", (100.0, 300.0), (-1.0, -0.5))
    ]


def test_composition_details():
    from sequence_tutor.report.statistics import composition_details

    details = dict(composition_details(np.array([14, 1, 15, 0, 26, 1]), "C major"))
    assert details == {"notes": "3", "range": "C4–C5", "not in key": "1 of 3"}
    assert dict(composition_details(np.array([0, 1, 1]), "C major"))["notes"] == "0 (silence)"


def test_train_run_folder_layout(tmp_path):
    """`sequence-tutor train --out RUN` writes RUN/samples/<agent>.jsonl for both agents."""
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    write_samples(run / "samples" / "psi.jsonl", "psi", 2)
    write_samples(run / "samples" / "note_rnn.jsonl", "note_rnn", 2)
    (run / "checkpoints").mkdir()
    sets = order_for_comparison(load_inputs([run]))
    assert [s.agent for s in sets] == ["note_rnn", "psi"]
    assert all(s.run_dir == run for s in sets)


def test_without_verovio_the_page_says_so(tmp_path, monkeypatch, no_synth):
    import sys

    from sequence_tutor.report.build import INSTALL_ENGRAVER_HINT
    from sequence_tutor.report.engraving import find_engraver

    monkeypatch.setitem(sys.modules, "verovio", None)  # import verovio -> ImportError
    assert find_engraver() is None
    samples = write_samples(tmp_path / "s.jsonl", "psi", 1)
    result = build_report([samples], tmp_path / "out", n_compositions=1, engraver=None)
    page = count(result.page)
    assert "figure.score" not in page.classes
    assert INSTALL_ENGRAVER_HINT in page.notices and result.scores == 0


def test_failing_synthesizer_is_one_error_and_no_page(tmp_path, capsys):
    from sequence_tutor.report.audio import Synthesizer

    broken = tmp_path / "fluidsynth"
    broken.write_text("#!/bin/sh\necho 'fluidsynth: error: cannot load soundfont' >&2\nexit 1\n")
    broken.chmod(0o755)
    font = tmp_path / "font.sf2"
    font.write_bytes(b"not a soundfont")
    samples = write_samples(tmp_path / "s.jsonl", "psi", 2)
    with pytest.raises(SequenceTutorError, match=r"fluidsynth: rendering psi-000\.mid .*failed"):
        build_report(
            [samples], tmp_path / "out", n_compositions=2, synthesizer=Synthesizer(broken, font)
        )
    assert not (tmp_path / "out" / "index.html").exists()
