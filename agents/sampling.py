"""Sample compositions from the Note RNN or a tuned agent, and read/write them as JSON Lines.

Sampling follows the stochastic policy, as the paper's evaluation does: ``softmax`` of the Note
RNN's logits, of Ψ, of ``G + log p``, or of Q. Each composition starts from a primer, by default a
random in-key note as ``SequenceTutor-v0`` draws it; the primer primes the network but is not part
of the composition. One line per composition (DESIGN.md)::

    {"tokens": [T ints], "primer": [ints], "key": "C major", "agent": "psi", "seed": 0}
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pretrain.atomic_write import atomic_path
from pretrain.errors import SequenceTutorError
from pretrain.models import NoteRNN
from pretrain.vocabulary import DEFAULT_VOCABULARY, Vocabulary

MAX_LINE_BYTES = 1 << 20
MAX_COMPOSITION_STEPS = 10_000  # the environment's longest melody


@dataclass
class Samples:
    """Compositions of one agent: ``tokens[i]`` (T ints) primed by ``primers[i]``."""

    tokens: np.ndarray  # [N, T] int64
    primers: list[list[int]]
    key: str = "C major"
    agent: str = "agent"
    seeds: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tokens)

    def records(self) -> Iterable[dict]:
        seeds = self.seeds or [0] * len(self)
        for tokens, primer, seed in zip(self.tokens.tolist(), self.primers, seeds):
            yield {
                "tokens": tokens,
                "primer": list(primer),
                "key": self.key,
                "agent": self.agent,
                "seed": int(seed),
            }


class _Sampler:
    """One batched step of a stochastic policy with carried recurrent state."""

    def __init__(self, nets: list[NoteRNN], combine) -> None:
        self.nets = nets
        self.combine = combine

    @torch.no_grad()
    def run(
        self,
        primers: torch.Tensor,
        length: int,
        generator: torch.Generator,
        *,
        full_primer: bool,
    ) -> torch.Tensor:
        feed = primers if full_primer else primers[:, -1:]
        outs, states = [], []
        for net in self.nets:
            logits, state = net(feed)
            outs.append(logits[:, -1])
            states.append(state)
        actions = []
        for t in range(length):
            probs = torch.softmax(self.combine(outs), dim=-1)
            action = torch.multinomial(probs, 1, generator=generator)[:, 0]
            actions.append(action)
            if t + 1 == length:
                break
            for i, net in enumerate(self.nets):
                outs[i], states[i] = net.step(action, states[i])
        return torch.stack(actions, dim=1)


def note_rnn_sampler(note_rnn: NoteRNN, temperature: float = 1.0) -> _Sampler:
    """Sample from ``softmax(logits / temperature)`` of a Note RNN."""
    return _Sampler([note_rnn.eval()], lambda outs: outs[0] / temperature)


def policy_sampler(policy) -> _Sampler:
    """Sample from an agent's Boltzmann policy (:meth:`NoteRNNPolicy.action_logits`)."""
    nets = [policy.q_net.rnn.eval()]
    if policy.prior is not None:
        nets.append(policy.prior.eval())
    return _Sampler(
        nets, lambda outs: policy.action_logits(outs[0], outs[1] if len(outs) > 1 else None)
    )


def draw_primers(
    n: int,
    key: str,
    vocabulary: Vocabulary,
    rng: np.random.Generator,
    primer: Sequence[int] | int | None = None,
) -> np.ndarray:
    """``[n, P]`` primers: ``primer`` repeated, or a random in-key note each (the env's default)."""
    if primer is not None:
        try:
            row = vocabulary.check_tokens(np.atleast_1d(primer), "--primer")
        except ValueError as exc:
            raise SequenceTutorError(str(exc)) from None
        if row.size == 0:
            raise SequenceTutorError("primer: expected at least one token")
        return np.tile(row, (n, 1))
    from rewards.keys import key_tables  # noqa: PLC0415

    choices = np.asarray(key_tables(key, vocabulary).in_key_notes)
    return rng.choice(choices, size=(n, 1))


def sample(
    sampler: _Sampler,
    n: int,
    *,
    agent: str,
    seed: int = 0,
    melody_length: int = 32,
    key: str = "C major",
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    primer: Sequence[int] | int | None = None,
    full_primer: bool = True,
    batch_size: int = 1000,
    progress: bool = False,
) -> Samples:
    """``n`` compositions of ``melody_length`` steps from ``sampler``, reproducible from ``seed``.

    :param full_primer: feed the whole primer (the Note RNN / Reward RNN) or only its last token
        (an agent, whose observation holds the primer's last token).
    """
    if n < 1:
        raise SequenceTutorError(f"--n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    primers = draw_primers(n, key, vocabulary, rng, primer)
    generator = torch.Generator().manual_seed(int(seed))
    chunks = []
    starts = range(0, n, batch_size)
    if progress:
        from tqdm import tqdm  # noqa: PLC0415

        starts = tqdm(starts, desc=f"sampling {agent}", unit="batch")
    for start in starts:
        batch = torch.as_tensor(primers[start : start + batch_size], dtype=torch.long)
        chunks.append(sampler.run(batch, melody_length, generator, full_primer=full_primer))
    tokens = torch.cat(chunks).numpy().astype(np.int64)
    return Samples(tokens, primers.tolist(), key=key, agent=agent, seeds=[int(seed)] * n)


# -- JSON Lines ----------------------------------------------------------------------------------
def write_jsonl(samples: Samples, path: str | os.PathLike) -> Path:
    """Write one JSON object per composition, atomically."""
    path = Path(path)
    if path.is_dir():
        raise SequenceTutorError(f"{path}: is a folder; expected a .jsonl file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for record in samples.records():
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")
    return path


def read_jsonl(
    path: str | os.PathLike, vocabulary: Vocabulary = DEFAULT_VOCABULARY
) -> list[Samples]:
    """Compositions of a JSON Lines file, grouped by (agent, key, length); validated."""
    path = Path(path)
    if not path.is_file():
        raise SequenceTutorError(f"{path}: samples file not found")
    groups: dict[tuple[str, str, int], dict[str, list]] = {}
    with open(path, encoding="utf-8") as handle:
        # readline with a limit: a file without newlines must not be read whole into memory
        lines = iter(lambda: handle.readline(MAX_LINE_BYTES + 1), "")
        for number, line in enumerate(_decoded(lines, path), 1):
            if len(line) > MAX_LINE_BYTES:
                raise SequenceTutorError(
                    f"{path}:{number}: line longer than {MAX_LINE_BYTES} bytes"
                )
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                tokens = vocabulary.check_tokens(record["tokens"], "tokens")
                primer = vocabulary.check_tokens(record.get("primer", []), "primer")
                key = str(record.get("key", "C major"))
                agent = str(record.get("agent", path.stem))
                seed = int(record.get("seed", 0))
                if tokens.ndim != 1 or tokens.size == 0 or primer.ndim != 1:
                    raise ValueError("tokens and primer must be flat lists, tokens not empty")
                if tokens.size > MAX_COMPOSITION_STEPS:
                    raise ValueError(f"{tokens.size} tokens, more than {MAX_COMPOSITION_STEPS}")
                _check_key(key)
            except (
                json.JSONDecodeError,
                KeyError,
                TypeError,
                ValueError,
                OverflowError,
                RecursionError,
            ) as exc:
                raise SequenceTutorError(
                    f"{path}:{number}: not a composition record ({exc}); expected "
                    '{"tokens": [...], "primer": [...], "key": ..., "agent": ..., "seed": ...}'
                ) from None
            group = groups.setdefault(
                (agent, key, tokens.size), {"tokens": [], "primers": [], "seeds": []}
            )
            group["tokens"].append(tokens)
            group["primers"].append(primer.tolist())
            group["seeds"].append(seed)
    if not groups:
        raise SequenceTutorError(f"{path}: no compositions in the file")
    return [
        Samples(np.stack(g["tokens"]), g["primers"], key=key, agent=agent, seeds=g["seeds"])
        for (agent, key, _), g in groups.items()
    ]


def _decoded(lines: Iterable[str], path: Path) -> Iterable[str]:
    try:
        yield from lines
    except UnicodeDecodeError as exc:
        raise SequenceTutorError(f"{path}: not UTF-8 text ({exc.reason})") from None


def _check_key(key: str) -> None:
    """Raise ``ValueError`` unless music21 knows ``key`` (the env needs it to score the steps)."""
    from rewards.keys import key_tables  # noqa: PLC0415

    key_tables(key)


def export_melodies(
    samples: Samples,
    folder: str | os.PathLike,
    suffix: str,
    *,
    count: int | None = None,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
) -> list[Path]:
    """Write the first ``count`` compositions as ``<agent>_<i>.<suffix>`` (MIDI or MusicXML)."""
    from pretrain.tokenizer import write_melody  # noqa: PLC0415

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise SequenceTutorError(f"{folder}: exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    limit = len(samples) if count is None else min(count, len(samples))
    safe_agent = "".join(c if c.isalnum() or c in "-_" else "_" for c in samples.agent)
    for i in range(limit):
        path = folder / f"{safe_agent}_{i:05d}.{suffix}"
        paths.append(write_melody(samples.tokens[i], path, vocabulary=vocabulary, key=samples.key))
    return paths


__all__ = [
    "Samples",
    "draw_primers",
    "export_melodies",
    "note_rnn_sampler",
    "policy_sampler",
    "read_jsonl",
    "sample",
    "write_jsonl",
]
