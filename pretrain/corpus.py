"""The tokenised melody corpus: music21's bundled folk tunes or a folder of melody files.

:func:`load_corpus` finds the melody files, tokenises every tune in a process pool (ABC through
the fast token path of :mod:`pretrain.abc_reader`, other formats through music21), transposes
each tune to C major or A minor and by octaves into the vocabulary's pitch range, caches the
result on disk, and splits it into training and validation tunes.

Transposition: the key comes from a Krumhansl-Schmuckler key finder with the Aarden-Essen
profiles (music21's default for ``Stream.analyze("key")``), run on the duration-weighted
pitch-class histogram. The ``K:`` field is not used: Essen's gives only the tonic (a G-minor tune
may say ``K:G``). The tune is moved to tonic C (major) or A (minor) by the smaller of the two
directions, then by whole octaves so that it fits the pitch range, as close to the range's
centre as possible.

Cache: ``<cache_dir>/corpus-<fingerprint>.npz``, an uncompressed ``.npz`` (no pickles) holding
every kept tune's tokens as one int8 array, the tune lengths, and a JSON record (names, split
group ids, skip report, content hash). The fingerprint covers the file list with sizes and
modification times plus every tokenizer setting, so checking it costs a few ``stat`` calls;
:attr:`Corpus.hash` is the content hash (the bytes of every source file plus the settings), the
same on every machine. The fingerprint also covers music21's own files, so upgrading the parser
rebuilds the cache. The file is written atomically with fixed zip timestamps, so the same
sources give byte-identical caches.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import math
import os
import time
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from pretrain.errors import SequenceTutorError
from pretrain.tokenizer import (
    MAX_DROPPED_FRACTION,
    MAX_FILE_BYTES,
    Melody,
    MelodyError,
    melody_tokens,
)
from pretrain.vocabulary import DEFAULT_VOCABULARY, NO_EVENT, NOTE_OFF, Vocabulary

__all__ = [
    "DEFAULT_COLLECTIONS",
    "MELODY_SUFFIXES",
    "OFF_GRID_CHOICES",
    "Corpus",
    "CorpusReport",
    "default_cache_dir",
    "find_key",
    "load_corpus",
    "normalise_melody",
]

DEFAULT_COLLECTIONS = ("essenFolksong", "oneills1850", "ryansMammoth", "airdsAirs", "miscFolk")
"""music21's bundled monophonic folk collections (folders of ABC files under ``music21/corpus``)."""
MELODY_SUFFIXES = (".abc", ".mid", ".midi", ".xml", ".musicxml", ".mxl", ".krn")
STEPS_PER_QUARTER = 4
OFF_GRID_CHOICES = ("round", "skip")
"""What :func:`load_corpus` does with a tune whose notes fall between grid steps."""
CACHE_FORMAT = 1
"""Bump when tokenisation or the cache layout changes: old caches are then ignored."""
_SERIAL_BELOW = 64  # tunes; a process pool costs more than it saves on fewer


@dataclass
class CorpusReport:
    """What :func:`load_corpus` kept and skipped, and why.

    ``skipped`` maps a reason code (see :class:`pretrain.tokenizer.MelodyError`) to a count;
    ``examples`` holds the first few skipped tune names per reason; ``quantised`` counts kept
    tunes with notes off the sixteenth grid (triplets, 32nds) that were rounded onto it.
    """

    kept: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    num_tokens: int = 0
    no_event_fraction: float = 0.0
    note_off_fraction: float = 0.0
    examples: dict[str, list[str]] = field(default_factory=dict)
    quantised: int = 0
    off_grid: str = "round"
    train_tunes: int = 0
    valid_tunes: int = 0
    build_seconds: float = 0.0
    from_cache: bool = False
    cache_path: str = ""

    @property
    def num_tunes(self) -> int:
        """Tunes found, kept or not."""
        return self.kept + sum(self.skipped.values())

    def summary(self) -> str:
        """A few human-readable lines: kept / skipped per reason / tokens / split / cache."""
        lines = [
            f"{self.kept:,} of {self.num_tunes:,} tunes kept: {self.num_tokens:,} tokens "
            f"({self.no_event_fraction:.1%} NO_EVENT, {self.note_off_fraction:.1%} NOTE_OFF); "
            f"train {self.train_tunes:,} / validation {self.valid_tunes:,} tunes"
        ]
        if self.skipped:
            reasons = ", ".join(
                f"{reason} {count:,}" for reason, count in sorted(self.skipped.items())
            )
            lines.append(f"skipped: {reasons}")
            if self.skipped.get("off-grid") and self.off_grid == "skip":
                lines.append(
                    "(off-grid: notes between sixteenth-grid steps, e.g. triplets; "
                    "--off-grid round keeps such tunes with their notes rounded onto the grid)"
                )
        if self.quantised:
            plural = "s" if self.quantised != 1 else ""
            lines.append(
                f"{self.quantised:,} kept tune{plural} had notes rounded onto the sixteenth grid"
            )
        source = "loaded from cache" if self.from_cache else f"built in {self.build_seconds:.1f} s"
        if self.cache_path:
            source += f" ({self.cache_path})"
        lines.append(source)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "kept": self.kept,
            "skipped": dict(sorted(self.skipped.items())),
            "num_tokens": self.num_tokens,
            "no_event_fraction": self.no_event_fraction,
            "note_off_fraction": self.note_off_fraction,
            "examples": {reason: names for reason, names in sorted(self.examples.items())},
            "quantised": self.quantised,
        }


@dataclass
class Corpus:
    """A tokenised corpus split by tune (no tune, nor same-titled variant, on both sides).

    ``train`` / ``valid`` hold one int8 token array per tune, ``train_names`` / ``valid_names``
    the matching tune names (``collection/file.abc#index`` or a relative path).
    """

    train: list[np.ndarray]
    valid: list[np.ndarray]
    vocabulary: Vocabulary
    hash: str
    report: CorpusReport
    train_names: list[str] = field(default_factory=list)
    valid_names: list[str] = field(default_factory=list)

    @property
    def num_tokens(self) -> int:
        return self.report.num_tokens

    def summary(self) -> str:
        return self.report.summary()


# --------------------------------------------------------------------------- transposition


@lru_cache(maxsize=1)
def _key_profiles() -> np.ndarray:
    """24 x 12 Aarden-Essen key profiles (rows: C..B major, then C..B minor), from music21."""
    from music21.analysis.discrete import AardenEssen

    analyser = AardenEssen()
    rows = []
    for mode in ("major", "minor"):
        weights = np.asarray(analyser.getWeights(mode), dtype=np.float64)
        rows.extend(np.roll(weights, tonic) for tonic in range(12))
    profiles = np.stack(rows)
    profiles -= profiles.mean(axis=1, keepdims=True)
    return profiles / np.linalg.norm(profiles, axis=1, keepdims=True)


def find_key(melody: Melody) -> tuple[int, str]:
    """(tonic pitch class, ``"major"`` | ``"minor"``) of the best-correlated key profile."""
    histogram = np.zeros(12)
    for note in melody.notes:
        histogram[note.pitch % 12] += note.duration
    histogram -= histogram.mean()
    norm = np.linalg.norm(histogram)
    if norm == 0:  # one pitch class only (or none): call it the tonic of a major key
        return (melody.notes[0].pitch % 12 if melody.notes else 0), "major"
    best = int(np.argmax(_key_profiles() @ (histogram / norm)))
    return best % 12, ("major" if best < 12 else "minor")


def normalise_melody(melody: Melody, vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> Melody:
    """The melody in C major / A minor, moved by octaves into the vocabulary's range.

    Raises :class:`MelodyError` ``"out-of-range"`` if its span is wider than the range.
    """
    tonic, mode = find_key(melody)
    target = 0 if mode == "major" else 9
    shift = (target - tonic) % 12
    if shift > 6:
        shift -= 12
    low = min(note.pitch for note in melody.notes) + shift
    high = max(note.pitch for note in melody.notes) + shift
    lowest_octave = math.ceil((vocabulary.min_pitch - low) / 12)
    highest_octave = math.floor((vocabulary.max_pitch - high) / 12)
    if lowest_octave > highest_octave:
        raise MelodyError(
            "out-of-range",
            f"spans {high - low} semitones, wider than the range "
            f"{vocabulary.min_pitch}..{vocabulary.max_pitch}",
        )
    centre = (vocabulary.min_pitch + vocabulary.max_pitch) / 2
    middle = (low + high) / 2
    octave = min(
        range(lowest_octave, highest_octave + 1),
        key=lambda k: (abs(middle + 12 * k - centre), k),
    )
    return melody.transposed(shift + 12 * octave)


# --------------------------------------------------------------------------- sources


def default_cache_dir() -> Path:
    """``$SEQUENCE_TUTOR_CACHE``, else ``$XDG_CACHE_HOME/sequence-tutor``, else ``~/.cache/...``."""
    explicit = os.environ.get("SEQUENCE_TUTOR_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "sequence-tutor"


def _music21_corpus_root() -> Path:
    # find_spec instead of import: importing music21 costs 0.5 s, more than a cache hit may take
    spec = importlib.util.find_spec("music21")
    if spec is None or not spec.submodule_search_locations:
        raise SequenceTutorError("music21 is not installed; it is needed for the default corpus")
    return Path(next(iter(spec.submodule_search_locations))) / "corpus"


# Sources are (root folder, sorted relative POSIX paths): plain strings and os.scandir keep
# listing and fingerprinting ~1 000 files to a few milliseconds on every cache hit.


def _default_sources() -> tuple[Path, list[str]]:
    root = _music21_corpus_root()
    files: list[str] = []
    for collection in DEFAULT_COLLECTIONS:
        try:
            with os.scandir(root / collection) as entries:
                found = sorted(
                    f"{collection}/{entry.name}"
                    for entry in entries
                    if entry.name.endswith(".abc") and entry.is_file()
                )
        except OSError:
            found = []
        if not found:
            raise SequenceTutorError(
                f"music21's corpus at {root} has no {collection}/*.abc; "
                "reinstall music21 (the default corpus ships with it) or pass a data folder"
            )
        files.extend(found)
    return root, files


def _folder_sources(data: str | os.PathLike) -> tuple[Path, list[str]]:
    root = Path(data).expanduser()
    if not root.exists():
        raise SequenceTutorError(f"data folder {root} does not exist")
    if not root.is_dir():
        raise SequenceTutorError(f"data {root} is not a folder; expected a folder of melody files")
    files = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        relative = Path(folder).relative_to(root).as_posix()
        prefix = "" if relative == "." else f"{relative}/"
        files.extend(
            prefix + name
            for name in names
            if not name.startswith(".")
            and os.path.splitext(name)[1].lower() in MELODY_SUFFIXES
            and os.path.isfile(os.path.join(folder, name))
        )
    files.sort()
    if not files:
        raise SequenceTutorError(
            f"data folder {root} contains no melody files (expected {', '.join(MELODY_SUFFIXES)})"
        )
    return root, files


def _settings(vocabulary: Vocabulary, off_grid: str = "round") -> dict:
    settings = {
        "format": CACHE_FORMAT,
        "vocabulary": vocabulary.to_dict(),
        "steps_per_quarter": STEPS_PER_QUARTER,
        "max_dropped_fraction": MAX_DROPPED_FRACTION,
        "transpose": "C major / A minor, Aarden-Essen key finding, octaves to range centre",
    }
    if off_grid != "round":  # the default adds no key, so caches and corpus hashes stay valid
        settings["off_grid"] = off_grid
    return settings


def _music21_stamp() -> str:
    """Size and mtime of music21's version and ABC parser files: an upgrade rebuilds the cache.

    (importlib.metadata would say the version too, but costs 70 ms of the 0.2 s reload budget.)
    """
    package = _music21_corpus_root().parent
    stamp = []
    for name in ("_version.py", "abcFormat/__init__.py"):
        try:
            stat = os.stat(package / name)
        except OSError:
            continue
        stamp.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return ",".join(stamp)


def _fingerprint(root: Path, files: list[str], settings: dict) -> str:
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    digest.update(_music21_stamp().encode())
    base = str(root.resolve())
    digest.update(base.encode())
    for relative in files:
        try:
            stat = os.stat(os.path.join(base, relative))
            digest.update(f"\0{relative}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
        except OSError:  # vanished since listing: the build will count it unreadable
            digest.update(f"\0{relative}\0missing".encode())
    return digest.hexdigest()


def _read_text(path: Path) -> str:
    if path.stat().st_size > MAX_FILE_BYTES:  # never slurp a huge (or sparse) file
        raise OSError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # Essen and O'Neill's files predate UTF-8


# --------------------------------------------------------------------------- tokenising


def _title(tune: str) -> str:
    for line in tune.splitlines():
        if line.startswith("T:"):
            return " ".join(line[2:].split()).lower()
    return ""


def _tokenise(task: tuple[str, str, str, int, int, str]) -> tuple[bytes | None, str, bool]:
    """Worker: (kind, name, payload, min_pitch, num_pitches, off_grid) -> (token bytes | None,
    reason, whether grid quantisation moved or dropped notes)."""
    kind, name, payload, min_pitch, num_pitches, off_grid = task
    vocabulary = Vocabulary(min_pitch, num_pitches)
    # Only a MelodyError is a skip. The third-party parse calls (music21's ABC tokenizer, its
    # MIDI reader, converter.parse) turn any error of theirs into MelodyError("unreadable") where
    # they are made (pretrain.abc_reader._handler, pretrain.tokenizer); anything else raised here
    # comes from our own extraction code (abc_tune_melody's token loop, build_melody,
    # melody_from_stream, _midi_melody, normalise_melody, melody_tokens): a bug, which must fail
    # the build loudly instead of being counted as an unreadable tune.
    try:
        melody = _parse(kind, name, payload)
        melody = normalise_melody(melody, vocabulary).trimmed()
        stats: dict[str, int] = {}
        tokens = melody_tokens(melody, vocabulary, STEPS_PER_QUARTER, source=name, stats=stats)
    except MelodyError as error:
        return None, error.reason, False
    quantised = stats["moved"] > 0 or stats["dropped"] > 0
    if quantised and off_grid == "skip":
        return None, "off-grid", False
    return tokens.astype(_token_dtype(vocabulary)).tobytes(), "", quantised


def _parse(kind: str, name: str, payload: str) -> Melody:
    """The melody of one ABC tune (``payload`` is its text) or one MIDI/MusicXML file (a path)."""
    if kind == "abc":
        from pretrain.abc_reader import abc_tune_melody

        return abc_tune_melody(payload, source=name)
    from pretrain.tokenizer import read_file_melody

    return read_file_melody(payload)


def _token_dtype(vocabulary: Vocabulary) -> type:
    return np.int8 if vocabulary.size <= 127 else np.int16


def _tasks(
    root: Path, files: list[str], vocabulary: Vocabulary, off_grid: str = "round"
) -> tuple[list[tuple], list[str], list[str], list[str]]:
    """Work items (one per tune), their names, split groups, and names of unreadable files."""
    tasks: list[tuple] = []
    names: list[str] = []
    groups: list[str] = []
    unreadable: list[str] = []
    from pretrain.abc_reader import split_abc_tunes

    for relative in files:
        path = root / relative
        if path.suffix.lower() == ".abc":
            try:
                tunes = split_abc_tunes(_read_text(path))
            except OSError:
                unreadable.append(relative)
                continue
            if not tunes:
                unreadable.append(relative)
                continue
            folder = relative.rsplit("/", 1)[0] if "/" in relative else ""
            for index, tune in enumerate(tunes):
                name = f"{relative}#{index}"
                tasks.append(
                    ("abc", name, tune, vocabulary.min_pitch, vocabulary.num_pitches, off_grid)
                )
                names.append(name)
                title = _title(tune)
                # variants of one song share a title: keep them on one side of the split
                groups.append(f"{folder}/title:{title}" if title else name)
        else:
            tasks.append(
                (
                    "file",
                    relative,
                    str(path),
                    vocabulary.min_pitch,
                    vocabulary.num_pitches,
                    off_grid,
                )
            )
            names.append(relative)
            groups.append(relative)
    return tasks, names, groups, unreadable


def _run_tasks(tasks: list[tuple], workers: int, progress: bool) -> Iterable[tuple]:
    from tqdm.auto import tqdm

    bar = tqdm(
        total=len(tasks),
        desc="Tokenising melodies",
        unit="tune",
        disable=not progress,
        dynamic_ncols=True,
    )
    try:
        if workers <= 1 or len(tasks) < _SERIAL_BELOW:
            for task in tasks:
                yield _tokenise(task)
                bar.update()
            return
        import multiprocessing

        methods = multiprocessing.get_all_start_methods()
        if "fork" in methods:
            # import music21 and build the key profiles once, before forking, not per worker
            import music21.abcFormat  # noqa: F401

            _key_profiles()
        # fork starts workers with music21 already imported; spawn where fork does not exist
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        chunk = max(1, min(64, len(tasks) // (workers * 8)))
        with context.Pool(workers) as pool:
            for result in pool.imap(_tokenise, tasks, chunksize=chunk):
                yield result
                bar.update()
    finally:
        bar.close()


def _content_hash(root: Path, files: list[str], settings: dict) -> str:
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for relative in files:
        path = root / relative
        digest.update(f"\0{relative}\0".encode())
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:  # refused unread by the tokenizer: its size is its content
                digest.update(f"too-large {size}".encode())
                continue
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        except OSError:  # counted as unreadable by the build; must not abort it
            digest.update(b"unreadable")
    return digest.hexdigest()


def _build(
    root: Path,
    files: list[str],
    vocabulary: Vocabulary,
    workers: int,
    progress: bool,
    off_grid: str = "round",
) -> tuple[np.ndarray, np.ndarray, dict, float]:
    start = time.perf_counter()
    settings = _settings(vocabulary, off_grid)
    tasks, names, groups, unreadable_files = _tasks(root, files, vocabulary, off_grid)
    skipped: Counter = Counter()
    examples: dict[str, list[str]] = {}
    for name in unreadable_files:
        skipped["unreadable"] += 1
        if len(examples.setdefault("unreadable", [])) < 5:
            examples["unreadable"].append(name)
    pieces: list[np.ndarray] = []
    kept_names: list[str] = []
    kept_groups: list[str] = []
    dtype = _token_dtype(vocabulary)
    quantised = 0
    for (data, reason, moved), name, group in zip(
        _run_tasks(tasks, workers, progress), names, groups, strict=True
    ):
        if data is None:
            skipped[reason] += 1
            if len(examples.setdefault(reason, [])) < 5:
                examples[reason].append(name)
            continue
        pieces.append(np.frombuffer(data, dtype=dtype))
        quantised += moved
        kept_names.append(name)
        kept_groups.append(group)
    tokens = np.concatenate(pieces) if pieces else np.zeros(0, dtype=dtype)
    lengths = np.array([len(piece) for piece in pieces], dtype=np.int64)
    total = max(len(tokens), 1)
    report = CorpusReport(
        kept=len(pieces),
        skipped=dict(skipped),
        num_tokens=int(len(tokens)),
        no_event_fraction=float(np.count_nonzero(tokens == NO_EVENT) / total),
        note_off_fraction=float(np.count_nonzero(tokens == NOTE_OFF) / total),
        examples=examples,
        quantised=quantised,
    )
    meta = {
        "settings": settings,
        "hash": _content_hash(root, files, settings),
        "names": kept_names,
        # ids of split groups (rank of the group name), cheaper to reload than the names
        "group_ids": _group_ids(kept_groups).tolist(),
        "report": report.to_dict(),
    }
    # kept out of the cache file, which must not depend on how long the build took
    report.build_seconds = time.perf_counter() - start
    return tokens, lengths, meta, report.build_seconds


# --------------------------------------------------------------------------- cache


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An uncompressed .npz with fixed timestamps (np.savez stamps the current time)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def _write_cache(path: Path, tokens: np.ndarray, lengths: np.ndarray, meta: dict) -> None:
    from pretrain.atomic_write import atomic_write_bytes

    meta_bytes = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    atomic_write_bytes(path, _npz_bytes({"tokens": tokens, "lengths": lengths, "meta": meta_bytes}))


def _read_cache(path: Path, settings: dict) -> tuple[np.ndarray, np.ndarray, dict] | None:
    """The cached arrays, or None if the file is missing, damaged or from other settings."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            tokens = archive["tokens"]
            lengths = archive["lengths"]
            meta = json.loads(archive["meta"].tobytes().decode("utf-8"))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError):
        return None
    if meta.get("settings") != settings or int(lengths.sum()) != len(tokens):
        return None
    if len(meta.get("names", ())) != len(lengths):
        return None
    if len(meta.get("group_ids", meta.get("groups", ()))) != len(lengths):
        return None
    return tokens, lengths, meta


# --------------------------------------------------------------------------- split


def _group_ids(groups: list[str]) -> np.ndarray:
    """Each tune's group as the rank of its name among the sorted group names."""
    if not groups:
        return np.zeros(0, dtype=np.int64)
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    return inverse.reshape(-1).astype(np.int64)


def _split(group_ids: np.ndarray, valid_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of validation tunes: whole groups, in a seeded random order."""
    count = len(group_ids)
    mask = np.zeros(count, dtype=bool)
    if valid_fraction <= 0 or count < 2:
        return mask
    # group ids rank the group names, so the split depends only on the seed and the names
    sizes = np.bincount(group_ids)
    order = np.random.default_rng(seed).permutation(len(sizes))
    chosen_groups = np.zeros(len(sizes), dtype=bool)
    wanted = max(1, round(valid_fraction * count))
    chosen = 0
    for group in order.tolist():
        size = int(sizes[group])
        if chosen + size > wanted and chosen > 0:
            continue  # a big group would overshoot; smaller ones may still fit
        if chosen + size >= count:
            continue  # never move every tune to validation
        chosen_groups[group] = True
        chosen += size
        if chosen >= wanted:
            break
    return chosen_groups[group_ids]


def load_corpus(
    data: str | os.PathLike | None = None,
    *,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    cache_dir: str | os.PathLike | None = None,
    valid_fraction: float = 0.1,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    rebuild: bool = False,
    off_grid: str = "round",
) -> Corpus:
    """Load (from cache) or build the tokenised corpus and split it into train / validation.

    :param data: ``None`` for music21's bundled folk collections (:data:`DEFAULT_COLLECTIONS`),
        or a folder searched recursively for ``.abc .mid .midi .xml .musicxml .mxl .krn`` files.
    :param vocabulary: pitch range of the tokens; tunes are transposed into it.
    :param cache_dir: where the tokenised corpus is cached (default :func:`default_cache_dir`).
    :param valid_fraction: share of tunes held out for validation, split by tune; tunes with the
        same title in one folder (variants of one song) always land on the same side.
    :param seed: seed of the split (the cached tokens do not depend on it).
    :param workers: processes that parse in parallel (default ``os.cpu_count()``).
    :param progress: show a progress bar while building.
    :param rebuild: ignore an existing cache and build again.
    :param off_grid: what to do with a tune whose notes fall between sixteenth-grid steps
        (triplets, 32nds): ``"round"`` its notes onto the grid (the default; a tune that would
        lose more than :data:`~pretrain.tokenizer.MAX_DROPPED_FRACTION` of its notes is still
        skipped as ``"off-grid"``), or ``"skip"`` every such tune, for a corpus of exact rhythms
        only (on the default collections: 11 516 tunes instead of 12 745).
    :raises SequenceTutorError: the data folder is missing, not a folder, holds no melody files,
        or none of its tunes could be used.
    """
    if not 0 <= valid_fraction < 1:
        raise SequenceTutorError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    if workers is not None and workers < 1:
        raise SequenceTutorError(f"workers must be >= 1, got {workers}")
    if off_grid not in OFF_GRID_CHOICES:
        raise SequenceTutorError(
            f"off_grid must be one of {', '.join(OFF_GRID_CHOICES)}, got {off_grid!r}"
        )
    if data is None:
        root, files = _default_sources()
        description = "music21's folk collections"
    else:
        root, files = _folder_sources(data)
        description = str(root)
    settings = _settings(vocabulary, off_grid)
    cache_folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    cache_path = cache_folder / f"corpus-{_fingerprint(root, files, settings)[:24]}.npz"

    cached = None if rebuild else _read_cache(cache_path, settings)
    if cached is None:
        tokens, lengths, meta, build_seconds = _build(
            root, files, vocabulary, workers or os.cpu_count() or 1, progress, off_grid
        )
        if not len(lengths):
            skipped = ", ".join(
                f"{reason} {count}" for reason, count in sorted(meta["report"]["skipped"].items())
            )
            hint = ""
            if off_grid == "skip" and meta["report"]["skipped"].get("off-grid"):
                hint = "; off_grid='round' (pretrain --off-grid round) keeps off-grid tunes"
            raise SequenceTutorError(
                f"no usable melody in {description}: every tune was skipped ({skipped}){hint}"
            )
        try:
            _write_cache(cache_path, tokens, lengths, meta)
        except OSError as error:  # a read-only cache folder should not cost the build
            warnings.warn(
                f"could not write the corpus cache {cache_path} ({error}); set "
                "SEQUENCE_TUTOR_CACHE or cache_dir to a writable folder to reuse the build",
                stacklevel=2,
            )
    else:
        tokens, lengths, meta = cached
        build_seconds = 0.0

    stored = meta["report"]
    report = CorpusReport(
        kept=int(stored["kept"]),
        skipped={reason: int(count) for reason, count in stored["skipped"].items()},
        num_tokens=int(stored["num_tokens"]),
        no_event_fraction=float(stored["no_event_fraction"]),
        note_off_fraction=float(stored["note_off_fraction"]),
        examples={reason: list(names) for reason, names in stored["examples"].items()},
        quantised=int(stored.get("quantised", 0)),
        off_grid=off_grid,
        build_seconds=build_seconds,
        from_cache=cached is not None,
        cache_path=str(cache_path),
    )
    ends = np.cumsum(lengths).tolist()
    tunes = [tokens[start:end] for start, end in zip([0, *ends[:-1]], ends)]
    if "group_ids" in meta:
        group_ids = np.asarray(meta["group_ids"], dtype=np.int64)
    else:  # a cache written before group ids were stored
        group_ids = _group_ids(meta["groups"])
    valid_mask = _split(group_ids, valid_fraction, seed)
    names = meta["names"]
    train = [tune for tune, is_valid in zip(tunes, valid_mask) if not is_valid]
    valid = [tune for tune, is_valid in zip(tunes, valid_mask) if is_valid]
    report.train_tunes, report.valid_tunes = len(train), len(valid)
    return Corpus(
        train=train,
        valid=valid,
        vocabulary=vocabulary,
        hash=meta["hash"],
        report=report,
        train_names=[name for name, is_valid in zip(names, valid_mask) if not is_valid],
        valid_names=[name for name, is_valid in zip(names, valid_mask) if is_valid],
    )
