"""``sequence-tutor report``: one static HTML page to listen to and look at what agents compose."""

from __future__ import annotations

import argparse
import sys

HELP = "write an HTML report (statistics, learning curves, audio, scores, piano rolls)"
DESCRIPTION = (
    "Write one self-contained HTML page (no server, no network) for train run folders and/or "
    "sample files: the paper's Table 1 statistics side by side with the paper's columns, "
    "reward-term learning curves from the runs' TensorBoard logs, and for a few compositions of "
    "each agent an audio player, the engraved score and a piano roll, compositions from the same "
    "primer next to each other. Audio needs FluidSynth and a General MIDI soundfont "
    "(apt-get install fluidsynth fluid-soundfont-gm); scores need Verovio "
    '(pip install "sequence-tutor-gym[report]"). Without them the page still renders, with MIDI '
    "links and a notice."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="RUN_DIR_OR_SAMPLES",
        help="run folders of `sequence-tutor train` (their samples/*.jsonl hold the tuned agent "
        "and the Note RNN) or sample files of `sequence-tutor sample`",
    )
    parser.add_argument("--out", default="report", help="output folder; the page is OUT/index.html")
    parser.add_argument(
        "--n-compositions",
        type=int,
        default=4,
        metavar="K",
        help="compositions shown per agent",
    )
    parser.add_argument(
        "--soundfont",
        default=None,
        help="General MIDI soundfont (.sf2/.sf3) for FluidSynth; None: the system's GM "
        "soundfont, e.g. /usr/share/sounds/sf2/FluidR3_GM.sf2",
    )
    parser.add_argument(
        "--no-audio", action="store_true", help="skip audio rendering (MIDI links only)"
    )
    parser.add_argument(
        "--note-rnn",
        default="lstm",
        metavar="CKPT",
        help="Note RNN that scores log p(composition) in the statistics: a checkpoint path "
        "(without suffix), 'lstm'/'rhn' for a shipped one, or 'none'",
    )


def run(args: argparse.Namespace) -> int:
    from sequence_tutor.report.audio import find_synthesizer
    from sequence_tutor.report.build import build_report
    from sequence_tutor.report.engraving import find_engraver

    synthesizer = None if args.no_audio else find_synthesizer(soundfont=args.soundfont)
    engraver = find_engraver()
    note_rnn = _load_note_rnn(args.note_rnn)
    result = build_report(
        args.inputs,
        args.out,
        n_compositions=args.n_compositions,
        synthesizer=synthesizer,
        engraver=engraver,
        note_rnn=note_rnn,
        **(
            {"audio_notice": "No audio players (--no-audio): use the MIDI links."}
            if args.no_audio
            else {}
        ),
        progress=lambda message: print(f"report: {message}", file=sys.stderr, flush=True),
    )
    for notice in result.notices:
        print(f"note: {notice}", file=sys.stderr)
    print(
        f"wrote {result.page} ({', '.join(result.agents)}: {result.compositions} compositions, "
        f"{result.audio} with audio, {result.scores} engraved)"
    )
    return 0


def _load_note_rnn(name: str):
    if name == "none":
        return None
    import torch

    from pretrain.checkpoint import DEFAULT_CHECKPOINTS, default_checkpoint, load_note_rnn

    torch.set_num_threads(1)  # 2-core machines: more threads stall (DESIGN.md)
    path = default_checkpoint(name) if name in DEFAULT_CHECKPOINTS else name
    model, _ = load_note_rnn(path)
    return model
