"""Read the compositions a report shows: sample files (JSON Lines) and train run folders.

A sample file has one composition per line, in the format of ``sequence-tutor sample``::

    {"tokens": [int, ...], "primer": [int, ...], "key": "C major", "agent": "...", "seed": int}

A run folder is searched for ``samples.jsonl`` (or, failing that, any ``*.jsonl``) at its top
level and one level down. Every problem a user can cause raises
:class:`~pretrain.errors.SequenceTutorError` naming the file (and line) at fault.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pretrain.errors import SequenceTutorError
from pretrain.vocabulary import DEFAULT_VOCABULARY, Vocabulary
from rewards.keys import key_tables

__all__ = ["Composition", "SampleSet", "find_sample_files", "load_inputs", "read_sample_file"]

SAMPLE_FILE_NAME = "samples.jsonl"
MAX_SAMPLE_FILE_BYTES = 200_000_000
"""Sample files larger than this are refused unread (a report shows a handful of lines)."""


@dataclass(frozen=True)
class Composition:
    """One sampled melody: ``tokens`` are the composition steps, the primer excluded."""

    tokens: np.ndarray
    primer: tuple[int, ...]
    key: str
    agent: str
    seed: int | None
    index: int
    """Position among this agent's compositions in its file (0-based)."""
    source: Path
    line: int


@dataclass
class SampleSet:
    """The compositions of one agent read from one input."""

    agent: str
    source: Path
    """The sample file the compositions came from."""
    run_dir: Path | None
    """The run folder given on the command line, if the input was one (for learning curves)."""
    compositions: list[Composition] = field(default_factory=list)
    label: str = ""
    """Name shown in the report; unique across the report (``agent`` unless two inputs clash)."""


def find_sample_files(run_dir: Path) -> list[Path]:
    """The sample files of a run folder, or raise naming the folder."""
    for folder in (run_dir, *sorted(p for p in run_dir.iterdir() if p.is_dir())):
        if (folder / SAMPLE_FILE_NAME).is_file():
            return [folder / SAMPLE_FILE_NAME]
    found = sorted(run_dir.glob("*.jsonl")) or sorted(run_dir.glob("*/*.jsonl"))
    if not found:
        raise SequenceTutorError(
            f"{run_dir}: no samples in this folder (expected {SAMPLE_FILE_NAME} or another "
            "*.jsonl file; write one with `sequence-tutor sample --out FILE.jsonl`)"
        )
    return found


def _bad(source: Path, line: int, what: str) -> SequenceTutorError:
    return SequenceTutorError(f"{source} line {line}: {what}")


def _int_list(value: object, source: Path, line: int, name: str) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise _bad(source, line, f'"{name}" must be a list of integers, got {value!r:.60}')
    return value


def read_sample_file(
    path: str | Path, vocabulary: Vocabulary = DEFAULT_VOCABULARY
) -> list[Composition]:
    """Every composition of a JSON Lines sample file, validated against ``vocabulary``."""
    source = Path(path)
    compositions: list[Composition] = []
    per_agent: dict[str, int] = {}
    for number, raw in enumerate(_read_text(source).splitlines(), start=1):
        if not raw.strip():
            continue
        fields = _record(raw, source, number, vocabulary)
        agent = fields[3]
        index = per_agent.get(agent, 0)
        per_agent[agent] = index + 1
        compositions.append(Composition(*fields, index, source, number))
    if not compositions:
        raise SequenceTutorError(f"{source}: no compositions in this sample file (it is empty)")
    return compositions


def _read_text(source: Path) -> str:
    try:
        size = source.stat().st_size
        if size > MAX_SAMPLE_FILE_BYTES:
            raise SequenceTutorError(
                f"{source}: {size} bytes, more than the {MAX_SAMPLE_FILE_BYTES} a sample file may have"
            )
        return source.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise SequenceTutorError(f"{source}: not a UTF-8 JSON Lines sample file") from error
    except OSError as error:
        raise SequenceTutorError(
            f"{source}: cannot read sample file ({error.strerror or error})"
        ) from error


def _record(
    raw: str, source: Path, number: int, vocabulary: Vocabulary
) -> tuple[np.ndarray, tuple[int, ...], str, str, int | None]:
    """``(tokens, primer, key, agent, seed)`` of one line, or a one-line error naming it."""
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as error:
        raise _bad(source, number, f"not JSON ({error.msg})") from error
    except RecursionError:  # e.g. "[" nested 100 000 deep
        raise _bad(source, number, "JSON nested too deeply") from None
    if not isinstance(record, dict) or "tokens" not in record:
        raise _bad(source, number, 'expected an object with "tokens", "primer", "key", "agent"')
    tokens = _int_list(record["tokens"], source, number, "tokens")
    if not tokens:
        raise _bad(source, number, '"tokens" is empty')
    primer = _int_list(record.get("primer", []), source, number, "primer")
    try:
        array = vocabulary.check_tokens(tokens, name='"tokens"')
        vocabulary.check_tokens(primer, name='"primer"')
    except ValueError as error:
        raise _bad(source, number, str(error)) from error
    key = record.get("key", "C major")
    agent = record.get("agent", source.stem)
    seed = record.get("seed")
    if not isinstance(key, str) or not isinstance(agent, str) or not agent:
        raise _bad(source, number, '"key" and "agent" must be non-empty strings')
    try:
        key = key_tables(key, vocabulary).name
    except SequenceTutorError as error:
        raise _bad(source, number, str(error)) from error
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise _bad(source, number, f'"seed" must be an integer, got {seed!r:.30}')
    return array, tuple(primer), key, agent, seed


def load_inputs(
    paths: list[str | Path], vocabulary: Vocabulary = DEFAULT_VOCABULARY
) -> list[SampleSet]:
    """One :class:`SampleSet` per (input, agent), in command-line order, with unique labels."""
    sets: list[SampleSet] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            run_dir: Path | None = path
            files = find_sample_files(path)
        elif path.is_file():
            run_dir, files = None, [path]
        else:
            raise SequenceTutorError(
                f"{path}: no such run folder or sample file (expected a folder written by "
                "`sequence-tutor train` or a .jsonl file written by `sequence-tutor sample`)"
            )
        for file in files:
            by_agent: dict[str, SampleSet] = {}
            for composition in read_sample_file(file, vocabulary):
                if composition.agent not in by_agent:
                    by_agent[composition.agent] = SampleSet(composition.agent, file, run_dir)
                by_agent[composition.agent].compositions.append(composition)
            sets.extend(by_agent.values())
    _assign_labels(sets)
    return sets


def _assign_labels(sets: list[SampleSet]) -> None:
    counts: dict[str, int] = {}
    for sample_set in sets:
        counts[sample_set.agent] = counts.get(sample_set.agent, 0) + 1
    seen: dict[str, int] = {}
    for sample_set in sets:
        if counts[sample_set.agent] == 1:
            sample_set.label = sample_set.agent
            continue
        where = sample_set.run_dir.name if sample_set.run_dir else sample_set.source.name
        label = f"{sample_set.agent} ({where})"
        seen[label] = seen.get(label, 0) + 1
        sample_set.label = label if seen[label] == 1 else f"{label} #{seen[label]}"
