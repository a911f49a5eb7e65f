"""The report as a person sees it: opened in headless Chromium, screenshotted, counted.

Skipped where Chromium is not installed (Debian: ``apt-get install chromium``); CI installs it.
"""

from __future__ import annotations

import pytest

from sequence_tutor.report.audio import find_synthesizer
from sequence_tutor.report.build import INSTALL_AUDIO_HINT, build_report
from sequence_tutor.report.engraving import find_engraver
from tests.support.browser import check_page, find_chromium
from tests.test_report import quick_synthesizer, write_samples

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="Chromium is not installed (Debian/Ubuntu: apt-get install chromium); "
    "the report's browser check needs it",
)


def _inputs(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    write_samples(run / "samples.jsonl", "psi", 3, in_key=True)
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run / "DQN_1"))
    for step in range(4):
        writer.add_scalar("rollout/reward_terms/motif", 0.5 * step, 100 * step)
    writer.close()
    return [write_samples(tmp_path / "note_rnn.jsonl", "note-rnn", 3), run]


def test_full_report_in_chromium(tmp_path, monkeypatch):
    engraver = find_engraver()
    synthesizer = quick_synthesizer(monkeypatch)
    result = build_report(
        _inputs(tmp_path),
        tmp_path / "report",
        n_compositions=2,
        synthesizer=synthesizer,
        engraver=engraver,
    )
    shot = tmp_path / "shot.png"
    seen = check_page(result.page, screenshot=shot)

    assert seen.console_errors == []
    assert seen.requests == []  # nothing fetched from anywhere: the page is self-contained
    counts = seen.counts
    assert counts["compositions"] == 4
    assert counts["piano_rolls"] == 4 and counts["broken_images"] == 0
    assert counts["tables"] == 2 and counts["table1_rows"] == 11
    assert counts["curves"] == 1
    assert counts["midi_links"] == 4
    if engraver is not None:
        assert counts["scores"] == 4
    if synthesizer is not None:
        assert counts["audio"] == 4
        assert counts["audio_playable"] == 4  # Chromium decoded every file
        assert all(2.0 < seconds < 20.0 for seconds in counts["audio_seconds"])  # 32 steps ≈ 4 s
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_report_without_synthesizer_in_chromium(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQUENCE_TUTOR_FLUIDSYNTH", "")
    result = build_report(
        [write_samples(tmp_path / "psi.jsonl", "psi", 2)],
        tmp_path / "report",
        n_compositions=2,
        synthesizer=find_synthesizer(),
        engraver=None,
    )
    seen = check_page(result.page)
    assert seen.console_errors == [] and seen.requests == []
    assert seen.counts["audio"] == 0 and seen.counts["midi_links"] == 2
    assert INSTALL_AUDIO_HINT in seen.counts["notices"]


def test_console_errors_and_outside_requests_are_caught(tmp_path):
    """The check itself: a page that misbehaves must not pass."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><body><table></table>"
        "<script>console.error('broken on purpose')</script>"
        '<img src="http://192.0.2.1/x.png"></body></html>'
    )
    seen = check_page(page)
    assert any("broken on purpose" in e for e in seen.console_errors)
    assert seen.requests == ["http://192.0.2.1/x.png"]
    assert seen.counts["tables"] == 1 and seen.counts["broken_images"] == 1
