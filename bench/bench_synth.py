"""Benchmark of the synthetic generator: subjects -> seconds, rows per file, bytes and peak memory.

Each size runs `write_synthetic` in a fresh Python process writing into a temporary folder, so the
peak resident set size is that run's alone: the child reports `resource.getrusage(RUSAGE_SELF)`
(what `RUSAGE_CHILDREN` gives the parent for a single child; ru_maxrss is in KiB on Linux).

    python bench/bench_synth.py                 # 1,000, 10,000 and 100,000 subjects
    python bench/bench_synth.py 500 5000        # other sizes
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEED = 20110823
DEFAULT_SIZES = (1_000, 10_000, 100_000)
CHILD = """
import json, resource, sys, time
from pathlib import Path
from trialbridge.converters.synth.generator import write_synthetic
start = time.perf_counter()
counts = write_synthetic(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
seconds = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "counts": counts, "peak_kib": peak_kib}))
"""


def run(n_subjects: int, seed: int = SEED) -> dict[str, object]:
    """One generation in a child process; its own timing, row counts, peak RSS, and the bytes on disk."""
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as folder:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", CHILD, folder, str(n_subjects), str(seed)],
                              capture_output=True, text=True, check=True)
        wall = time.perf_counter() - started
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["bytes"] = sum(path.stat().st_size for path in Path(folder).iterdir())
    result.update(subjects=n_subjects, wall=wall)
    return result


def table(results: list[dict[str, object]]) -> str:
    files = list(results[0]["counts"])  # type: ignore[index]
    header = ["subjects", "seconds", "wall s", "rows", "MB", "peak RSS MB"] + [f.split(".")[0] for f in files]
    lines = [header]
    for r in results:
        counts: dict[str, int] = r["counts"]  # type: ignore[assignment]
        lines.append([f"{r['subjects']:,}", f"{r['seconds']:.1f}", f"{r['wall']:.1f}",
                      f"{sum(v for k, v in counts.items() if k.endswith('.csv')):,}",
                      f"{int(r['bytes']) / 1e6:.1f}", f"{int(r['peak_kib']) / 1024:.0f}"]
                     + [f"{counts[f]:,}" for f in files])
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in lines)


def main(argv: list[str]) -> int:
    sizes = [int(arg) for arg in argv] or list(DEFAULT_SIZES)
    results = []
    for n in sizes:
        results.append(run(n))
        print(f"done {n:,} subjects in {results[-1]['seconds']:.1f} s", file=sys.stderr)
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
