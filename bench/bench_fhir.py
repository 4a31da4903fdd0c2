"""Speed and memory of the FHIR stage: N generated subjects -> SDTM -> FHIR R4 + R5 (bundle.json, NDJSON), timed.

Run: `.venv/bin/python bench/bench_fhir.py [subjects] [releases] [workers]` (default 10,000, R4,R5 and
`fhir_stage.WORKERS`). The native folder is generated (`trialbridge.converters.synth.write_synthetic`,
seed 1), read and mapped to SDTM first; only `write_fhir` is timed. Prints the resources written, wall
and CPU time, resources/s, with one worker the time split into build, order, check (schema, model,
bindings) and write, and the memory of the stage: this process's resident set size at its start and
its peak during the stage, sampled every 10 ms (Linux /proc), and the largest worker's peak.
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

from trialbridge.converters import fhir_stage
from trialbridge.converters.fhir_bundle import BundleStream, bundle_order
from trialbridge.converters.native_reader import read_native
from trialbridge.converters.sdtm_package import map_sdtm
from trialbridge.converters.synth import write_synthetic
from trialbridge.schemas import fhir_checks
from trialbridge.schemas.fhir_checks import check_resources


def _timed(totals: dict[str, float], name: str, function):
    """`function` wrapped so that the CPU seconds spent in it add up in totals[name] (CPU, not wall:
    the figures hold on a busy machine)."""
    def wrapper(*args, **kwargs):
        start = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            totals[name] += time.process_time() - start
    return wrapper


class RssSampler:
    """Peak resident memory while the block runs: /proc/self/statm read every 10 ms by a thread."""

    def __init__(self) -> None:
        self.start = self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> "RssSampler":
        self.start = self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def main(subjects: int, releases: list[str], workers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        native, out = Path(tmp) / "native", Path(tmp) / "out" / "fhir"
        native.mkdir()
        start = time.perf_counter()
        write_synthetic(native, subjects, 1)
        trial, _ = read_native(native)
        tables = map_sdtm(trial).tables
        print(f"prepared {subjects:,} subjects (synth, read, SDTM) in {time.perf_counter() - start:.1f} s: "
              + ", ".join(f"{name} {len(tables[name]):,}" for name in ("DM", "EX", "AE", "LB") if name in tables)
              + " rows")

        totals = {"build": 0.0, "order": 0.0, "check": 0.0, "write": 0.0}
        layers = {"schema": 0.0, "model": 0.0}
        fhir_stage.build_resources = _timed(totals, "build", fhir_stage.build_resources)
        fhir_stage.bundle_order = _timed(totals, "order", bundle_order)
        fhir_stage.check_resources = _timed(totals, "check", check_resources)
        BundleStream.admit = _timed(totals, "order", BundleStream.admit)
        BundleStream.write = _timed(totals, "write", BundleStream.write)
        BundleStream.finish = _timed(totals, "write", BundleStream.finish)
        fhir_checks.schema_findings = _timed(layers, "schema", fhir_checks.schema_findings)
        fhir_checks.model_findings = _timed(layers, "model", fhir_checks.model_findings)

        sampler = RssSampler()
        with sampler:
            start, cpu = time.perf_counter(), _cpu()
            findings = fhir_stage.write_fhir(trial.registry, tables, out, releases, workers=workers)
            seconds, cpu = time.perf_counter() - start, _cpu() - cpu

        written = {p.relative_to(out).as_posix(): sum(1 for _ in open(p, encoding="utf-8"))
                   for p in sorted(out.rglob("*.ndjson"))}
        n = sum(written.values())
        sizes = {r: (out / r / "bundle.json").stat().st_size for r in releases}
        worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # 0 when no worker ran
        print(f"FHIR stage ({','.join(releases)}, {workers} worker(s)): {n:,} resources in {seconds:.1f} s wall, "
              f"{cpu:.1f} s CPU (this process and its workers) = {n / seconds:,.0f} resources/s")
        if workers <= 1:  # the workers' own timers stay in the workers
            print("  CPU: " + "  ".join(f"{k} {v:.1f} s" for k, v in totals.items())
                  + f"  (check {n / max(totals['check'], 1e-9):,.0f} resources/s)")
            layers["bindings and the rest"] = totals["check"] - layers["schema"] - layers["model"]
            print("  check layers: " + "  ".join(f"{k} {v:.1f} s = {n / max(v, 1e-9):,.0f} resources/s"
                                                  for k, v in layers.items()))
        for name, lines in written.items():
            print(f"  {name:45} {lines:>9,} lines")
        print("  bundle.json: " + ", ".join(f"{r} {size / 1e6:,.1f} MB" for r, size in sizes.items()))
        print(f"  memory: RSS {sampler.start / 1e6:,.0f} MB at the start of the stage, "
              f"peak {sampler.peak / 1e6:,.0f} MB during it (+{(sampler.peak - sampler.start) / 1e6:,.0f} MB "
              f"for the FHIR stage in this process)"
              + (f"; largest worker peak RSS {worker_peak / 1e3:,.0f} MB" if worker_peak else ""))
        print("  findings: " + ", ".join(f"{rule} ({sev}) {count:,}" for (rule, sev), count in
                                         sorted(Counter((f.rule, f.severity) for f in findings).items())))


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the workers, once the pool is closed)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000,
         sys.argv[2].split(",") if len(sys.argv) > 2 else ["R4", "R5"],
         int(sys.argv[3]) if len(sys.argv) > 3 else fhir_stage.WORKERS)
