"""Benchmark of `trialbridge convert`: subjects -> wall seconds, peak memory, SDTM rows and a per-stage breakdown.

For each size a synthetic native folder is generated with `write_synthetic` (not timed), then:

1. `trialbridge convert <folder> --out <tmp> --fhir <releases>` runs in a child process, as a user runs it
   (`--fhir none` by default: the SDTM package, issue 4; FHIR has its own `bench/bench_fhir.py`); its wall
   time, CPU time (user + system: what the run costs when other work shares the machine) and peak resident
   set size come from `/usr/bin/time` (else `getrusage(RUSAGE_CHILDREN)`, whose peak is the largest child's
   so far: sizes therefore run smallest first).
2. A second child runs the same pipeline function in-process with light timers wrapped around the library
   functions the pipeline calls (reading, each domain mapping, reconciliation, XPT preparation, SDTM
   checks, XPT writing, define.xml, the define checks, findings.json): the product holds no timing code.
   That pass also counts the rows of each SDTM dataset written.

    python bench/bench_convert.py                 # 1,000 and 10,000 subjects, SDTM package only
    python bench/bench_convert.py 500 5000        # other sizes
    python bench/bench_convert.py 1000 --fhir R4,R5   # with the FHIR outputs too
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

SEED = 20110823
DEFAULT_SIZES = (1_000, 10_000)
TIME = Path("/usr/bin/time")
CLI_MAIN = "import sys; from trialbridge.converters.cli import main; raise SystemExit(main(sys.argv[1:]))"

# (stage label, module, attribute): library functions the convert pipeline looks up in these modules.
# Entries missing from a module (after a refactor) are skipped; the engine's domains are timed one by one.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("read + check the records", "trialbridge.converters.pipeline", "read_native"),
    ("map (all domains)", "trialbridge.converters.sdtm_package", "map_sdtm"),
    ("reconcile", "trialbridge.converters.sdtm_package", "reconcile"),
    ("prepare for XPT", "trialbridge.converters.sdtm_package", "prepare_for_xpt"),
    ("SDTM checks", "trialbridge.converters.sdtm_package", "check_sdtm"),
    ("write XPT", "trialbridge.converters.sdtm_package", "write_xpt"),
    ("write XPT", "trialbridge.converters.sdtm_package", "write_prepared"),
    ("define.xml + html", "trialbridge.converters.sdtm_package", "write_define_package"),
    ("define XSD", "trialbridge.converters.sdtm_package", "validate_define"),
    ("define vs data", "trialbridge.converters.sdtm_package", "check_define_against_data"),
    ("FHIR", "trialbridge.converters.fhir.stage", "write_fhir"),
    ("findings.json", "trialbridge.converters.pipeline", "findings_json_text"),
)


# ---------------------------------------------------------------------------------- stage pass (child)
def _timed(label: str, function: Callable[..., Any], seconds: dict[str, float], cpu: dict[str, float],
           rows: dict[str, int]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if label == "write XPT" and args:  # (table, dataset, path, ...): count the rows written
            rows[args[1].name] = len(args[0])
        start, start_cpu = time.perf_counter(), time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[label] += time.perf_counter() - start
            cpu[label] += time.process_time() - start_cpu
    return wrapper


def stage_pass(folder: str, out: str, fhir: str) -> dict[str, Any]:
    """Run `pipeline.convert` once with timers around its stages; seconds per stage and rows per dataset."""
    import importlib

    from trialbridge.converters import pipeline
    from trialbridge.mappings.spec import engine

    seconds: dict[str, float] = defaultdict(float)
    cpu: dict[str, float] = defaultdict(float)
    rows: dict[str, int] = {}
    for label, module_name, attribute in STAGES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, attribute):
            setattr(module, attribute, _timed(label, getattr(module, attribute), seconds, cpu, rows))
    run_domain = engine.run_domain  # each domain the spec's engine maps, timed under its own name

    def timed_domain(mapping, domain, *args, **kwargs):
        return _timed(f"  map {domain}", run_domain, seconds, cpu, rows)(mapping, domain, *args, **kwargs)
    engine.run_domain = timed_domain
    start, start_cpu = time.perf_counter(), time.process_time()
    releases = () if fhir.lower() == "none" else tuple(r.strip().upper() for r in fhir.split(","))
    result = pipeline.convert(Path(folder), Path(out), fhir_releases=releases)
    total, total_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    for times, whole in ((seconds, total), (cpu, total_cpu)):
        domains = sum(v for k, v in times.items() if k.startswith("  map "))
        if "map (all domains)" in times:
            times["  map (SUPP--, stacking)"] = times["map (all domains)"] - domains
        times["other"] = whole - sum(v for k, v in times.items() if not k.startswith("  map "))
    return {"seconds": dict(seconds), "cpu": dict(cpu), "total": total, "total_cpu": total_cpu, "rows": rows,
            "exit_code": result.exit_code, "findings": len(result.findings),
            "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


# ---------------------------------------------------------------------------------------- one size
def convert_in_child(folder: Path, out: Path, fhir: str) -> dict[str, float]:
    """`trialbridge convert` in a child process: wall and CPU seconds and peak RSS (KiB) of that process."""
    command = [sys.executable, "-c", CLI_MAIN, "convert", str(folder), "--out", str(out), "--fhir", fhir]
    if TIME.is_file():
        with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
            started = time.perf_counter()
            done = subprocess.run([str(TIME), "-f", "%M %U %S", "-o", report.name, *command],
                                  capture_output=True, text=True)
            wall = time.perf_counter() - started
            peak, user, system = map(float, report.read().strip().splitlines()[-1].split())
    else:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak, user, system = float(after.ru_maxrss), after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    if done.returncode not in (0, 1):
        raise RuntimeError(f"convert failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return {"wall": wall, "cpu": user + system, "peak_kib": peak, "exit_code": done.returncode}


def run(n_subjects: int, fhir: str = "none", seed: int = SEED) -> dict[str, Any]:
    """Generate `n_subjects`, convert them once as the CLI does, then once more stage by stage."""
    from trialbridge.converters.synth.generator import write_synthetic

    with tempfile.TemporaryDirectory(prefix="bench-convert-") as work:
        folder = Path(work) / "native"
        folder.mkdir()
        counts = write_synthetic(folder, n_subjects, seed)
        result = convert_in_child(folder, Path(work) / "out-cli", fhir)
        shutil.rmtree(Path(work) / "out-cli")
        done = subprocess.run([sys.executable, __file__, "--stages", str(folder), str(Path(work) / "out-stages"), fhir],
                              capture_output=True, text=True, check=True)
        result["stages"] = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(subjects=n_subjects, native_rows=sum(v for k, v in counts.items() if k.endswith(".csv")))
    return result


# ------------------------------------------------------------------------------------------- report
def _aligned(lines: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
                     for row in lines)


def tables(results: list[dict[str, Any]]) -> str:
    head = ["subjects"] + [f"{r['subjects']:,}" for r in results]
    summary = [head,
               ["native rows"] + [f"{r['native_rows']:,}" for r in results],
               ["SDTM rows"] + [f"{sum(r['stages']['rows'].values()):,}" for r in results],
               ["convert wall s"] + [f"{r['wall']:.1f}" for r in results],
               ["convert CPU s (user + sys)"] + [f"{r['cpu']:.1f}" for r in results],
               ["convert peak RSS MB"] + [f"{r['peak_kib'] / 1024:,.0f}" for r in results],
               ["exit code"] + [str(r["exit_code"]) for r in results]]
    datasets = list(dict.fromkeys(name for r in results for name in r["stages"]["rows"]))
    rows = [["rows per dataset"] + [""] * len(results)] + [
        [f"  {name}"] + [f"{r['stages']['rows'].get(name, 0):,}" for r in results] for name in datasets]
    seen = list(dict.fromkeys(label for r in results for label in r["stages"]["seconds"]))
    labels = []
    for label in dict.fromkeys([label for label, *_ in STAGES] + ["other"]):  # domain lines under their total
        labels += [label] + ([s for s in seen if s.startswith("  map")] if label == "map (all domains)" else [])
    labels = [label for label in labels if label in seen]
    stages = [["stage (in-process pass): wall s / CPU s"] + [""] * len(results)] + [
        [label] + [f"{r['stages']['seconds'].get(label, 0.0):.1f} / {r['stages']['cpu'].get(label, 0.0):.1f}"
                   for r in results] for label in labels] + [
        ["total (in-process pass)"] + [f"{r['stages']['total']:.1f} / {r['stages']['total_cpu']:.1f}" for r in results],
        ["peak RSS MB (in-process pass)"] + [f"{r['stages']['peak_kib'] / 1024:,.0f}" for r in results]]
    return "\n\n".join(_aligned(part) for part in (summary, rows, stages))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--stages"]:
        print(json.dumps(stage_pass(*argv[1:4])))
        return 0
    parser = argparse.ArgumentParser(description="time and peak memory of trialbridge convert")
    parser.add_argument("sizes", type=int, nargs="*", default=list(DEFAULT_SIZES), metavar="SUBJECTS")
    parser.add_argument("--fhir", default="none", help="convert's --fhir option (default: none, the SDTM package only)")
    args = parser.parse_args(argv)
    results = []
    for n in sorted(args.sizes):
        results.append(run(n, args.fhir))
        print(f"done {n:,} subjects: convert {results[-1]['wall']:.1f} s", file=sys.stderr)
    print(f"trialbridge convert --fhir {args.fhir}, synthetic study seed {SEED}")
    print(tables(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
