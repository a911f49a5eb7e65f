"""The report's HTML: one static page, every asset inlined (data URIs and inline SVG), no script.

Built from plain data (:class:`ReportContent`) so that it can be tested without music tooling;
:mod:`sequence_tutor.report.build` fills that data in. All text from inputs is escaped.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field

__all__ = [
    "CompositionView",
    "CurvesView",
    "ReportContent",
    "StatisticsTable",
    "data_uri",
    "render_page",
]

GENERATOR = "sequence-tutor report"
AGENT_COLOURS = ("#2a6fb0", "#c0392b", "#27864a", "#8e44ad", "#b9770e", "#16a085")


def data_uri(data: bytes, mime: str) -> str:
    """``data:`` URI of ``data`` (base64)."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


@dataclass(frozen=True)
class StatisticsTable:
    """Rows of Table 1: a label, one cell per agent, then the paper's reference cells."""

    agents: tuple[str, ...]
    reference_columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]
    caption: str = ""
    table1_rows: int | None = None
    """How many leading rows are the paper's Table 1 (the rest: other measurements)."""


@dataclass(frozen=True)
class CurvesView:
    """Learning curves of one run folder: a PNG, or a note saying why there is none."""

    title: str
    png: bytes | None
    note: str = ""


@dataclass(frozen=True)
class CompositionView:
    """Everything shown for one composition."""

    agent: str
    colour: str
    caption: str
    audio: tuple[bytes, str] | None
    """Rendered audio and its MIME type, or None (then the MIDI link stands in)."""
    midi: bytes
    musicxml: bytes
    score_svg: str | None
    piano_roll_png: bytes
    file_stem: str
    details: tuple[tuple[str, str], ...] = ()


@dataclass
class ReportContent:
    """The whole report as data."""

    title: str
    inputs: list[str]
    tools: list[str]
    notices: list[str]
    statistics: StatisticsTable | None
    curves: list[CurvesView]
    rows: list[tuple[str, list[CompositionView | None]]] = field(default_factory=list)
    columns: list[tuple[str, str]] = field(default_factory=list)
    """(agent label, colour) of each composition column, in order."""
    generated: str = ""


_CSS = """
:root { --ink: #1d2330; --muted: #5b6474; --rule: #d8dde6; --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); background: var(--bg); }
header, main > section, footer { max-width: 1400px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 20px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 28px 0 10px; border-bottom: 2px solid var(--rule); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 8px; color: var(--muted); font-weight: 600; }
h4 { margin: 0 0 6px; font-size: 15px; }
.meta { color: var(--muted); margin: 2px 0; font-size: 13px; }
.notice { background: #fff4d6; border: 1px solid #e8c66a; border-radius: 6px; padding: 6px 10px;
          margin: 8px 0; font-size: 14px; }
table.statistics { border-collapse: collapse; background: #fff; font-size: 14px;
                   font-variant-numeric: tabular-nums; }
table.statistics th, table.statistics td { border: 1px solid var(--rule); padding: 4px 10px;
                                           text-align: right; }
table.statistics th:first-child, table.statistics td:first-child { text-align: left; }
table.statistics thead th { background: #eef1f5; }
table.statistics .paper { color: var(--muted); background: #fafbfc; }
#measures { font-size: 13px; }
#measures th[scope=row] { font-weight: 500; }
table.statistics caption { caption-side: bottom; text-align: left; color: var(--muted);
                           font-size: 12px; padding-top: 6px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; }
figure { margin: 0; }
figure.curves img { max-width: 100%; background: #fff; border: 1px solid var(--rule); }
.comparison { display: grid; gap: 14px; }
.composition { background: #fff; border: 1px solid var(--rule); border-top: 4px solid var(--agent);
               border-radius: 6px; padding: 10px 12px; min-width: 0; }
.composition.missing { color: var(--muted); border-top-color: var(--rule); }
.composition audio { width: 100%; height: 36px; margin: 4px 0; }
.score > svg { width: 100%; height: auto; display: block; }
.score { margin: 4px 0; }
/* every roll the same size whatever the melody's length, so neighbours compare at a glance */
img.piano-roll { width: 100%; height: 220px; object-fit: fill; display: block;
                 border: 1px solid var(--rule); image-rendering: pixelated; }
.links { font-size: 13px; margin: 6px 0 0; }
.links a { margin-right: 12px; }
dl.details { display: grid; grid-template-columns: auto 1fr; gap: 0 10px; font-size: 12px;
             color: var(--muted); margin: 6px 0 0; }
dl.details dt { font-weight: 600; } dl.details dd { margin: 0; }
footer { color: var(--muted); font-size: 12px; padding: 24px; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _code_spans(escaped: str) -> str:
    """Markdown-style `code` in (already escaped) labels as <code>."""
    return re.sub(r"`([^`<>]+)`", r"<code>\1</code>", escaped)


def _table_html(
    table_id: str,
    agents: tuple[str, ...],
    reference_columns: tuple[str, ...],
    rows,
    colours: dict[str, str],
    caption: str,
) -> list[str]:
    out = [f'<table class="statistics" id="{table_id}">']
    if caption:
        out.append(f"<caption>{_e(caption)}</caption>")
    out.append('<thead><tr><th scope="col">statistic</th>')
    for agent in agents:
        swatch = f'<span class="swatch" style="background:{colours.get(agent, "#888")}"></span>'
        out.append(f'<th scope="col">{swatch}{_e(agent)}</th>')
    for name in reference_columns:
        out.append(f'<th scope="col" class="paper">paper: {_e(name)}</th>')
    out.append("</tr></thead><tbody>")
    for label, cells, reference in rows:
        out.append(f'<tr><th scope="row">{_code_spans(_e(label))}</th>')
        out.extend(f"<td>{_e(c)}</td>" for c in cells)
        out.extend(f'<td class="paper">{_e(c)}</td>' for c in reference[: len(reference_columns)])
        out.append("</tr>")
    out.append("</tbody></table>")
    return out


def _statistics_html(table: StatisticsTable, colours: dict[str, str]) -> list[str]:
    """Table 1 beside the paper's columns; then the other measurements (the paper has none)."""
    split = len(table.rows) if table.table1_rows is None else table.table1_rows
    out = _table_html(
        "table1", table.agents, table.reference_columns, table.rows[:split], colours, table.caption
    )
    if table.rows[split:]:
        out.append("<h3>Also measured</h3>")
        out += _table_html("measures", table.agents, (), table.rows[split:], colours, "")
    return out


def _composition_html(view: CompositionView | None, column: tuple[str, str]) -> list[str]:
    agent, colour = column
    if view is None:
        return [
            f'<article class="composition missing" style="--agent:{colour}">'
            f"<h4>{_e(agent)}</h4><p>No composition to pair with this one.</p></article>"
        ]
    out = [
        f'<article class="composition" data-agent="{_e(view.agent)}" style="--agent:{view.colour}">',
        f"<h4>{_e(view.agent)}</h4>",
        f'<p class="meta">{_e(view.caption)}</p>',
    ]
    midi_uri = data_uri(view.midi, "audio/midi")
    if view.audio is not None:
        audio, mime = view.audio
        out.append(
            f'<audio controls preload="metadata" src="{data_uri(audio, mime)}" '
            f'aria-label="{_e(view.agent)}: {_e(view.caption)}"></audio>'
        )
    if view.score_svg is not None:
        out.append(
            f'<figure class="score" role="img" aria-label="score of {_e(view.agent)}, '
            f'{_e(view.caption)}">{view.score_svg}</figure>'
        )
    out.append(
        f'<img class="piano-roll" alt="piano roll of {_e(view.agent)}, {_e(view.caption)}" '
        f'src="{data_uri(view.piano_roll_png, "image/png")}">'
    )
    out.append('<p class="links">')
    out.append(f'<a class="midi" download="{_e(view.file_stem)}.mid" href="{midi_uri}">MIDI</a>')
    xml_uri = data_uri(view.musicxml, "application/vnd.recordare.musicxml+xml")
    out.append(
        f'<a class="musicxml" download="{_e(view.file_stem)}.musicxml" href="{xml_uri}">MusicXML</a>'
    )
    out.append("</p>")
    if view.details:
        out.append('<dl class="details">')
        for name, value in view.details:
            out.append(f"<dt>{_e(name)}</dt><dd>{_e(value)}</dd>")
        out.append("</dl>")
    out.append("</article>")
    return out


def render_page(content: ReportContent) -> str:
    """The complete HTML document."""
    colours = dict(content.columns)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="{GENERATOR}">',
        # No script, no remote anything: the page works from a file, offline, and says so.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; media-src data:; font-src data:; style-src 'unsafe-inline'\">",
        f"<title>{_e(content.title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<header>",
        f"<h1>{_e(content.title)}</h1>",
    ]
    for given in content.inputs:
        out.append(f'<p class="meta">input: <code>{_e(given)}</code></p>')
    if content.tools:
        out.append(f'<p class="meta">{_e("; ".join(content.tools))}</p>')
    if content.generated:
        out.append(f'<p class="meta">generated {_e(content.generated)}</p>')
    for notice in content.notices:
        out.append(f'<p class="notice" role="note">{_e(notice)}</p>')
    out.append("</header><main>")

    out.append('<section id="statistics"><h2>Table 1 statistics</h2>')
    if content.statistics is not None:
        out.extend(_statistics_html(content.statistics, colours))
    else:
        out.append('<p class="notice">No statistics available.</p>')
    out.append("</section>")

    out.append('<section id="curves"><h2>Reward-term learning curves</h2>')
    if not content.curves:
        out.append(
            '<p class="meta">No run folders among the inputs (sample files carry no curves).</p>'
        )
    for view in content.curves:
        out.append(f"<h3>{_e(view.title)}</h3>")
        if view.png is not None:
            out.append(
                f'<figure class="curves"><img alt="reward-term learning curves of {_e(view.title)}" '
                f'src="{data_uri(view.png, "image/png")}"></figure>'
            )
        else:
            out.append(f'<p class="meta no-curves">{_e(view.note)}</p>')
    out.append("</section>")

    out.append('<section id="compositions"><h2>Compositions</h2>')
    if len(content.columns) > 1:
        out.append(
            '<p class="meta">Each row: compositions of every agent from the same primer, '
            "side by side.</p>"
        )
    grid = f"grid-template-columns: repeat({max(1, len(content.columns))}, minmax(280px, 680px))"
    for heading, views in content.rows:
        out.append(f'<div class="row"><h3>{_e(heading)}</h3>')
        out.append(f'<div class="comparison" style="{grid}">')
        for view, column in zip(views, content.columns):
            out.extend(_composition_html(view, column))
        out.append("</div></div>")
    out.append("</section></main>")
    out.append(
        f"<footer>Written by <code>{GENERATOR}</code>. Self-contained: no network needed.</footer>"
    )
    out.append("</body></html>")
    return "\n".join(out) + "\n"
