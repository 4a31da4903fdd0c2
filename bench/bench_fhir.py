"""Speed and memory of the FHIR stage: N generated subjects -> SDTM -> FHIR R4 + R5 (bundles.ndjson, NDJSON), timed.

Run: `.venv/bin/python bench/bench_fhir.py [subjects] [workers]` (default 10,000 subjects and
`fhir_stage.default_workers()`). The native folder is generated (`write_synthetic`, seed 1), read and mapped to
SDTM first; then, on the same SDTM tables:
1. the stage as convert runs it (`write_fhir`, both releases, every check, `workers` processes): wall
   and CPU seconds, resources/s, peak RSS of this process (sampled every 10 ms) and of the largest worker,
   and the peak PSS of this process and its workers together (pages shared by fork counted once);
2. the same stage in one process with a CPU timer on each sub-stage: build (R5 once, R4 from it),
   order, check (compiled validators; exact layers and model on what needs them), serialise (orjson, and
   the Bundle entries packed once for both releases), write (Bundles and NDJSON cut from those bytes);
3. the serialise-only floor: the same resources, built block by block outside the timer, only
   serialised (orjson) and written to a file; and the ratio of the stage to it.
"""
from __future__ import annotations

import os
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import orjson

from trialbridge.converters.fhir import bundle as fhir_bundle, stage as fhir_stage
from trialbridge.converters.native_reader import read_native
from trialbridge.converters.sdtm_package import map_sdtm
from trialbridge.converters.synth.generator import write_synthetic

RELEASES = ["R4", "R5"]


class RssSampler:
    """Peak memory while the block runs, sampled every 10 ms: the resident set of this process, and the
    proportional set (PSS) of this process plus its forked workers, which counts the pages they share
    (the SDTM tables inherited by `fork`) once, not once per process as adding their RSS would."""

    def __init__(self) -> None:
        self.start = self.peak = self.total_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    @staticmethod
    def total_pss() -> int:
        """PSS of this process and its children in bytes (/proc/PID/smaps_rollup); 0 where unreadable."""
        pid = os.getpid()
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        total = 0
        for each in [str(pid), *children]:
            try:
                for line in Path(f"/proc/{each}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
            except OSError:
                continue  # a worker that ended between the two reads
        return total

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.rss())
            self.total_peak = max(self.total_peak, self.total_pss())

    def __enter__(self) -> "RssSampler":
        self.start = self.peak = self.rss()
        self.total_peak = self.total_pss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed(totals: dict[str, float], name: str, function):
    def wrapper(*args, **kwargs):
        start = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            totals[name] += time.process_time() - start
    return wrapper


def run_stage(registry, tables, out: Path, workers: int) -> tuple[float, float, list]:
    start, cpu = time.perf_counter(), _cpu()
    findings = fhir_stage.write_fhir(registry, tables, out, RELEASES, workers=workers)
    return time.perf_counter() - start, _cpu() - cpu, findings


def count_lines(out: Path) -> int:
    """Resources written (NDJSON lines), read in 1 MB pieces: never a whole file in memory."""
    total = 0
    for path in out.rglob("ndjson/*.ndjson"):
        with open(path, "rb") as handle:
            total += sum(piece.count(b"\n") for piece in iter(lambda: handle.read(1 << 20), b""))
    return total


def split_stage(registry, tables, out: Path) -> dict[str, float]:
    """CPU seconds per sub-stage, the stage in this one process (serialise: orjson and packing the entries)."""
    totals = dict.fromkeys(("build", "order", "check", "serialise", "write"), 0.0)
    names = {"build_releases": "build", "bundle_order": "order", "check_resources": "check",
             "serialise": "serialise", "pack": "serialise"}
    saved = {name: getattr(fhir_stage, name) for name in names}
    write = fhir_bundle.ReleaseWriter.write_chunk
    for name, total in names.items():
        setattr(fhir_stage, name, _timed(totals, total, saved[name]))
    fhir_bundle.ReleaseWriter.write_chunk = _timed(totals, "write", write)
    try:
        fhir_stage.write_fhir(registry, tables, out, RELEASES, workers=1)
    finally:
        for name, function in saved.items():
            setattr(fhir_stage, name, function)
        fhir_bundle.ReleaseWriter.write_chunk = write
    return totals


def floor(registry, tables, out: Path) -> tuple[float, int]:
    """Seconds to serialise (orjson) and write every resource of both releases, built outside the timer."""
    inp = fhir_stage.fhir_input(registry, tables)
    seconds, count = 0.0, 0
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "floor.ndjson", "wb") as sink:
        parts = [(inp, fhir_stage.STUDY_MODULES)] + [
            (fhir_stage.block_at(inp, i, fhir_stage.BLOCK_SUBJECTS), fhir_stage.SUBJECT_MODULES)
            for i in range(fhir_stage.block_count(inp, fhir_stage.BLOCK_SUBJECTS))]
        for part, modules in parts:
            built = fhir_stage.build_releases(part, RELEASES, modules)
            for release in RELEASES:
                resources = built[release][0]
                start = time.process_time()
                for r in resources:
                    sink.write(orjson.dumps(r) + b"\n")
                seconds += time.process_time() - start
                count += len(resources)
    return seconds, count


def main(subjects: int, workers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        native = Path(tmp) / "native"
        native.mkdir()
        start = time.perf_counter()
        write_synthetic(native, subjects, 1)
        trial, _ = read_native(native)
        tables = map_sdtm(trial).tables
        print(f"prepared {subjects:,} subjects (synth, read, SDTM) in {time.perf_counter() - start:.1f} s: "
              + ", ".join(f"{n} {len(tables[n]):,}" for n in ("DM", "EX", "AE", "LB") if n in tables) + " rows")

        sampler = RssSampler()
        with sampler:
            wall, cpu, findings = run_stage(trial.registry, tables, Path(tmp) / "stage", workers)
        n = count_lines(Path(tmp) / "stage")
        worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        sizes = {r: (Path(tmp) / "stage" / r / "bundles.ndjson").stat().st_size for r in RELEASES}
        print(f"FHIR stage (R4+R5, {workers} worker(s)): {n:,} resources in {wall:.1f} s wall, {cpu:.1f} s CPU "
              f"= {n / wall:,.0f} resources/s")
        print(f"  peak RSS: this process {sampler.peak / 1e6:,.0f} MB (at start, with the SDTM tables: "
              f"{sampler.start / 1e6:,.0f} MB; the stage +{(sampler.peak - sampler.start) / 1e6:,.0f} MB)"
              + (f", largest worker {worker_peak / 1e6:,.0f} MB" if worker_peak else ""))
        print(f"  peak PSS of this process and its workers together (shared pages once): "
              f"{sampler.total_peak / 1e6:,.0f} MB")
        print("  bundles.ndjson: " + ", ".join(f"{r} {s / 1e6:,.1f} MB" for r, s in sizes.items()))
        print("  findings: " + ", ".join(f"{rule} ({sev}) {c:,}" for (rule, sev), c in
                                         sorted(Counter((f.rule, f.severity) for f in findings).items())))
        totals = split_stage(trial.registry, tables, Path(tmp) / "split")
        one = sum(totals.values())
        print("  one process, CPU s per sub-stage: " + "  ".join(f"{k} {v:.1f}" for k, v in totals.items())
              + f"  (sum {one:.1f} s = {n / max(one, 1e-9):,.0f} resources/s)")
        seconds, count = floor(trial.registry, tables, Path(tmp) / "floor")
        print(f"  serialise-only floor: {count:,} resources in {seconds:.1f} s CPU; stage / floor = "
              f"{cpu / max(seconds, 1e-9):.1f} (CPU), {wall / max(seconds, 1e-9):.1f} (wall)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000,
         int(sys.argv[2]) if len(sys.argv) > 2 else fhir_stage.default_workers())
