"""Interpolated Kneser-Ney n-gram model over melody tokens: the baseline a Note RNN must beat.

Each tune is preceded by ``n - 1`` begin-of-tune symbols (so, like the Note RNN's zero state,
the model knows where a tune starts). With ``D_k = n_1 / (n_1 + 2 n_2)`` per order ``k``
(Chen & Goodman's single discount), counts ``c`` (raw counts at the highest order,
continuation counts ``N_{1+}(\\cdot\\, h w)`` below it) and ``h'`` the context without its first token:

.. math::

    P_k(w \\mid h) = \\frac{\\max(c(h w) - D_k, 0)}{c(h)} + \\frac{D_k\\, N_{1+}(h\\, \\cdot)}{c(h)}\\, P_{k-1}(w \\mid h'),

with ``P_k = P_{k-1}`` for a context never seen and ``P_0`` uniform over the vocabulary.
All counts are sorted int64 codes of the n-grams (base ``V + 1``), so building and scoring are
a few numpy sorts and binary searches per order.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pretrain.vocabulary import DEFAULT_VOCABULARY, NO_EVENT


@dataclass
class _Order:
    codes: np.ndarray  # sorted unique n-gram codes (context * base + token)
    counts: np.ndarray  # their (continuation) counts
    contexts: np.ndarray  # sorted unique context codes
    context_totals: np.ndarray  # c(h)
    context_types: np.ndarray  # N1+(h .)
    discount: float


class KneserNeyModel:
    """Interpolated Kneser-Ney n-gram model (see the module docstring).

    :param order: n (the prototype's baseline: 9).
    :param vocab_size: number of tokens; ``vocab_size`` itself is the begin-of-tune symbol.
    """

    def __init__(self, order: int = 9, vocab_size: int = 38) -> None:
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        self.order = order
        self.vocab_size = vocab_size
        self.base = vocab_size + 1
        if self.base**order >= 2**62:
            raise ValueError(f"order {order} is too large for vocabulary size {vocab_size}")
        self.begin = vocab_size
        self.orders: list[_Order] = []
        self.train_seconds = 0.0
        self.train_tokens = 0

    def _padded(self, tunes: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Concatenate tunes, each after ``order - 1`` begin symbols; return tokens and a mask of
        the real positions."""
        pad = self.order - 1
        parts, real = [], []
        for tune in tunes:
            tune = np.asarray(tune, dtype=np.int64)
            if len(tune) and (tune.min() < 0 or tune.max() >= self.vocab_size):
                raise ValueError(f"token outside 0..{self.vocab_size - 1}")
            parts.append(np.full(pad, self.begin, dtype=np.int64))
            parts.append(tune)
            real.append(np.zeros(pad, dtype=bool))
            real.append(np.ones(len(tune), dtype=bool))
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, bool)
        return np.concatenate(parts), np.concatenate(real)

    def _codes(self, tokens: np.ndarray, positions: np.ndarray, length: int) -> np.ndarray:
        """Code of the ``length`` tokens ending at each position."""
        code = np.zeros(len(positions), dtype=np.int64)
        for offset in range(length - 1, -1, -1):
            code = code * self.base + tokens[positions - offset]
        return code

    def fit(self, tunes: Sequence[np.ndarray]) -> KneserNeyModel:
        """Count the n-grams of ``tunes``."""
        start = time.perf_counter()
        tokens, real = self._padded(tunes)
        positions = np.flatnonzero(real)
        self.train_tokens = int(len(positions))
        orders: list[_Order | None] = [None] * self.order
        higher_unique = None
        for k in range(self.order, 0, -1):
            if k == self.order:
                codes, counts = np.unique(self._codes(tokens, positions, k), return_counts=True)
            else:
                # Continuation counts: distinct left extensions of each k-gram.
                codes, counts = np.unique(higher_unique % self.base**k, return_counts=True)
            higher_unique = codes
            n1 = int((counts == 1).sum())
            n2 = int((counts == 2).sum())
            discount = n1 / (n1 + 2 * n2) if n1 + n2 > 0 else 0.5
            contexts, first = np.unique(codes // self.base, return_index=True)
            totals = np.add.reduceat(counts, first) if len(codes) else np.zeros(0, np.int64)
            types = np.diff(np.append(first, len(codes)))
            orders[k - 1] = _Order(codes, counts, contexts, totals, types, min(discount, 1.0))
        self.orders = orders  # type: ignore[assignment]
        self.train_seconds = time.perf_counter() - start
        return self

    @staticmethod
    def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
        """``values`` at ``query`` in sorted ``keys``, 0 where absent."""
        if len(keys) == 0:
            return np.zeros(query.shape, dtype=values.dtype)
        index = np.searchsorted(keys, query)
        index = np.minimum(index, len(keys) - 1)
        found = keys[index] == query
        return np.where(found, values[index], 0)

    def distribution(self, tokens: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """``P(. | context)`` ``[len(positions), V]`` for the token at each position of the padded
        stream ``tokens`` (the context is what precedes it)."""
        vocab = np.arange(self.vocab_size, dtype=np.int64)
        probs = np.full((len(positions), self.vocab_size), 1.0 / self.vocab_size)
        for k in range(1, self.order + 1):
            level = self.orders[k - 1]
            if k > 1:
                context = self._codes(tokens, positions - 1, k - 1)
            else:
                context = np.zeros(len(positions), dtype=np.int64)
            total = self._lookup(level.contexts, level.context_totals, context).astype(np.float64)
            types = self._lookup(level.contexts, level.context_types, context).astype(np.float64)
            counts = self._lookup(
                level.codes, level.counts, context[:, None] * self.base + vocab[None, :]
            )
            seen = total > 0
            safe = np.where(seen, total, 1.0)[:, None]
            mixed = (
                np.maximum(counts - level.discount, 0.0) + level.discount * types[:, None] * probs
            ) / safe
            probs = np.where(seen[:, None], mixed, probs)
        return probs

    def evaluate(self, tunes: Sequence[np.ndarray], chunk: int = 32768) -> dict:
        """Same metrics as :func:`pretrain.training.evaluate_note_rnn` (first token of each tune
        not predicted, like the Note RNN)."""
        tokens, real = self._padded(tunes)
        # Predict every real token except each tune's first.
        first = np.zeros_like(real)
        pad = self.order - 1
        index = 0
        for tune in tunes:
            index += pad
            if len(tune):
                first[index] = True
            index += len(tune)
        positions = np.flatnonzero(real & ~first)
        nll = correct = nonhold_correct = nonhold = 0.0
        for begin in range(0, len(positions), chunk):
            part = positions[begin : begin + chunk]
            probs = self.distribution(tokens, part)
            target = tokens[part]
            picked = probs[np.arange(len(part)), target]
            nll -= float(np.log(picked).sum())
            hit = probs.argmax(axis=1) == target
            correct += float(hit.sum())
            mask = target != NO_EVENT
            nonhold += float(mask.sum())
            nonhold_correct += float((hit & mask).sum())
        count = len(positions)
        if count == 0:
            raise ValueError("no tokens to predict")
        loss = nll / count
        return {
            "loss": loss,
            "perplexity": math.exp(loss),
            "accuracy": correct / count,
            "nonhold_accuracy": nonhold_correct / max(nonhold, 1.0),
            "tokens": int(count),
        }

    def num_parameters(self) -> int:
        """Stored n-gram counts (the model's size)."""
        return int(sum(len(level.codes) for level in self.orders))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pretrain.ngram [--order 9] [--data PATH]``: fit on the training tunes of the
    corpus and print validation metrics as JSON."""
    import argparse  # noqa: PLC0415
    import json  # noqa: PLC0415

    from pretrain.corpus import load_corpus  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m pretrain.ngram", description=main.__doc__)
    parser.add_argument("--order", type=int, default=9)
    parser.add_argument("--data", default=None)
    parser.add_argument("--valid-fraction", type=float, default=0.1)
    args = parser.parse_args(argv)
    try:
        model = KneserNeyModel(args.order, DEFAULT_VOCABULARY.size)
    except ValueError as exc:
        parser.error(f"--order {args.order}: {exc}")
    corpus = load_corpus(args.data, valid_fraction=args.valid_fraction, progress=False)
    model = KneserNeyModel(args.order, corpus.vocabulary.size).fit(corpus.train)
    start = time.perf_counter()
    metrics = model.evaluate(corpus.valid)
    metrics.update(
        order=args.order,
        ngrams=model.num_parameters(),
        train_tokens=model.train_tokens,
        train_tokens_per_second=model.train_tokens / model.train_seconds,
        eval_seconds=time.perf_counter() - start,
        corpus_hash=corpus.hash,
    )
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
