"""Many studies -> one convert each, in worker processes, into `OUT/<study>/`; a table and the worst exit.

`studies_in` expands the inputs: a native record folder is one study; a folder holding native record
folders (and no registry.json of its own) is each of them. `convert_batch` converts every study with
`pipeline.convert` in `jobs` worker processes; a study that fails (bad input: exit 2; a defect: exit 3,
with the error) never stops the others. The exit code of the batch is the worst of its studies.
"""
from __future__ import annotations

import textwrap
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Sequence

from trialbridge.converters.progress import WIDTH, Progress, fit


@dataclass(frozen=True)
class StudyRun:
    """How one study of a batch ended."""

    name: str
    source: Path
    out: Path
    exit_code: int
    errors: int = 0
    warnings: int = 0
    seconds: float = 0.0
    reason: str = ""  # for a failed study: its first error, in one line
    outputs: tuple[Path, ...] = ()


@dataclass(frozen=True)
class BatchResult:
    """Every study's run, in input order; `exit_code` is the worst of them."""

    runs: list[StudyRun]
    exit_code: int
    summary: str
    outputs: list[Path] = field(default_factory=list)
    findings: list = field(default_factory=list)


def _is_study(folder: Path) -> bool:
    """A study folder: it holds a registry record or a study mapping specification."""
    return any((folder / name).exists() for name in ("registry.json", "spec", "spec.xlsx"))


def studies_in(inputs: Sequence[Path]) -> list[Path]:
    """Each input that is a native record folder, and each native record folder inside an input that is not."""
    found: list[Path] = []
    for path in map(Path, inputs):
        if path.is_dir() and not _is_study(path):
            inner = sorted(p for p in path.iterdir() if p.is_dir() and _is_study(p))
            found += inner or [path]  # a folder with no study in it is converted (and rejected) as given
        else:
            found.append(path)
    return found


def _names(studies: Sequence[Path]) -> list[str]:
    """Sub-folder names: each study's folder name, made unique with -2, -3, ..."""
    names: list[str] = []
    for study in studies:
        base = study.name or "study"
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}-{n}"
        names.append(name)
    return names


def _one_line(text: str) -> str:
    return " ".join(text.split())


def convert_one(name: str, source: Path, out: Path, options: dict[str, Any]) -> StudyRun:
    """One study (runs in a worker process): never raises, a defect is exit 3 with its error."""
    from trialbridge.converters import pipeline

    started = time.monotonic()
    try:
        result = pipeline.convert(source, out, **options)
    except Exception as error:  # noqa: BLE001 - one study's defect must not stop the batch
        where = traceback.extract_tb(error.__traceback__)[-1]
        return StudyRun(name, source, out, 3, seconds=time.monotonic() - started,
                        reason=f"internal error {type(error).__name__}: {error} ({Path(where.filename).name} "
                               f"line {where.lineno})")
    errors = [f for f in result.findings if f.severity == "error" and f.explanation is None]
    reason = "" if result.exit_code == 0 else _one_line(
        f"{errors[0].rule} {errors[0].location}: {errors[0].message}" if errors else result.summary)
    return StudyRun(name, source, out, result.exit_code, errors=len(errors),
                    warnings=sum(1 for f in result.findings if f.severity == "warning"),
                    seconds=time.monotonic() - started, reason=reason, outputs=tuple(result.outputs))


def _wrapped(reason: str, lines: int = 3) -> list[str]:
    """The reason of a failure on at most `lines` indented lines of 80 columns (the end shortened, never the
    middle: the file, line and field come first, the expectation after them)."""
    indent = "    "
    wrapped = textwrap.wrap(" ".join(reason.split()), WIDTH - len(indent)) or [""]
    if len(wrapped) > lines:
        wrapped = wrapped[: lines - 1] + [textwrap.shorten(" ".join(wrapped[lines - 1:]), WIDTH - len(indent),
                                                           placeholder=" ...")]
    return [indent + line for line in wrapped]


def summary_table(runs: Sequence[StudyRun]) -> str:
    """The batch table, one study per line, 80 columns."""
    lines = [f"{'study':<28} {'exit':>4} {'errors':>7} {'warnings':>8} {'seconds':>8}  result"]
    for run in runs:
        verdict = {0: "converted", 1: "converted, errors", 2: "failed: bad input", 3: "failed: internal"}.get(
            run.exit_code, "failed")
        lines.append(f"{fit(run.name, 28):<28} {run.exit_code:>4} {run.errors:>7} {run.warnings:>8} "
                     f"{run.seconds:>8.1f}  {verdict}")
        if run.reason and run.exit_code >= 2:
            lines += _wrapped(run.reason)
    worst = max((r.exit_code for r in runs), default=0)
    converted = sum(1 for r in runs if r.exit_code in (0, 1))
    lines.append(f"{converted} of {len(runs)} stud{'y' if len(runs) == 1 else 'ies'} converted; exit code {worst}")
    return "\n".join(lines)


def convert_batch(inputs: Sequence[Path], out: Path, jobs: int = 1, progress: Progress | None = None,
                  **options: Any) -> BatchResult:
    """Convert every study of `inputs` into `out/<study>/` (see the module doc); `options` go to convert."""
    progress = progress or Progress()
    studies = studies_in(inputs)
    names = _names(studies)
    Path(out).mkdir(parents=True, exist_ok=True)
    order = {name: i for i, name in enumerate(names)}
    runs: list[StudyRun] = []
    progress.stage(f"convert {len(studies)} studies", jobs=f"{jobs} job(s)")
    if jobs <= 1:
        for name, study in zip(names, studies):
            runs.append(convert_one(name, study, Path(out) / name, options))
            progress.event("study", study=name, exit_code=runs[-1].exit_code, seconds=round(runs[-1].seconds, 1))
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(convert_one, name, study, Path(out) / name, options): (name, study)
                       for name, study in zip(names, studies)}
            for future in as_completed(futures):
                name, study = futures[future]
                try:
                    run = future.result()
                except Exception as error:  # noqa: BLE001 - a worker that died (killed, out of memory)
                    run = StudyRun(name, study, Path(out) / name, 3,
                                   reason=f"worker failed: {type(error).__name__}: {error}")
                runs.append(run)
                progress.event("study", study=name, exit_code=run.exit_code, seconds=round(run.seconds, 1))
    progress.done()
    runs.sort(key=lambda r: order[r.name])
    worst = max((r.exit_code for r in runs), default=2)
    return BatchResult(runs, worst, summary_table(runs), outputs=[p for r in runs for p in r.outputs])
