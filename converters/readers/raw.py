"""What every raw-source reader hands on: named raw datasets with provenance, findings and value counts.

A raw dataset is a table of strings ("" for an empty cell) with two provenance columns stamped on every
row: `_file` (the source file name) and `_line` (the physical line of the row in that file, header = 1;
for XML the source line of the element the row comes from). Readers never drop a value: `values_read`
counts the non-empty cells (or ODM ItemData) read per raw dataset, and the same count must be found in
the tables handed on (`values_in`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from trialbridge.schemas.findings import Finding

from trialbridge.schemas.provenance import SOURCE_FILE, SOURCE_LINE
PROVENANCE = (SOURCE_FILE, SOURCE_LINE)


@dataclass(frozen=True)
class RawRead:
    """The result of reading one raw source: its datasets, what went wrong, and what was counted."""

    datasets: dict[str, pd.DataFrame]  # raw dataset name -> table (str cells + _file, _line)
    findings: list[Finding] = field(default_factory=list)
    values_read: dict[str, int] = field(default_factory=dict)  # raw dataset name -> non-empty values read


def values_in(table: pd.DataFrame) -> int:
    """The non-empty data cells of a raw table (provenance columns not counted)."""
    data = table.drop(columns=[c for c in PROVENANCE if c in table.columns])
    return int((data.astype(object).fillna("") != "").to_numpy().sum())
