"""The pipeline: native folder -> checked Trial -> outputs, with every finding collected on the way."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from trialbridge.converters.atomic import atomic_output_dir
from trialbridge.converters.native_reader import read_native
from trialbridge.converters.trial import Trial
from trialbridge.schemas.findings import Finding, has_errors


@dataclass(frozen=True)
class RunResult:
    """What a command did: its findings, the exit code they imply, and a one-paragraph summary."""

    findings: list[Finding]
    exit_code: int
    summary: str
    outputs: list[Path] = field(default_factory=list)


def describe_trial(trial: Trial) -> str:
    """What was read: the study, its subjects and the rows of each form."""
    ident = trial.registry.get("protocolSection", {}).get("identificationModule", {})
    lines = [f"read {trial.source}: {ident.get('nctId', '?')} {ident.get('acronym', '')}".rstrip(),
             f"  subjects enrolled        {len(trial.subjects):>10,}"]
    lines += [f"  {name:24} {rows:>10,} rows" for name, rows in trial.row_counts().items()]
    return "\n".join(lines)


def check(path: Path) -> RunResult:
    """Check a native record folder without writing anything."""
    trial, findings = read_native(Path(path))
    if trial is None or has_errors(findings):
        return RunResult(findings, 2, f"{path}: input rejected, see the errors above")
    return RunResult(findings, 0, describe_trial(trial))


def convert(source: Path, out: Path) -> RunResult:
    """Read and check `source`; on bad input write nothing and return exit code 2.

    The SDTM and FHIR stages plug in here; until then a successful run reports what it read.
    """
    trial, findings = read_native(Path(source))
    if trial is None or has_errors(findings):
        return RunResult(findings, 2, f"{source}: input rejected, nothing written to {out}")
    return RunResult(findings, 0, describe_trial(trial))


def synthesise(out: Path, n_subjects: int, seed: int) -> dict[str, int]:
    """Write a synthetic native record folder into `out`, whole or not at all."""
    from trialbridge.converters.synth import write_synthetic

    with atomic_output_dir(Path(out)) as work:
        return write_synthetic(work, n_subjects, seed)
