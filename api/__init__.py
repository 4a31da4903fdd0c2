"""trialbridge as a library: native trial records -> CDISC SDTM + HL7 FHIR; any package -> findings.

    import trialbridge
    result = trialbridge.convert("examples/revallo", "out/revallo")
    result.exit_code, result.outputs            # 0/1/2/3 as on the command line; every file written
    checked = trialbridge.validate("out/revallo/sdtm", report="out/check", waivers="waivers.csv")
    [f.as_dict() for f in checked.findings]       # grouped findings, structured locations, explanations
    batch = trialbridge.convert_many(["a", "b", "c"], "out", jobs=2)

Each call is the command of the same name (see README): the same checks, outputs and exit codes, silent
unless given `progress=trialbridge.make_progress()`. Installed from the `api/` folder of the repository.
"""
from __future__ import annotations

from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Sequence

from trialbridge.converters.batch import BatchResult, StudyRun
from trialbridge.converters.pipeline import RunResult
from trialbridge.converters.progress import Progress, make_progress
from trialbridge.schemas.findings import Finding
from trialbridge.schemas.waivers import Waiver

__all__ = ["convert", "validate", "convert_many", "read_waivers", "make_progress", "RunResult", "BatchResult",
           "StudyRun", "Finding", "Waiver", "__version__"]

try:
    __version__ = version("trialbridge")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "unknown"

WaiverSource = str | Path | Sequence[Waiver] | None


def read_waivers(path: str | Path) -> list[Waiver]:
    """The waivers of a CSV or YAML file; ValueError listing every problem when the file has any."""
    from trialbridge.converters.readers.waivers import read_waivers as read

    waivers, problems = read(Path(path))
    if problems:
        raise ValueError("; ".join(f"{p.location}: {p.message}" for p in problems))
    return waivers


def _waivers(waivers: WaiverSource) -> list[Waiver]:
    if waivers is None:
        return []
    if isinstance(waivers, (str, Path)):
        return read_waivers(waivers)
    return list(waivers)


def convert(source: str | Path, out: str | Path, *, fhir: Sequence[str] = ("R4", "R5"),
            created: datetime | None = None, waivers: WaiverSource = None, force: bool = False,
            dataset_json: Sequence[str] = (), ascii_placeholder: bool = False,
            progress: Progress | None = None, spec: str | Path | None = None, bundle_entries: int | None = None,
            bundle_type: str = "transaction", fhir_workers: int | None = None) -> RunResult:
    """`trialbridge convert SOURCE --out OUT`: a native record folder into SDTM, FHIR and the reports.

    The keywords are the command's options (`--spec`, `--bundle-entries`, `--bundle-type`, `--fhir-workers`, ...).
    `result.outputs` lists every file written (nothing when `result.exit_code` is 2)."""
    from trialbridge.converters import pipeline

    return pipeline.convert(Path(source), Path(out), created=created, fhir_releases=tuple(fhir),
                            ascii_placeholder=ascii_placeholder, dataset_json=tuple(dataset_json), force=force,
                            waivers=_waivers(waivers), progress=progress,
                            spec=Path(spec) if spec is not None else None, bundle_entries=bundle_entries,
                            bundle_type=bundle_type, fhir_workers=fhir_workers)


def validate(path: str | Path, *, report: str | Path | None = None, waivers: WaiverSource = None,
             sdtmig: str | None = None, ct: str | None = None, fhir_release: str | None = None,
             force: bool = False, progress: Progress | None = None) -> RunResult:
    """`trialbridge validate PATH`: whatever PATH is (native folder, SDTM package, XPT, define.xml, FHIR,
    convert output); with `report`, report.json/html/xlsx are written there."""
    from trialbridge.converters.validate import validate as run

    return run(Path(path), report=Path(report) if report is not None else None, waivers=_waivers(waivers),
               sdtmig=sdtmig, ct=ct, fhir_release=fhir_release, tool_version=__version__, force=force,
               progress=progress)


def convert_many(sources: Sequence[str | Path], out: str | Path, *, jobs: int = 1,
                 progress: Progress | None = None, **options: Any) -> BatchResult:
    """`trialbridge convert A B C --out OUT --jobs N`: each study into OUT/<name>/; `options` as `convert`."""
    from trialbridge.converters.batch import convert_batch

    if "fhir" in options:
        options["fhir_releases"] = tuple(options.pop("fhir"))
    if "waivers" in options:
        options["waivers"] = _waivers(options["waivers"])
    return convert_batch([Path(s) for s in sources], Path(out), jobs=jobs, progress=progress, **options)
