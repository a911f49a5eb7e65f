"""Assemble a report: read inputs, render audio, engrave scores, draw piano rolls, write the page.

Work happens in a private temporary folder; the finished ``index.html`` is moved into the
output folder in one atomic rename at the very end, so an interrupted or failed run never leaves
a page that looks complete (nor clobbers the previous report).
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from pretrain.errors import SequenceTutorError
from pretrain.vocabulary import DEFAULT_VOCABULARY, Vocabulary
from sequence_tutor.report import statistics as report_statistics
from sequence_tutor.report.audio import Synthesizer
from sequence_tutor.report.curves import find_curves, plot_curves
from sequence_tutor.report.engraving import Engraver, write_score_musicxml
from sequence_tutor.report.inputs import Composition, SampleSet, load_inputs
from sequence_tutor.report.page import (
    AGENT_COLOURS,
    CompositionView,
    CurvesView,
    ReportContent,
    render_page,
)
from sequence_tutor.report.pairing import order_for_comparison, pair_compositions
from sequence_tutor.report.pianoroll import piano_roll_png

__all__ = ["ReportResult", "build_report", "check_output_folder"]

INSTALL_AUDIO_HINT = (
    "No audio players: FluidSynth and a General MIDI soundfont were not found "
    "(Debian/Ubuntu: sudo apt-get install fluidsynth fluid-soundfont-gm); "
    "use the MIDI links instead."
)
INSTALL_ENGRAVER_HINT = (
    'No engraved scores: Verovio is not installed (pip install "sequence-tutor-gym[report]").'
)


@dataclass
class ReportResult:
    """What :func:`build_report` wrote."""

    page: Path
    agents: list[str]
    compositions: int
    audio: int
    scores: int
    notices: list[str] = field(default_factory=list)


def check_output_folder(out: Path) -> None:
    """Create ``out`` if needed and prove we can write there, before any slow work."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise SequenceTutorError(
            f"--out {out}: cannot write the report there ({error.strerror or error})"
        ) from error
    if (out / "index.html").is_dir():
        raise SequenceTutorError(f"--out {out}: index.html there is a folder, expected a file")


def _composition_caption(composition: Composition) -> str:
    seed = f", seed {composition.seed}" if composition.seed is not None else ""
    return f"#{composition.index}{seed}, {composition.key}"


def _primer_text(primer: tuple[int, ...], vocabulary: Vocabulary) -> str:
    if not primer:
        return "no primer"
    from music21 import pitch

    names = []
    for token in primer[-4:]:
        if vocabulary.is_note(token):
            names.append(pitch.Pitch(midi=vocabulary.token_to_pitch(token)).nameWithOctave)
        else:
            names.append({0: "rest", 1: "hold"}.get(token, str(token)))
    more = "… " if len(primer) > 4 else ""
    return "primer " + more + " ".join(names)


def _composition_view(
    composition: Composition,
    label: str,
    colour: str,
    work: Path,
    audio_pool: ThreadPoolExecutor | None,
    synthesizer: Synthesizer | None,
    engraver: Engraver | None,
    vocabulary: Vocabulary,
) -> tuple[CompositionView, Future | None]:
    """The composition's view (audio still missing) and the pending audio rendering, if any."""
    from pretrain.tokenizer import write_melody

    stem = f"{_slug(label)}-{composition.index:03d}"
    try:
        midi = write_melody(composition.tokens, work / f"{stem}.mid", vocabulary, composition.key)
        musicxml = write_score_musicxml(
            composition.tokens, work / f"{stem}.musicxml", vocabulary, composition.key
        )
    except SequenceTutorError as error:  # e.g. an unknown key name
        raise SequenceTutorError(
            f"{composition.source} line {composition.line}: {error}"
        ) from error
    pending = None
    if synthesizer is not None and audio_pool is not None:
        pending = audio_pool.submit(synthesizer.render, midi, work / stem)
    score = engraver.engrave(musicxml) if engraver is not None else None
    view = CompositionView(
        agent=label,
        colour=colour,
        caption=_composition_caption(composition),
        audio=None,
        midi=midi.read_bytes(),
        musicxml=musicxml.read_bytes(),
        score_svg=score,
        piano_roll_png=piano_roll_png(
            composition.tokens, vocabulary, key=composition.key, primer=composition.primer
        ),
        file_stem=stem,
        details=report_statistics.composition_details(
            composition.tokens, composition.key, vocabulary
        ),
    )
    return view, pending


def _slug(text: str) -> str:
    kept = "".join(c if c.isalnum() else "-" for c in text.lower())
    return "-".join(part for part in kept.split("-") if part) or "agent"


def _curves(sets: list[SampleSet]) -> list[CurvesView]:
    views, seen = [], set()
    for sample_set in sets:
        run_dir = sample_set.run_dir
        if run_dir is None or run_dir in seen:
            continue
        seen.add(run_dir)
        curves = find_curves(run_dir)
        if any(run_dir.rglob("events.out.tfevents.*")):
            why = "has TensorBoard event files but no reward scalars in them (yet)"
        else:
            why = "has no TensorBoard event files or progress CSV with reward terms"
        if curves:
            views.append(CurvesView(str(run_dir), plot_curves(curves)))
        else:
            views.append(CurvesView(str(run_dir), None, f"No learning curves: {run_dir} {why}."))
    return views


def build_report(
    inputs: list[str | Path],
    out: str | Path,
    *,
    n_compositions: int = 4,
    synthesizer: Synthesizer | None = None,
    engraver: Engraver | None = None,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    note_rnn=None,
    audio_notice: str = INSTALL_AUDIO_HINT,
    title: str = "Sequence Tutor report",
    progress=None,
) -> ReportResult:
    """Write ``out/index.html`` for the given run folders and sample files.

    ``synthesizer`` None: MIDI links instead of audio players (with a notice). ``engraver``
    None: no scores (with a notice). ``audio_notice`` is the notice shown without a synthesizer.
    ``note_rnn`` (a :class:`~pretrain.models.NoteRNN`) scores
    log p(composition) in the statistics; None leaves that row out. ``progress`` is called with
    a short message per step.
    """
    if n_compositions < 1:
        raise SequenceTutorError(f"--n-compositions {n_compositions}: expected at least 1")
    if not inputs:
        raise SequenceTutorError("no inputs: give run folders or sample files (.jsonl)")
    out_dir = Path(out)
    sets = order_for_comparison(load_inputs(list(inputs), vocabulary))
    check_output_folder(out_dir)
    say = progress or (lambda message: None)

    notices = []
    if synthesizer is None:
        notices.append(audio_notice)
    if engraver is None:
        notices.append(INSTALL_ENGRAVER_HINT)
    tools = [
        synthesizer.describe() if synthesizer else "audio: none",
        engraver.describe() if engraver else "engraver: none",
    ]
    colours = {s.label: AGENT_COLOURS[i % len(AGENT_COLOURS)] for i, s in enumerate(sets)}

    say("statistics")
    table = report_statistics.statistics_table(sets, note_rnn, vocabulary)
    say("learning curves")
    curves = _curves(sets)

    rows = pair_compositions(sets, n_compositions)
    content = ReportContent(
        title=title,
        inputs=[str(p) for p in inputs],
        tools=tools,
        notices=notices,
        statistics=table,
        curves=curves,
        columns=[(s.label, colours[s.label]) for s in sets],
        generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )
    audio_count = score_count = composition_count = 0
    pending: list[tuple[int, int, Future]] = []
    # FluidSynth runs as a separate process: render while music21 and Verovio work on the next.
    with (
        tempfile.TemporaryDirectory(prefix="sequence-tutor-report-") as scratch,
        ThreadPoolExecutor(max_workers=max(1, min(4, (os.cpu_count() or 2)))) as audio_pool,
    ):
        work = Path(scratch)
        for row in rows:
            say(f"composition {row.index + 1}/{len(rows)}")
            views: list[CompositionView | None] = []
            for sample_set, composition in zip(sets, row.cells):
                if composition is None:
                    views.append(None)
                    continue
                view, audio = _composition_view(
                    composition,
                    sample_set.label,
                    colours[sample_set.label],
                    work,
                    audio_pool,
                    synthesizer,
                    engraver,
                    vocabulary,
                )
                if audio is not None:
                    pending.append((len(content.rows), len(views), audio))
                composition_count += 1
                score_count += view.score_svg is not None
                views.append(view)
            first = row.cells[0]
            heading = f"Composition {row.index + 1}"
            if first is not None:
                heading += f" · {_primer_text(first.primer, vocabulary)}"
            if not row.same_primer:
                heading += " · primers differ between agents"
            content.rows.append((heading, views))
        if pending:
            say("audio")
        for row_index, column, audio in pending:
            rendered, mime = audio.result()  # re-raises a rendering error here
            view = content.rows[row_index][1][column]
            content.rows[row_index][1][column] = replace(view, audio=(rendered.read_bytes(), mime))
            audio_count += 1
        page_text = render_page(content)

    from pretrain.atomic_write import atomic_write_text

    page = out_dir / "index.html"
    try:
        atomic_write_text(page, page_text)
    except OSError as error:
        raise SequenceTutorError(
            f"--out {out_dir}: could not write {page.name} ({error.strerror or error})"
        ) from error
    return ReportResult(
        page, [s.label for s in sets], composition_count, audio_count, score_count, notices
    )
