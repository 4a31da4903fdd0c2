"""`trialbridge read`: an EDC export in, its raw datasets as CSV files plus a counts report out (whole or nothing).

Each raw dataset becomes `<name>.csv` (UTF-8, `\\n` line ends, every cell as read; the name with any
character outside letters, digits, `.`, `_`, `-` written as `_`), beside `counts.json` (per dataset:
file, rows, columns, values read and values written, and the per-form / per-instrument accounting of
the reader) and `findings.json`. Bad input: the findings, exit 2, nothing written.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from trialbridge.converters.atomic import atomic_output_dir
from trialbridge.converters.outdir import OutputRefused, claim_output
from trialbridge.converters.pipeline import RunResult
from trialbridge.converters.readers.edc import read_source
from trialbridge.converters.readers.raw import RawRead, values_in
from trialbridge.converters.reports.findings import findings_json_text
from trialbridge.schemas.findings import finding, has_errors

ACCOUNTING_RULES = ("ODM-FORM-COUNTS", "REDCAP-COUNTS")


def file_names(names: list[str]) -> dict[str, str]:
    """Raw dataset name -> a safe, unique CSV file name."""
    chosen: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "dataset"
        candidate, n = stem, 1
        while candidate.lower() in taken:
            n += 1
            candidate = f"{stem}_{n}"
        taken.add(candidate.lower())
        chosen[name] = candidate + ".csv"
    return chosen


def counts_report(source: Path, read: RawRead, files: dict[str, str]) -> dict[str, object]:
    return {
        "source": source.name,
        "datasets": [{"name": name, "file": files[name], "rows": len(table), "columns": len(table.columns),
                      "values_read": read.values_read.get(name, 0), "values_written": values_in(table)}
                     for name, table in read.datasets.items()],
        "accounting": [{"where": f.location, "rule": f.rule, "message": f.message}
                       for f in read.findings if f.rule in ACCOUNTING_RULES],
    }


def read_command(source: Path, out: Path, dictionary: Path | None = None, force: bool = False) -> RunResult:
    """Read one EDC export and write its raw datasets into `out`; exit 2 and nothing written on bad input."""
    source = Path(source)
    read = read_source(source, dictionary)
    findings = list(read.findings)
    lost = [name for name, table in read.datasets.items() if values_in(table) != read.values_read.get(name, -1)]
    findings += [finding("READ-VALUES-MISMATCH", name, [], dataset=name) for name in lost]
    if has_errors(findings) or not read.datasets:
        if not has_errors(findings):
            findings.append(finding("READ-EMPTY", source.name, [], file=source.name))
        return RunResult(findings, 2, f"{source}: input rejected, nothing written to {out}")
    files = file_names(list(read.datasets))
    inputs = [source] + ([Path(dictionary)] if dictionary else [])
    try:
        with claim_output(Path(out), inputs, force), atomic_output_dir(Path(out)) as work:
            for name, table in read.datasets.items():
                table.to_csv(work / files[name], index=False, lineterminator="\n", encoding="utf-8")
            report = counts_report(source, read, files)
            (work / "counts.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            (work / "findings.json").write_text(findings_json_text(findings, input=source.name), encoding="utf-8")
    except OutputRefused as refused:
        return RunResult(refused.findings, 2, f"{out}: refused, nothing written")
    lines = [f"read {source.name}: {len(read.datasets)} raw dataset(s)"]
    lines += [f"  {name[:40]:40} {len(table):>8,} rows  {read.values_read.get(name, 0):>10,} values  -> {files[name]}"
              for name, table in read.datasets.items()]
    lines += [f"  {f.message}" for f in read.findings if f.rule in ACCOUNTING_RULES]  # per form: read = handed on
    lines.append(f"wrote {out}: the CSV files, counts.json, findings.json")
    return RunResult(findings, 0, "\n".join(lines))
