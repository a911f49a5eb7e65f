"""Craft hostile files for the security tests and ``benchmarks/reliability.py``.

Every builder writes under a folder it is given and returns the path a user would pass to the
command (a file, a checkpoint stem or a folder). Nothing here needs the network or music21, and
each file is small on disk (bombs are small files that *declare* or *expand to* something huge).

The pickle payloads reduce to ``open(marker, "w")``: unpickling one creates the marker file, so a
test proves "no code ran" by checking that the marker never appears (no shell, nothing harmful).
"""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import random
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MARKER_NAME = "PWNED_MARKER"
ESCAPE_NAME = "ESCAPED_FILE"


class _Trap:
    """Pickles to a call of ``open(marker, "w")``: a harmless proof of code execution."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def pickle_payload(marker: Path) -> bytes:
    """A plain pickle that creates ``marker`` when loaded."""
    return pickle.dumps({"state_dict": _Trap(marker)}, protocol=2)


def torch_pickle_payload(marker: Path) -> bytes:
    """A ``torch.save`` zip (the ``.pt`` format) whose ``data.pkl`` creates ``marker``."""
    import torch  # noqa: PLC0415

    buffer = io.BytesIO()
    torch.save({"state_dict": _Trap(marker), "weight": torch.zeros(2)}, buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------- checkpoints


def note_rnn_meta(hidden_size: int = 8, **overrides) -> dict:
    """A valid Note RNN JSON config (see ``pretrain.checkpoint``)."""
    config = {
        "kind": "lstm",
        "vocab_size": 38,
        "hidden_size": hidden_size,
        "num_layers": 1,
        "depth": 3,
        "dropout": 0.0,
        "transform_bias": -2.0,
        "extra": {},
    }
    config.update(overrides)
    return {
        "format": "sequence-tutor-note-rnn",
        "version": 1,
        "config": config,
        "vocabulary": {"min_pitch": 48, "num_pitches": 36, "size": 38},
        "corpus_hash": None,
        "metrics": {},
    }


def lstm_tensors(hidden_size: int = 8, dtype=None) -> dict:
    """Tensors with the names and shapes of an LSTM Note RNN state dict."""
    import torch  # noqa: PLC0415

    dtype = dtype or torch.float32
    h, v = hidden_size, 38
    return {
        "lstm.weight_ih_l0": torch.zeros(4 * h, v, dtype=dtype),
        "lstm.weight_hh_l0": torch.zeros(4 * h, h, dtype=dtype),
        "lstm.bias_ih_l0": torch.zeros(4 * h, dtype=dtype),
        "lstm.bias_hh_l0": torch.zeros(4 * h, dtype=dtype),
        "output.weight": torch.zeros(v, h, dtype=dtype),
        "output.bias": torch.zeros(v, dtype=dtype),
    }


def _write_meta(stem: Path, meta: dict | str | bytes) -> None:
    data = meta if isinstance(meta, (str, bytes)) else json.dumps(meta)
    path = stem.with_name(stem.name + ".json")
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)


def _write_weights(stem: Path, data: bytes) -> None:
    stem.with_name(stem.name + ".safetensors").write_bytes(data)


def _safetensors_bytes(tensors: dict) -> bytes:
    from safetensors.torch import save  # noqa: PLC0415

    return save(tensors)


def raw_safetensors(header: dict, payload: bytes = b"", declared_len: int | None = None) -> bytes:
    """A safetensors file built by hand: 8-byte little-endian header length, JSON header, data."""
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    length = len(text) if declared_len is None else declared_len
    return struct.pack("<Q", length) + text + payload


def ckpt_pickle_as_safetensors(folder: Path, marker: Path) -> Path:
    """``m.safetensors`` holding a torch pickle (and a valid JSON): the pickle must not load."""
    stem = folder / "m"
    _write_meta(stem, note_rnn_meta())
    _write_weights(stem, torch_pickle_payload(marker))
    return stem.with_suffix(".json")


def ckpt_plain_pickle_as_safetensors(folder: Path, marker: Path) -> Path:
    stem = folder / "m"
    _write_meta(stem, note_rnn_meta())
    _write_weights(stem, pickle_payload(marker))
    return stem.with_suffix(".json")


def ckpt_pt(folder: Path, marker: Path) -> Path:
    """A PyTorch ``.pt`` checkpoint (pickle inside) as a user might pass it."""
    path = folder / "note_rnn.pt"
    path.write_bytes(torch_pickle_payload(marker))
    return path


def ckpt_legacy_pickle_pt(folder: Path, marker: Path) -> Path:
    path = folder / "note_rnn_legacy.pt"
    path.write_bytes(pickle_payload(marker))
    return path


def sb3_zip(folder: Path, marker: Path, name: str = "agent.zip") -> Path:
    """An archive in Stable-Baselines3's ``save`` format whose every pickle creates ``marker``,
    plus a member whose name climbs out of any extraction folder (``../ESCAPED_FILE``)."""
    path = folder / name
    serialized = base64.b64encode(pickle_payload(marker)).decode()
    data = {
        "policy_class": {":type:": "<class 'abc.ABCMeta'>", ":serialized:": serialized},
        "observation_space": {
            ":type:": "<class 'gymnasium.spaces.multi_discrete.MultiDiscrete'>",
            ":serialized:": serialized,
        },
        "num_timesteps": 0,
    }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data", json.dumps(data))
        archive.writestr("policy.pth", torch_pickle_payload(marker))
        archive.writestr("pytorch_variables.pth", torch_pickle_payload(marker))
        archive.writestr("_stable_baselines3_version", "2.9.2")
        archive.writestr("system_info.txt", "hostile")
        archive.writestr(f"../{ESCAPE_NAME}", "escaped")
        archive.writestr(f"/tmp/{ESCAPE_NAME}", "escaped")
    return path


def ckpt_wrong_shapes(folder: Path) -> Path:
    stem = folder / "m"
    _write_meta(stem, note_rnn_meta(hidden_size=8))
    _write_weights(stem, _safetensors_bytes(lstm_tensors(hidden_size=5)))
    return stem.with_suffix(".json")


def ckpt_wrong_dtypes(folder: Path) -> Path:
    import torch  # noqa: PLC0415

    stem = folder / "m"
    _write_meta(stem, note_rnn_meta(hidden_size=8))
    _write_weights(stem, _safetensors_bytes(lstm_tensors(hidden_size=8, dtype=torch.float64)))
    return stem.with_suffix(".json")


def ckpt_int_dtypes(folder: Path) -> Path:
    import torch  # noqa: PLC0415

    stem = folder / "m"
    _write_meta(stem, note_rnn_meta(hidden_size=8))
    _write_weights(stem, _safetensors_bytes(lstm_tensors(hidden_size=8, dtype=torch.int8)))
    return stem.with_suffix(".json")


def ckpt_huge_header(folder: Path) -> Path:
    """Header length field says 2**62 bytes (a reader that trusts it allocates exabytes)."""
    stem = folder / "m"
    _write_meta(stem, note_rnn_meta())
    _write_weights(stem, raw_safetensors({"__metadata__": {}}, declared_len=2**62))
    return stem.with_suffix(".json")


def ckpt_large_header(folder: Path) -> Path:
    """Header length field of 90 MB in a 100-byte file."""
    stem = folder / "m"
    _write_meta(stem, note_rnn_meta())
    _write_weights(stem, raw_safetensors({"__metadata__": {}}, declared_len=90 * 2**20))
    return stem.with_suffix(".json")


def ckpt_huge_tensor(folder: Path) -> Path:
    """Header declares a 2**20 x 2**20 float32 tensor (4 TiB) whose data is not there."""
    stem = folder / "m"
    _write_meta(stem, note_rnn_meta())
    size = 2**40 * 4
    header = {"output.weight": {"dtype": "F32", "shape": [2**20, 2**20], "data_offsets": [0, size]}}
    _write_weights(stem, raw_safetensors(header, payload=b"\0" * 64))
    return stem.with_suffix(".json")


def ckpt_huge_config(folder: Path) -> Path:
    """JSON asks for a 10**6-unit LSTM (16 TB of weights) beside small weights: the model must
    not be built before the weights are checked against the config."""
    stem = folder / "m"
    _write_meta(stem, note_rnn_meta(hidden_size=10**6))
    _write_weights(stem, _safetensors_bytes(lstm_tensors(hidden_size=8)))
    return stem.with_suffix(".json")


def ckpt_big_config(folder: Path) -> Path:
    """JSON asks for a 20 000-unit, 8-layer LSTM (~25 GB): must be refused without allocating."""
    stem = folder / "m"
    _write_meta(stem, note_rnn_meta(hidden_size=20_000, num_layers=8))
    _write_weights(stem, _safetensors_bytes(lstm_tensors(hidden_size=8)))
    return stem.with_suffix(".json")


def ckpt_bad_config_types(folder: Path) -> Path:
    """Config values of the wrong JSON type (a string size, a list of layers)."""
    stem = folder / "m"
    _write_meta(stem, note_rnn_meta(hidden_size="8", num_layers=[1]))
    _write_weights(stem, _safetensors_bytes(lstm_tensors(hidden_size=8)))
    return stem.with_suffix(".json")


def ckpt_float_config(folder: Path) -> Path:
    stem = folder / "m"
    _write_meta(stem, note_rnn_meta(hidden_size=8.5))
    _write_weights(stem, _safetensors_bytes(lstm_tensors(hidden_size=8)))
    return stem.with_suffix(".json")


def ckpt_deep_json(folder: Path) -> Path:
    """A JSON config nested 100 000 deep (``json`` recurses: RecursionError, not a clean error)."""
    stem = folder / "m"
    _write_meta(stem, "[" * 100_000 + "]" * 100_000)
    _write_weights(stem, _safetensors_bytes(lstm_tensors(hidden_size=8)))
    return stem.with_suffix(".json")


def ckpt_sparse_json(folder: Path) -> Path:
    """A 4 GiB sparse JSON config (a reader that slurps it needs 4 GiB of memory)."""
    stem = folder / "m"
    path = stem.with_name(stem.name + ".json")
    with open(path, "wb") as handle:
        handle.write(b'{"format": "sequence-tutor-note-rnn", "pad": "')
        handle.truncate(4 * 2**30)
    _write_weights(stem, _safetensors_bytes(lstm_tensors(hidden_size=8)))
    return path


def ckpt_traversal_names(folder: Path) -> Path:
    """A config whose name-like fields climb out of the folder (must never be used as paths)."""
    stem = folder / "m"
    meta = note_rnn_meta()
    meta["config"]["extra"] = {"name": f"../../{ESCAPE_NAME}", "path": f"/tmp/{ESCAPE_NAME}"}
    meta["corpus_hash"] = f"../../{ESCAPE_NAME}"
    meta["name"] = f"../{ESCAPE_NAME}"
    _write_meta(stem, meta)
    _write_weights(stem, _safetensors_bytes(lstm_tensors(hidden_size=8)))
    return stem.with_suffix(".json")


def ckpt_nan_weights(folder: Path) -> Path:
    """Weights full of NaN: loadable tensors, useless model (must not crash a loader)."""
    stem = folder / "m"
    tensors = lstm_tensors(hidden_size=8)
    for tensor in tensors.values():
        tensor.fill_(float("nan"))
    _write_meta(stem, note_rnn_meta(hidden_size=8))
    _write_weights(stem, _safetensors_bytes(tensors))
    return stem.with_suffix(".json")


def ckpt_truncated(folder: Path) -> Path:
    stem = folder / "m"
    _write_meta(stem, note_rnn_meta(hidden_size=8))
    data = _safetensors_bytes(lstm_tensors(hidden_size=8))
    _write_weights(stem, data[: len(data) // 2])
    return stem.with_suffix(".json")


def ckpt_symlink_dev_zero(folder: Path) -> Path:
    """``m.safetensors`` is a symlink to ``/dev/zero`` (endless bytes)."""
    stem = folder / "m"
    _write_meta(stem, note_rnn_meta(hidden_size=8))
    os.symlink("/dev/zero", stem.with_name("m.safetensors"))
    return stem.with_suffix(".json")


# --------------------------------------------------------------------------- melodies


def _vlq(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def midi_bytes(notes: list[tuple[int, int]] | None = None, division: int = 480) -> bytes:
    """A format-0 MIDI file of (pitch, duration in ticks) notes, built by hand."""
    notes = notes if notes is not None else [(60, 480), (62, 480), (64, 240), (65, 240), (67, 960)]
    track = b"\x00\xff\x51\x03\x07\xa1\x20"  # tempo 120
    track += b"\x00\xff\x58\x04\x04\x02\x18\x08"  # 4/4
    for pitch, ticks in notes:
        track += b"\x00" + bytes([0x90, pitch, 80]) + _vlq(ticks) + bytes([0x80, pitch, 0])
    track += b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, division)
    return header + b"MTrk" + struct.pack(">I", len(track)) + track


def midi_truncated(folder: Path) -> Path:
    data = midi_bytes()
    path = folder / "truncated.mid"
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


def midi_header_only(folder: Path) -> Path:
    path = folder / "header_only.mid"
    path.write_bytes(midi_bytes()[:14])
    return path


def midi_random(folder: Path, seed: int = 0) -> Path:
    path = folder / "random.mid"
    path.write_bytes(random.Random(seed).randbytes(4096))
    return path


def midi_random_after_header(folder: Path, seed: int = 1) -> Path:
    """A valid ``MThd`` then an ``MTrk`` of random bytes."""
    body = random.Random(seed).randbytes(4096)
    path = folder / "random_track.mid"
    path.write_bytes(
        b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(body)) + body
    )
    return path


def midi_huge_track_length(folder: Path) -> Path:
    """An ``MTrk`` chunk declaring 4 GiB in a tiny file."""
    data = midi_bytes()
    path = folder / "huge_track.mid"
    path.write_bytes(data[:18] + struct.pack(">I", 0xFFFFFFFF) + data[22:])
    return path


def midi_many_tracks(folder: Path) -> Path:
    """A header declaring 65 535 tracks, with one present."""
    data = midi_bytes()
    path = folder / "many_tracks.mid"
    path.write_bytes(data[:8] + struct.pack(">HHH", 1, 65535, 480) + data[14:])
    return path


def midi_huge_duration(folder: Path) -> Path:
    """A note held for 2**27 ticks at division 1 (~134M quarter notes = 537M sixteenths):
    a tokenizer that allocates per sixteenth before checking length needs > 0.5 GB."""
    path = folder / "huge_duration.mid"
    path.write_bytes(midi_bytes([(60, 1), (62, 2**27 - 1)], division=1))
    return path


def midi_zero_division(folder: Path) -> Path:
    path = folder / "zero_division.mid"
    path.write_bytes(midi_bytes(division=0))
    return path


MUSICXML_GOOD = """<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="3.1">
  <part-list><score-part id="P1"><part-name>Melody</part-name></score-part></part-list>
  <part id="P1">
    <measure number="1">
      <attributes><divisions>4</divisions><key><fifths>0</fifths></key>
        <time><beats>4</beats><beat-type>4</beat-type></time>
        <clef><sign>G</sign><line>2</line></clef></attributes>
      {notes}
    </measure>
  </part>
</score-partwise>
"""


def _xml_note(step: str, octave: int, duration: int, entity: str = "") -> str:
    return (
        f"<note><pitch><step>{step}{entity}</step><octave>{octave}</octave></pitch>"
        f"<duration>{duration}</duration><type>quarter</type></note>"
    )


def musicxml_good() -> str:
    notes = "".join(_xml_note(s, 4, 4) for s in "CDEF")
    return MUSICXML_GOOD.replace("{notes}", notes)


def musicxml_truncated(folder: Path) -> Path:
    text = musicxml_good()
    path = folder / "truncated.musicxml"
    path.write_text(text[: len(text) * 2 // 3])
    return path


def musicxml_random(folder: Path, seed: int = 2) -> Path:
    path = folder / "random.xml"
    path.write_bytes(random.Random(seed).randbytes(4096))
    return path


def musicxml_billion_laughs(folder: Path, suffix: str = ".musicxml") -> Path:
    """The XML entity-expansion bomb: ten levels of ten references = 10**9 copies of "lol"."""
    lines = ['<!ENTITY lol0 "lol">']
    for level in range(1, 10):
        refs = f"&lol{level - 1};" * 10
        lines.append(f'<!ENTITY lol{level} "{refs}">')
    doctype = "<!DOCTYPE score-partwise [\n" + "\n".join(lines) + "\n]>\n"
    body = musicxml_good().replace('<?xml version="1.0" encoding="UTF-8"?>\n', "")
    body = body.replace("<part-name>Melody</part-name>", "<part-name>&lol9;</part-name>")
    path = folder / f"billion_laughs{suffix}"
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + doctype + body)
    return path


def musicxml_external_entity(folder: Path, secret: Path) -> Path:
    """XXE: an external entity pointing at a local file (must not be read into the score)."""
    doctype = f'<!DOCTYPE score-partwise [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
    body = musicxml_good().replace('<?xml version="1.0" encoding="UTF-8"?>\n', "")
    body = body.replace("<part-name>Melody</part-name>", "<part-name>&xxe;</part-name>")
    path = folder / "xxe.musicxml"
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + doctype + body)
    return path


def musicxml_huge_duration(folder: Path) -> Path:
    """One note lasting 10**9 quarter notes."""
    notes = _xml_note("C", 4, 4) + _xml_note("D", 4, 4 * 10**9)
    path = folder / "huge_duration.musicxml"
    path.write_text(MUSICXML_GOOD.replace("{notes}", notes))
    return path


def musicxml_deep_nesting(folder: Path) -> Path:
    path = folder / "deep.xml"
    path.write_text("<a>" * 200_000 + "</a>" * 200_000)
    return path


def mxl_zip_slip(folder: Path) -> Path:
    """A compressed MusicXML (``.mxl``) whose rootfile is ``../ESCAPED_FILE``."""
    path = folder / "slip.mxl"
    container = (
        '<?xml version="1.0" encoding="UTF-8"?><container><rootfiles>'
        f'<rootfile full-path="../{ESCAPE_NAME}"/></rootfiles></container>'
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("META-INF/container.xml", container)
        archive.writestr(f"../{ESCAPE_NAME}", musicxml_good())
    return path


def mxl_zip_bomb(folder: Path, megabytes: int = 1024) -> Path:
    """A ``.mxl`` whose score member inflates to ``megabytes`` MB of spaces from ~1000x less."""
    path = folder / "bomb.mxl"
    container = (
        '<?xml version="1.0" encoding="UTF-8"?><container><rootfiles>'
        '<rootfile full-path="score.musicxml"/></rootfiles></container>'
    )
    # After a full flush deflate forgets its history, so every 1 MiB block compresses to the
    # same bytes: compress one and repeat it (1 GiB in ~1 MB, built in milliseconds).
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b" " * 2**20
    head = musicxml_good().encode()
    first = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(head)
    for _ in range(megabytes):
        crc = zlib.crc32(chunk, crc)
    parts = [first, block * megabytes, compressor.flush()]
    compressed = b"".join(parts)
    size = len(head) + megabytes * 2**20
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("META-INF/container.xml", container)
    # Append the bomb member by hand (zipfile would need the whole payload in memory).
    _append_deflated_member(path, "score.musicxml", compressed, crc, size)
    return path


def _append_deflated_member(path: Path, name: str, compressed: bytes, crc: int, size: int) -> None:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        members = [(info, archive.read(info)) for info in infos]
    out = io.BytesIO()
    central = []
    for info, data in members:
        offset = out.tell()
        raw = zlib.compressobj(9, zlib.DEFLATED, -15)
        comp = raw.compress(data) + raw.flush()
        entry = (name_bytes := info.filename.encode())
        out.write(_local_header(name_bytes, comp, zlib.crc32(data), len(data)))
        out.write(comp)
        central.append((entry, comp, zlib.crc32(data), len(data), offset))
    offset = out.tell()
    name_bytes = name.encode()
    out.write(_local_header(name_bytes, compressed, crc, size))
    out.write(compressed)
    central.append((name_bytes, compressed, crc, size, offset))
    start = out.tell()
    for entry, comp, crc_, size_, offset_ in central:
        out.write(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                8,
                0,
                0,
                crc_ & 0xFFFFFFFF,
                len(comp),
                size_,
                len(entry),
                0,
                0,
                0,
                0,
                0,
                offset_,
            )
            + entry
        )
    end = out.tell()
    out.write(
        struct.pack(
            "<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), end - start, start, 0
        )
    )
    path.write_bytes(out.getvalue())


def _local_header(name: bytes, comp: bytes, crc: int, size: int) -> bytes:
    return (
        struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            20,
            0,
            8,
            0,
            0,
            crc & 0xFFFFFFFF,
            len(comp),
            size,
            len(name),
            0,
        )
        + name
    )


ABC_GOOD = """X:1
T:Good tune
M:4/4
L:1/8
K:C
CDEF GABc|c2B2 A2G2|FEDC D2E2|C8|]
"""


def abc_truncated(folder: Path) -> Path:
    path = folder / "truncated.abc"
    path.write_text(ABC_GOOD[: len(ABC_GOOD) // 2])
    return path


def abc_random(folder: Path, seed: int = 3) -> Path:
    path = folder / "random.abc"
    path.write_bytes(random.Random(seed).randbytes(4096))
    return path


def abc_random_text(folder: Path, seed: int = 4) -> Path:
    """Printable noise after a valid header: the ABC tokenizer sees every odd symbol."""
    rng = random.Random(seed)
    alphabet = "ABCDEFGabcdefgz^_=,'/|:[]()<>{}!+-~.0123456789 \n\"%&*"
    body = "".join(rng.choice(alphabet) for _ in range(3000))
    path = folder / "random_text.abc"
    path.write_text("X:1\nT:noise\nM:4/4\nL:1/8\nK:C\n" + body + "\n")
    return path


def abc_huge_duration(folder: Path) -> Path:
    path = folder / "huge_duration.abc"
    path.write_text("X:1\nT:long\nM:4/4\nL:1/8\nK:C\nC2 D999999999|]\n")
    return path


def abc_huge_meter(folder: Path) -> Path:
    path = folder / "huge_meter.abc"
    path.write_text("X:1\nT:meter\nM:999999999/1\nL:1/99999999\nK:C\nCDEF|]\n")
    return path


def abc_many_tunes(folder: Path, tunes: int = 300) -> Path:
    """Thousands of empty ``X:`` headers in one file (one bad tune must not sink the rest,
    and the loader must not spend minutes on them)."""
    path = folder / "many_tunes.abc"
    path.write_text("".join(f"X:{i}\nK:C\n\n" for i in range(tunes)) + ABC_GOOD)
    return path


def abc_tuplet_bomb(folder: Path) -> Path:
    path = folder / "tuplets.abc"
    path.write_text("X:1\nT:tuplets\nM:4/4\nL:1/8\nK:C\n" + "(9999:1:9999CDE " * 50 + "|]\n")
    return path


def fifo_melody(folder: Path) -> Path:
    """A FIFO named ``tune.mid``: opening it blocks forever unless the loader skips non-files."""
    path = folder / "fifo.mid"
    os.mkfifo(path)
    return path


def dev_zero_melody(folder: Path) -> Path:
    """A symlink ``zero.mid`` -> ``/dev/zero``: reading it never ends."""
    path = folder / "zero.mid"
    os.symlink("/dev/zero", path)
    return path


def sparse_huge_midi(folder: Path) -> Path:
    """A 4 GiB sparse MIDI file (valid header): a loader that slurps it needs 4 GiB."""
    path = folder / "sparse.mid"
    with open(path, "wb") as handle:
        handle.write(midi_bytes())
        handle.truncate(4 * 2**30)
    return path


def sparse_huge_abc(folder: Path) -> Path:
    """A 4 GiB sparse ABC file (a good tune, then a hole): slurping it needs 4 GiB."""
    path = folder / "sparse.abc"
    with open(path, "wb") as handle:
        handle.write(ABC_GOOD.encode())
        handle.truncate(4 * 2**30)
    return path


# --------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class Hostile:
    """One crafted input: ``build(folder, marker) -> path`` to pass to a loader."""

    name: str
    kind: str  # "checkpoint" | "pickle" | "melody" | "config"
    description: str
    build: Callable[[Path, Path], Path]


def _m(fn):  # adapt builders that do not need the marker
    return lambda folder, marker: fn(folder)


CHECKPOINTS = [
    Hostile(
        "pickle-in-.safetensors",
        "pickle",
        "torch pickle saved as m.safetensors",
        ckpt_pickle_as_safetensors,
    ),
    Hostile(
        "plain-pickle-in-.safetensors",
        "pickle",
        "plain pickle saved as m.safetensors",
        ckpt_plain_pickle_as_safetensors,
    ),
    Hostile("pickle-.pt", "pickle", "torch.save checkpoint (.pt)", ckpt_pt),
    Hostile("legacy-pickle-.pt", "pickle", "raw pickle (.pt)", ckpt_legacy_pickle_pt),
    Hostile("sb3-.zip", "pickle", "SB3 save format with pickles and ../ members", sb3_zip),
    Hostile(
        "wrong-shapes",
        "checkpoint",
        "safetensors shapes differ from the JSON",
        _m(ckpt_wrong_shapes),
    ),
    Hostile("wrong-dtype-f64", "checkpoint", "float64 weights", _m(ckpt_wrong_dtypes)),
    Hostile("wrong-dtype-i8", "checkpoint", "int8 weights", _m(ckpt_int_dtypes)),
    Hostile("huge-header-2^62", "checkpoint", "header length 2**62", _m(ckpt_huge_header)),
    Hostile(
        "large-header-90MB", "checkpoint", "header length 90 MB in 100 bytes", _m(ckpt_large_header)
    ),
    Hostile("huge-tensor-4TiB", "checkpoint", "declared 4 TiB tensor", _m(ckpt_huge_tensor)),
    Hostile("huge-config-1e6", "checkpoint", "JSON hidden_size 10**6", _m(ckpt_huge_config)),
    Hostile("big-config-25GB", "checkpoint", "JSON 8 x 20000 LSTM", _m(ckpt_big_config)),
    Hostile("config-wrong-types", "checkpoint", "string/list sizes", _m(ckpt_bad_config_types)),
    Hostile("config-float-size", "checkpoint", "hidden_size 8.5", _m(ckpt_float_config)),
    Hostile("deep-json", "checkpoint", "JSON nested 100 000 deep", _m(ckpt_deep_json)),
    Hostile("sparse-4GiB-json", "checkpoint", "4 GiB sparse JSON", _m(ckpt_sparse_json)),
    Hostile("truncated-weights", "checkpoint", "safetensors cut in half", _m(ckpt_truncated)),
    Hostile("weights->/dev/zero", "checkpoint", "symlink to /dev/zero", _m(ckpt_symlink_dev_zero)),
    Hostile(
        "../-names-in-json", "config", "../ in name fields of the JSON", _m(ckpt_traversal_names)
    ),
]

MELODIES = [
    Hostile("midi-truncated", "melody", "MIDI cut at 2/3", _m(midi_truncated)),
    Hostile("midi-header-only", "melody", "MThd only", _m(midi_header_only)),
    Hostile("midi-random", "melody", "4 KiB random bytes", _m(midi_random)),
    Hostile("midi-random-track", "melody", "random MTrk body", _m(midi_random_after_header)),
    Hostile("midi-track-4GiB", "melody", "MTrk declares 4 GiB", _m(midi_huge_track_length)),
    Hostile("midi-65535-tracks", "melody", "header declares 65535 tracks", _m(midi_many_tracks)),
    Hostile(
        "midi-huge-duration", "melody", "note of 2**27 ticks at division 1", _m(midi_huge_duration)
    ),
    Hostile("midi-division-0", "melody", "ticks per quarter 0", _m(midi_zero_division)),
    Hostile("midi-sparse-4GiB", "melody", "4 GiB sparse file", _m(sparse_huge_midi)),
    Hostile("midi->/dev/zero", "melody", "symlink to /dev/zero", _m(dev_zero_melody)),
    Hostile("midi-fifo", "melody", "a FIFO named .mid", _m(fifo_melody)),
    Hostile("musicxml-truncated", "melody", "MusicXML cut at 2/3", _m(musicxml_truncated)),
    Hostile("musicxml-random", "melody", "random bytes .xml", _m(musicxml_random)),
    Hostile(
        "musicxml-billion-laughs", "melody", "entity expansion bomb", _m(musicxml_billion_laughs)
    ),
    Hostile(
        "musicxml-xxe",
        "melody",
        "external entity -> local file",
        lambda folder, marker: musicxml_external_entity(folder, folder / "secret.txt"),
    ),
    Hostile(
        "musicxml-huge-duration", "melody", "note of 10**9 quarters", _m(musicxml_huge_duration)
    ),
    Hostile("musicxml-deep", "melody", "elements nested 200 000 deep", _m(musicxml_deep_nesting)),
    Hostile("mxl-zip-slip", "melody", "rootfile ../ESCAPED_FILE", _m(mxl_zip_slip)),
    Hostile("mxl-zip-bomb", "melody", "1 GiB member in ~1 MB", _m(mxl_zip_bomb)),
    Hostile("abc-truncated", "melody", "ABC cut in half", _m(abc_truncated)),
    Hostile("abc-random", "melody", "random bytes .abc", _m(abc_random)),
    Hostile("abc-random-text", "melody", "printable ABC noise", _m(abc_random_text)),
    Hostile("abc-huge-duration", "melody", "note of 10**9 eighths", _m(abc_huge_duration)),
    Hostile("abc-huge-meter", "melody", "M:999999999/1 L:1/99999999", _m(abc_huge_meter)),
    Hostile("abc-300-empty-tunes", "melody", "300 empty X: headers", _m(abc_many_tunes)),
    Hostile("abc-sparse-4GiB", "melody", "4 GiB sparse file", _m(sparse_huge_abc)),
    Hostile("abc-tuplet-bomb", "melody", "(9999 tuplets", _m(abc_tuplet_bomb)),
]

ALL = CHECKPOINTS + MELODIES


def by_name(name: str) -> Hostile:
    for hostile in ALL:
        if hostile.name == name:
            return hostile
    raise KeyError(name)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """``{relative path: (size, mtime_ns)}`` of every entry under ``root`` (links not followed;
    folders only by their presence)."""
    result = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(st.st_mode):  # a folder "changes" whenever an entry is added
                result[str(path.relative_to(root))] = (-1, 0)
            else:
                result[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return result


def changed(before: dict, after: dict, allowed: list[str]) -> list[str]:
    """Entries created or modified outside the ``allowed`` relative prefixes."""
    out = []
    for key, value in after.items():
        if before.get(key) != value and not any(
            key == prefix or key.startswith(prefix.rstrip("/") + "/") for prefix in allowed
        ):
            out.append(key)
    out += [k for k in before if k not in after and not any(k.startswith(p) for p in allowed)]
    return sorted(out)


# --------------------------------------------------------------------------- resume states


def _read_safetensors(path: Path) -> tuple[dict, dict]:
    from safetensors import safe_open  # noqa: PLC0415
    from safetensors.torch import load_file  # noqa: PLC0415

    with safe_open(str(path), framework="pt") as handle:
        metadata = dict(handle.metadata() or {})
    return load_file(str(path)), metadata


def _write_safetensors(path: Path, tensors: dict, metadata: dict) -> None:
    from safetensors.torch import save_file  # noqa: PLC0415

    path.unlink(missing_ok=True)
    save_file(tensors, str(path), metadata=metadata)


def _edit_state(path: Path, edit: Callable[[dict, dict], None]) -> None:
    tensors, metadata = _read_safetensors(path)
    state = json.loads(metadata["state"])
    edit(tensors, state)
    metadata["state"] = json.dumps(state)
    _write_safetensors(path, tensors, metadata)


def _resume_pickle_torch(path, marker):
    path.unlink()
    path.write_bytes(torch_pickle_payload(marker))


def _resume_pickle_plain(path, marker):
    path.unlink()
    path.write_bytes(pickle_payload(marker))


def _resume_truncated(path, marker):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _resume_huge_header(path, marker):
    path.write_bytes(raw_safetensors({"__metadata__": {}}, declared_len=2**62))


def _resume_deep_state(path, marker):
    tensors, metadata = _read_safetensors(path)
    metadata["state"] = "[" * 100_000 + "]" * 100_000
    _write_safetensors(path, tensors, metadata)


def _resume_not_json(path, marker):
    tensors, metadata = _read_safetensors(path)
    metadata["state"] = "{not json"
    _write_safetensors(path, tensors, metadata)


def _resume_config_key(key, value):
    def mutate(path, marker):
        def edit(tensors, state):
            for name in ("model_config", "config", "note_rnn_config"):
                if isinstance(state.get(name), dict) and key in state[name]:
                    state[name][key] = value

        _edit_state(path, edit)

    return mutate


def _resume_drop_tensor(path, marker):
    tensors, metadata = _read_safetensors(path)
    tensors.pop(sorted(tensors)[0])
    _write_safetensors(path, tensors, metadata)


def _resume_shrink_tensors(path, marker):
    tensors, metadata = _read_safetensors(path)
    tensors = {k: v.flatten()[: max(1, v.numel() // 2)].clone() for k, v in tensors.items()}
    _write_safetensors(path, tensors, metadata)


def _resume_float64_tensors(path, marker):
    import torch  # noqa: PLC0415

    tensors, metadata = _read_safetensors(path)
    tensors = {k: v.to(torch.float64) if v.is_floating_point() else v for k, v in tensors.items()}
    _write_safetensors(path, tensors, metadata)


def _resume_traversal(path, marker):
    def edit(tensors, state):
        for key, value in list(state.items()):
            if isinstance(value, str):
                state[key] = f"../../{ESCAPE_NAME}"
        state["name"] = f"../../{ESCAPE_NAME}"
        state["checkpoint"] = f"/tmp/{ESCAPE_NAME}"

    _edit_state(path, edit)


def _resume_dev_zero(path, marker):
    path.unlink()
    os.symlink("/dev/zero", path)


def _resume_fifo(path, marker):
    path.unlink()
    os.mkfifo(path)


def resume_cases(original: Path) -> dict[str, Callable[[Path, Path], None]]:
    """Ways to spoil a valid resume file ``original`` (a safetensors file with a JSON state in
    its metadata, as ``pretrain`` and ``train`` write): ``name -> mutate(path, marker)`` where
    ``path`` is a copy of ``original`` to spoil in place."""

    return {
        "resume:torch-pickle": _resume_pickle_torch,
        "resume:plain-pickle": _resume_pickle_plain,
        "resume:truncated": _resume_truncated,
        "resume:header-2^62": _resume_huge_header,
        "resume:state-nested-100k": _resume_deep_state,
        "resume:state-not-json": _resume_not_json,
        "resume:hidden-1e6": _resume_config_key("hidden_size", 10**6),
        "resume:hidden-8.5": _resume_config_key("hidden_size", 8.5),
        "resume:hidden-string": _resume_config_key("hidden_size", "16"),
        "resume:missing-tensor": _resume_drop_tensor,
        "resume:wrong-shapes": _resume_shrink_tensors,
        "resume:float64": _resume_float64_tensors,
        "resume:../-in-strings": _resume_traversal,
        "resume:->/dev/zero": _resume_dev_zero,
        "resume:fifo": _resume_fifo,
    }


# --------------------------------------------------------------------------- agents and runs


def _json_edit(path: Path, edit: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _set(path: Path, *keys_and_value) -> Callable[[], None]:
    *keys, value = keys_and_value

    def edit(data):
        target = data
        for k in keys[:-1]:
            target = target[k]
        target[keys[-1]] = value

    return lambda: _json_edit(path, edit)


def _spoil_tensors(path: Path, how: str) -> None:
    import torch  # noqa: PLC0415

    tensors, metadata = _read_safetensors(path)
    if how == "shrink":
        tensors = {k: v.flatten()[: max(1, v.numel() // 2)].clone() for k, v in tensors.items()}
    elif how == "float64":
        tensors = {k: v.double() if v.is_floating_point() else v for k, v in tensors.items()}
    elif how == "nan":
        tensors = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                   for k, v in tensors.items()}  # fmt: skip
    _write_safetensors(path, tensors, metadata)


def _agent_weights(run):
    return run / "agent.safetensors"


def _agent_config(run):
    return run / "agent.json"


def _agent_pickled(kind):
    def mutate(run, marker):
        data = torch_pickle_payload(marker) if kind == "torch" else pickle_payload(marker)
        _agent_weights(run).unlink()
        _agent_weights(run).write_bytes(data)
        return _agent_config(run)

    return mutate


def _agent_file_instead(builder):
    return lambda run, marker: builder(run, marker)


def _agent_tensors(how):
    def mutate(run, marker):
        _spoil_tensors(_agent_weights(run), how)
        return _agent_config(run)

    return mutate


def _agent_raw(data):
    def mutate(run, marker):
        _agent_weights(run).unlink()
        _agent_weights(run).write_bytes(data() if callable(data) else data)
        return _agent_config(run)

    return mutate


def _agent_truncate(run, marker):
    data = _agent_weights(run).read_bytes()
    _agent_weights(run).write_bytes(data[: len(data) // 2])
    return _agent_config(run)


def _agent_meta(*keys_and_value):
    def mutate(run, marker):
        _set(_agent_config(run), *keys_and_value)()
        return _agent_config(run)

    return mutate


def _agent_json_text(text):
    def mutate(run, marker):
        _agent_config(run).write_text(text)
        return _agent_config(run)

    return mutate


def _agent_sparse_json(run, marker):
    with open(_agent_config(run), "r+b") as handle:
        handle.truncate(4 * 2**30)
    return _agent_config(run)


def _agent_traversal(run, marker):
    def edit(data):
        data["env_kwargs"] = {"key": f"../../{ESCAPE_NAME}"}
        data["metadata"] = {"note_rnn": f"../../{ESCAPE_NAME}", "name": f"../{ESCAPE_NAME}"}

    _json_edit(_agent_config(run), edit)
    return run  # the folder form of --agent


def _agent_dev_zero(run, marker):
    _agent_weights(run).unlink()
    os.symlink("/dev/zero", _agent_weights(run))
    return _agent_config(run)


def _agent_fifo(run, marker):
    _agent_config(run).unlink()
    os.mkfifo(_agent_config(run))
    return _agent_weights(run)


def agent_cases() -> dict[str, Callable[[Path, Path], Path]]:
    """Ways to spoil a trained agent ``run/agent.{json,safetensors}`` for ``sample --agent``:
    ``name -> mutate(run, marker) -> path to pass``."""

    return {
        "agent:pickle-in-.safetensors": _agent_pickled("torch"),
        "agent:plain-pickle-in-.safetensors": _agent_pickled("plain"),
        "agent:pickle-.pt": _agent_file_instead(lambda run, marker: ckpt_pt(run, marker)),
        "agent:legacy-pickle-.pt": _agent_file_instead(
            lambda run, m: ckpt_legacy_pickle_pt(run, m)
        ),
        "agent:sb3-.zip": _agent_file_instead(lambda run, marker: sb3_zip(run, marker)),
        "agent:wrong-shapes": _agent_tensors("shrink"),
        "agent:float64": _agent_tensors("float64"),
        "agent:nan-weights": _agent_tensors("nan"),
        "agent:truncated": _agent_truncate,
        "agent:header-2^62": _agent_raw(lambda: raw_safetensors({}, declared_len=2**62)),
        "agent:hidden-1e6": _agent_meta("note_rnn_config", "hidden_size", 10**6),
        "agent:hidden-8.5": _agent_meta("note_rnn_config", "hidden_size", 8.5),
        "agent:layers-string": _agent_meta("note_rnn_config", "num_layers", "1"),
        "agent:melody-length-1e9": _agent_meta("melody_length", 10**9),
        "agent:temperature-0": _agent_meta("hyperparameters", "temperature", 0),
        "agent:temperature-nan": _agent_meta("hyperparameters", "temperature", float("nan")),
        "agent:temperature-string": _agent_meta("hyperparameters", "temperature", "hot"),
        "agent:algo-../": _agent_meta("algo", f"../../{ESCAPE_NAME}"),
        "agent:json-nested-100k": _agent_json_text("[" * 100_000 + "]" * 100_000),
        "agent:json-sparse-4GiB": _agent_sparse_json,
        "agent:../-in-names": _agent_traversal,
        "agent:weights->/dev/zero": _agent_dev_zero,
        "agent:config-fifo": _agent_fifo,
    }


TOLERATED_AGENT_CASES = {"agent:float64"}  # may be refused (dtype) or cast exactly
TOLERATED_JSONL_CASES = {"jsonl:agent-../"}  # the agent name is only data: files use a safe name


def run_cases() -> dict[str, Callable[[Path, Path], None]]:
    """Ways to spoil a ``train --out RUN`` folder before ``train --resume --out RUN``."""

    def latest(run):
        pointer = json.loads((run / "checkpoints" / "latest.json").read_text())
        return run / "checkpoints" / pointer["checkpoint"]

    def run_json(*keys_and_value):
        return lambda run, marker: _set(run / "run.json", *keys_and_value)()

    def pointer(name):
        def mutate(run, marker):
            (run / "checkpoints" / "latest.json").write_text(
                json.dumps({"checkpoint": name, "num_timesteps": 1})
            )

        return mutate

    def ckpt_json(file, *keys_and_value):
        return lambda run, marker: _set(latest(run) / file, *keys_and_value)()

    def ckpt_text(file, text):
        return lambda run, marker: (latest(run) / file).write_text(text)

    def ckpt_pickle(file):
        def mutate(run, marker):
            (latest(run) / file).unlink()
            (latest(run) / file).write_bytes(torch_pickle_payload(marker))

        return mutate

    def ckpt_tensors(file, how):
        return lambda run, marker: _spoil_tensors(latest(run) / file, how)

    def traversal_everywhere(run, marker):
        _set(run / "run.json", "algo", f"../../{ESCAPE_NAME}")()
        _set(latest(run) / "agent.json", "metadata", {"name": f"../../{ESCAPE_NAME}"})()

    return {
        "run:run.json-algo-../": run_json("algo", f"../../{ESCAPE_NAME}"),
        "run:run.json-tensorboard_log": run_json(
            "hyperparameters", {"tensorboard_log": f"/tmp/{ESCAPE_NAME}"}
        ),
        "run:run.json-n_envs-1e9": run_json("n_envs", 10**9),
        "run:run.json-nested-100k": lambda run, m: (run / "run.json").write_text(
            "[" * 100_000 + "]" * 100_000
        ),
        "run:run.json-not-an-object": lambda run, m: (run / "run.json").write_text("[1, 2]"),
        "run:latest->..": pointer(".."),
        "run:latest->/tmp": pointer("/tmp"),
        "run:latest->../../x": pointer(f"../../{ESCAPE_NAME}"),
        "run:latest-nested-100k": lambda run, m: (run / "checkpoints" / "latest.json").write_text(
            "[" * 100_000 + "]" * 100_000
        ),
        "run:training-pickle": ckpt_pickle("training.safetensors"),
        "run:agent-pickle": ckpt_pickle("agent.safetensors"),
        "run:training-shrunk": ckpt_tensors("training.safetensors", "shrink"),
        "run:agent-shrunk": ckpt_tensors("agent.safetensors", "shrink"),
        "run:training.json-nested": ckpt_text("training.json", "[" * 100_000 + "]" * 100_000),
        "run:training-counters-float": ckpt_json("training.json", "counters", "n_updates", 1e400),
        "run:training-rng-garbage": ckpt_json("training.json", "rng_numpy", ["MT19937", 1, 2]),
        "run:agent-hidden-1e6": ckpt_json("agent.json", "note_rnn_config", "hidden_size", 10**6),
        "run:agent-buffer-1e12": ckpt_json("agent.json", "hyperparameters", "buffer_size", 10**12),
        "run:agent-unknown-hyper": ckpt_json(
            "agent.json", "hyperparameters", "tensorboard_log", f"/tmp/{ESCAPE_NAME}"
        ),
        "run:../-everywhere": traversal_everywhere,
    }


def jsonl_cases() -> dict[str, Callable[[Path], Path]]:
    """Hostile sample files for ``evaluate FILE``: ``name -> build(folder) -> path``."""
    good = {"tokens": [14, 1, 16, 1] * 8, "primer": [14], "key": "C major", "agent": "x", "seed": 0}

    def lines(name, *records):
        def build(folder):
            path = folder / name
            path.write_text("".join(r if isinstance(r, str) else json.dumps(r) + "\n"
                                    for r in records))  # fmt: skip
            return path

        return build

    def sparse(folder):
        path = folder / "sparse.jsonl"
        with open(path, "wb") as handle:
            handle.truncate(4 * 2**30)
        return path

    def random_bytes(folder):
        path = folder / "random.jsonl"
        path.write_bytes(random.Random(5).randbytes(4096))
        return path

    def fifo(folder):
        path = folder / "fifo.jsonl"
        os.mkfifo(path)
        return path

    def dev_zero(folder):
        path = folder / "zero.jsonl"
        os.symlink("/dev/zero", path)
        return path

    return {
        "jsonl:random-bytes": random_bytes,
        "jsonl:truncated": lines("truncated.jsonl", json.dumps(good)[:30]),
        "jsonl:nested-100k": lines("nested.jsonl", "[" * 100_000 + "]" * 100_000 + "\n"),
        "jsonl:sparse-4GiB": sparse,
        "jsonl:seed-1e400": lines("seed.jsonl", json.dumps(good).replace('"seed": 0', '"seed": 1e400') + "\n"),
        "jsonl:seed-NaN": lines("seednan.jsonl", json.dumps(good).replace('"seed": 0', '"seed": NaN') + "\n"),
        "jsonl:tokens-out-of-range": lines("range.jsonl", dict(good, tokens=[14, 99, -1])),
        "jsonl:tokens-float": lines("float.jsonl", dict(good, tokens=[14.5, 1])),
        "jsonl:tokens-nested": lines("tnested.jsonl", dict(good, tokens=[[14], [1]])),
        "jsonl:tokens-100k": lines("long.jsonl", dict(good, tokens=[14, 1] * 50_000)),
        "jsonl:key-H-major": lines("key.jsonl", dict(good, key="H major")),
        "jsonl:agent-../": lines("agent.jsonl", dict(good, agent=f"../../{ESCAPE_NAME}")),
        "jsonl:key-../": lines("keypath.jsonl", dict(good, key=f"../../{ESCAPE_NAME}")),
        "jsonl:fifo": fifo,
        "jsonl:->/dev/zero": dev_zero,
    }  # fmt: skip


def report_cases() -> dict[str, Callable[[Path], None]]:
    """Ways to spoil a ``train`` run folder before ``sequence-tutor report RUN``."""

    def events(name, data):
        def mutate(run):
            folder = next((p.parent for p in run.rglob("events.out.tfevents.*")), run / "tb")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"events.out.tfevents.0.{name}").write_bytes(data)

        return mutate

    def samples(text):
        def mutate(run):
            for path in (run / "samples").glob("*.jsonl"):
                path.write_text(text)

        return mutate

    def sparse_csv(run):
        with open(run / "sparse.csv", "wb") as handle:
            handle.write(b"step,reward\n")
            handle.truncate(4 * 2**30)

    def fifo_csv(run):
        os.mkfifo(run / "fifo.csv")

    return {
        "report:events-random": events("random", random.Random(1).randbytes(4096)),
        "report:events-length-2^62": events("huge", struct.pack("<Q", 2**62) + b"\0" * 12),
        "report:samples-nested-100k": samples("[" * 100_000 + "]" * 100_000 + "\n"),
        "report:samples-seed-1e400": samples('{"tokens": [14, 1], "seed": 1e400}\n'),
        "report:samples-../-agent": samples(
            json.dumps({"tokens": [14, 1] * 16, "agent": f"../../{ESCAPE_NAME}"}) + "\n"
        ),
        "report:csv-sparse-4GiB": sparse_csv,
        "report:csv-fifo": fifo_csv,
    }


TOLERATED_REPORT_CASES = {
    "report:events-random",  # TensorBoard skips corrupt records: the page has fewer curves
    "report:events-length-2^62",
    "report:samples-../-agent",  # the agent name is only data
    "report:csv-sparse-4GiB",  # skipped: too large to be a curve table
    "report:csv-fifo",
}
