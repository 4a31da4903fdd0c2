"""Permissible variables with no data: StudySpec + the mapped tables -> the spec without them (+ a finding).

A study spec declares the variables a study may fill; a Permissible variable (SDTMIG core "Perm") that no
record of the study fills is not submitted (SDTMIG 3.4 section 2.5: the sponsor decides whether a
Permissible variable with all values null is included; the FDA Study Data Technical Conformance Guide
asks for no empty columns that carry nothing). Required and Expected variables stay, empty or not
(define.xml marks an empty Expected variable def:HasNoData), and so do key variables. Dropping the
variable from the spec, once, keeps the XPT files, define.xml, Dataset-JSON and the checks in agreement.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Mapping

import pandas as pd

from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.sdtm_spec import StudySpec


def _empty(column: pd.Series) -> bool:
    """No value in any record: NaN, None and blank text are null."""
    if pd.api.types.is_numeric_dtype(column.dtype):
        return bool(column.isna().all())
    return bool((column.isna() | column.astype(str).str.strip().eq("")).all())


def without_empty_permissible(spec: StudySpec, tables: Mapping[str, pd.DataFrame]
                              ) -> tuple[StudySpec, dict[str, pd.DataFrame], list[Finding]]:
    """`spec` and `tables` without the Permissible, non-key variables that hold no value in the dataset's
    table (a variable absent from the table counts as empty); one info finding per dataset names them. A
    dataset with no records keeps its variables (its define.xml entry still describes its structure)."""
    out = dict(tables)
    datasets = dict(spec.datasets)
    findings: list[Finding] = []
    for name, table in tables.items():
        dataset = datasets.get(name)
        if dataset is None or table.empty:
            continue
        dropped = [v.name for v in dataset.variables if v.core == "Perm" and v.name not in dataset.keys
                   and (v.name not in table.columns or _empty(table[v.name]))]
        if not dropped:
            continue
        datasets[name] = replace(dataset, variables=tuple(v for v in dataset.variables if v.name not in dropped))
        out[name] = table.drop(columns=[c for c in dropped if c in table.columns])
        findings.append(finding("SDTM-PERM-EMPTY", f"{name.lower()}:{dropped[0]}", dropped, dataset=name,
                                variables=", ".join(dropped), count=len(dropped)))
    return replace(spec, datasets=datasets), out, findings
