"""A study mapping specification (folder, workbook or sdtm.oak spec) and its input folder -> what `spec check`
reads: the spec's tables, its mapping steps and raw sources as `convert` reads them, the SDTMIG 3.4 variable
names per dataset, and the raw datasets (native forms through the native reader).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from trialbridge.converters.readers import oak_spec, spec_files
from trialbridge.converters.readers.tabular import read_sources
from trialbridge.mappings.spec.model import Source, Step
from trialbridge.schemas.findings import Finding
from trialbridge.schemas.sdtm_standards import sdtmig_variables


def spec_tables(location: Path) -> tuple[dict[str, tuple[pd.DataFrame, str]], list[Finding]]:
    """The spec's tables by name (each with where it was read), and the findings of reading them."""
    if oak_spec.is_oak_folder(location):
        return oak_spec.oak_tables(location)
    return spec_files.read_tables(location)


def spec_steps(tables: dict[str, tuple[pd.DataFrame, str]]) -> tuple[list[Step], list[Finding]]:
    """The steps that name a domain, and the findings on those that do not (as `convert` reads them)."""
    rows, findings = spec_files._mapped_rows(tables)
    return [Step(domain=row["domain"].upper(), variable=row["variable"], algorithm=row["algorithm"].lower(),
                 source=row.get("source", ""), source_variable=row.get("source_variable", ""),
                 codelist=row.get("codelist", ""), value=row.get("value", ""), condition=row.get("condition", ""),
                 arguments=spec_files._arguments(row.get("arguments", "")), comment=row.get("comment", ""), where=where)
            for row, where in rows], findings


def spec_sources(tables: dict[str, tuple[pd.DataFrame, str]]) -> list[Source]:
    """The raw sources the `sources` table declares."""
    return [Source(name=row["dataset"], file=row["file"], format=(row.get("format") or "csv").lower(),
                   delimiter=row.get("delimiter") or ",", decimal=row.get("decimal") or ".",
                   encoding=row.get("encoding") or "utf-8", sheet=row.get("sheet", ""), subject=row.get("subject", ""),
                   rename=spec_files._pairs(row.get("rename", "")), where=where)
            for row, where in spec_files._rows(tables, "sources")]


def sdtmig_names() -> dict[str, set[str]]:
    """SDTMIG 3.4 dataset -> the names of its variables."""
    ig = sdtmig_variables()
    return {name: set(group) for name, group in ig.groupby("Dataset Name")["Variable Name"]}


def raw_datasets(folder: Path | None, sources: list[Source]) -> tuple[dict[str, pd.DataFrame] | None, list[Finding]]:
    """The raw datasets (None when no raw folder is known): native forms through the native reader."""
    if folder is None:
        return None, []
    raw = read_sources(folder, [s for s in sources if s.format != "native"])
    datasets, findings = dict(raw.datasets), list(raw.findings)
    native = [s for s in sources if s.format == "native"]
    if native:
        from trialbridge.converters.native_reader import read_native

        trial, found = read_native(folder)
        findings += found
        if trial is not None:
            datasets.update({s.name: trial.forms[s.name] for s in native if s.name in trial.forms})
    return datasets, findings
