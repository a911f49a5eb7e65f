"""Hostile melody files against ``read_melody`` and ``load_corpus`` (the ``pretrain --data`` path).

Each case runs in a forked child with 1 GiB of address-space headroom and a deadline, so a loader
that allocates per sixteenth of a 10**9-quarter note, slurps a 4 GiB sparse file, inflates a zip
bomb or blocks on a FIFO fails the test instead of the machine.
"""

from __future__ import annotations

import pytest

from tests.security import hostile
from tests.security.bounded import run_bounded

MELODY_ERRORS = ("MelodyError", "SequenceTutorError")
MAX_TOKENS = 1_000_000  # sixteenths; no real tune is within two orders of magnitude of this


def _summary(tokens) -> list[int]:
    return [len(tokens), int(tokens.min()), int(tokens.max())]


@pytest.mark.parametrize("case", hostile.MELODIES, ids=[h.name for h in hostile.MELODIES])
def test_read_melody_refuses_or_reads_safely(tmp_path, case):
    from pretrain.tokenizer import read_melody  # noqa: PLC0415

    folder = tmp_path / "in"
    folder.mkdir()
    marker = tmp_path / hostile.MARKER_NAME
    path = case.build(folder, marker)
    before = hostile.snapshot(tmp_path)
    outcome = run_bounded(lambda: _summary(read_melody(path)), headroom_mb=1024, timeout_s=60)
    assert outcome.status in ("returned", "raised"), outcome.message
    if outcome.status == "raised":
        assert outcome.error_type in MELODY_ERRORS, f"{outcome.error_type}: {outcome.message}"
        assert path.name in outcome.message and outcome.one_line
    else:
        length, low, high = outcome.value
        assert 0 < length <= MAX_TOKENS and 0 <= low <= high < 38
    assert not marker.exists()
    assert hostile.snapshot(tmp_path) == before
    assert not list(tmp_path.parent.rglob(hostile.ESCAPE_NAME))


@pytest.mark.parametrize("case", hostile.MELODIES, ids=[h.name for h in hostile.MELODIES])
def test_corpus_skips_hostile_file_among_good_ones(tmp_path, case):
    """``load_corpus`` keeps the good tune, skips (and counts) the hostile file, writes only its
    cache, and stays inside the memory ceiling."""
    from pretrain.corpus import load_corpus  # noqa: PLC0415

    folder = tmp_path / "data"
    folder.mkdir()
    cache = tmp_path / "cache"
    case.build(folder, tmp_path / hostile.MARKER_NAME)
    (folder / "good.abc").write_text(hostile.ABC_GOOD)
    before = hostile.snapshot(tmp_path)

    def load():
        corpus = load_corpus(folder, cache_dir=cache, workers=1, progress=False)
        return {
            "kept": corpus.report.kept,
            "skipped": corpus.report.skipped,
            "longest": max(len(t) for t in corpus.train + corpus.valid),
        }

    outcome = run_bounded(load, headroom_mb=1024, timeout_s=90)
    assert outcome.status == "returned", f"{outcome.status} {outcome.error_type}: {outcome.message}"
    assert 1 <= outcome.value["kept"] <= 2
    assert outcome.value["longest"] <= MAX_TOKENS
    assert hostile.changed(before, hostile.snapshot(tmp_path), allowed=["cache"]) == []
    assert not (tmp_path / hostile.MARKER_NAME).exists()
    assert not list(tmp_path.parent.rglob(hostile.ESCAPE_NAME))


def test_corpus_of_only_hostile_files_is_one_line_error(tmp_path):
    from pretrain.corpus import load_corpus  # noqa: PLC0415
    from pretrain.errors import SequenceTutorError  # noqa: PLC0415

    folder = tmp_path / "data"
    folder.mkdir()
    for build in (hostile.midi_random, hostile.musicxml_billion_laughs, hostile.abc_random):
        build(folder)
    with pytest.raises(SequenceTutorError, match="no usable melody in .*data") as info:
        load_corpus(folder, cache_dir=tmp_path / "cache", workers=1, progress=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
