"""Default corpus: build time from scratch, reload time from cache, corpus statistics.

Also times the ABC fast path (notes from music21's ABC tokens) against music21's full ABC
parse on the same tunes, interleaved, and prints the ratio.

    python benchmarks/corpus_build.py [--workers 2] [--sample 100]

Targets (issue 3): build <= 60 s on 2 cores, reload <= 0.2 s. The build goes into a fresh
temporary cache folder, so it never touches (or profits from) the user's cache.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REFERENCE = "prototype (DESIGN.md): 12,947 tunes, 11,516 kept, 2.23M tokens, 65.6% NO_EVENT, 1.2% NOTE_OFF, 99 s build with a pool of 2, 0.05 s reload"


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the pool workers)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _fresh_process_reload(cache_dir: Path) -> tuple[float, float]:
    """(import seconds, load seconds) in a new Python process."""
    code = (
        "import time; start = time.perf_counter()\n"
        "from pretrain.corpus import load_corpus\n"
        "middle = time.perf_counter()\n"
        f"corpus = load_corpus(cache_dir={str(cache_dir)!r}, progress=False)\n"
        "assert corpus.report.from_cache\n"
        "print(middle - start, time.perf_counter() - middle)\n"
    )
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    imports, load = result.stdout.strip().splitlines()[-1].split()
    return float(imports), float(load)


def _fast_vs_full(sample: int) -> tuple[float, float, int]:
    """Mean ms per tune of the fast path and the full parse, interleaved tune by tune."""
    import numpy as np

    from pretrain.abc_reader import abc_tune_melody, abc_tune_stream, split_abc_tunes
    from pretrain.corpus import DEFAULT_COLLECTIONS, _music21_corpus_root
    from pretrain.tokenizer import MelodyError, melody_from_stream

    root = _music21_corpus_root()
    tunes = []
    for collection in DEFAULT_COLLECTIONS:
        for path in sorted((root / collection).glob("*.abc")):
            tunes.extend(split_abc_tunes(path.read_text(encoding="latin-1")))
    chosen = [tunes[i] for i in np.random.default_rng(0).choice(len(tunes), sample, replace=False)]
    abc_tune_melody(chosen[0])  # first-use set-up of music21 is not per-tune cost
    fast = full = 0.0
    for tune in chosen:
        start = time.perf_counter()
        try:
            abc_tune_melody(tune)
        except MelodyError:
            pass
        middle = time.perf_counter()
        try:
            melody_from_stream(abc_tune_stream(tune))
        except MelodyError:
            pass
        full += time.perf_counter() - middle
        fast += middle - start
    return 1000 * fast / sample, 1000 * full / sample, sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="parser processes (default 2)")
    parser.add_argument("--reloads", type=int, default=5, help="cache reloads to time")
    parser.add_argument("--sample", type=int, default=100, help="tunes for fast-vs-full timing")
    args = parser.parse_args()

    from pretrain.corpus import load_corpus

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as folder:
        cache_dir = Path(folder)
        cpu_before = _cpu_seconds()
        start = time.perf_counter()
        corpus = load_corpus(cache_dir=cache_dir, workers=args.workers, progress=False)
        build = time.perf_counter() - start
        build_cpu = _cpu_seconds() - cpu_before
        reloads = []
        for _ in range(args.reloads):
            start = time.perf_counter()
            again = load_corpus(cache_dir=cache_dir, progress=False)
            reloads.append(time.perf_counter() - start)
            assert again.report.from_cache
        fresh_import, fresh_load = _fresh_process_reload(cache_dir)
        cache_bytes = Path(corpus.report.cache_path).stat().st_size

    report = corpus.report
    print(
        f"build from scratch, pool of {args.workers}: {build:.1f} s wall  (target <= 60 s); "
        f"{build_cpu:.1f} CPU-seconds in all processes"
    )
    print(
        f"reload from cache: median {statistics.median(reloads):.3f} s in process; "
        f"fresh process {fresh_load:.3f} s (+ {fresh_import:.3f} s importing numpy and pretrain)"
        f"  (target <= 0.2 s); "
        f"cache {cache_bytes / 1e6:.1f} MB"
    )
    print(report.summary().splitlines()[0])
    print("skipped per reason:", dict(sorted(report.skipped.items())))
    print(f"kept tunes rounded onto the grid (triplets, 32nds): {report.quantised:,}")
    kept = Counter(name.split("/")[0] for name in corpus.train_names + corpus.valid_names)
    print("kept per collection:", dict(kept))
    fast, full, count = _fast_vs_full(args.sample)
    print(
        f"ABC tune -> melody on {count} random tunes, interleaved: fast path {fast:.1f} ms, "
        f"full music21 parse (beams off) {full:.1f} ms, ratio {full / fast:.1f}x"
    )
    print(REFERENCE)


if __name__ == "__main__":
    main()
