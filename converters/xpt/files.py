"""SDTM tables -> SAS transport v5 files (`dm.xpt`), and XPT files -> tables: the writer stages and the reader.

The writer follows the study specification (`trialbridge.schemas.sdtm_spec.Dataset`), one output
property per stage, every stage with the one signature `(table, dataset) -> (table, findings)`:

    xpt_name    names are SAS v5 names (`^[A-Z][A-Z0-9_]{0,7}$`), else an error
    xpt_label   dataset and variable labels are at most 40 ASCII characters, checked, never truncated
    xpt_type    Char -> str with "" for null; Num -> float64; a non-number in a Num variable is an error
    xpt_ascii   ASCII transliteration (policy: `schemas/xpt_ascii.py`), every changed value reported
    xpt_trim    trailing blanks removed (the format pads with blanks and cannot keep them), reported
    xpt_length  character values at most 200 bytes, else an error; lengths = the longest value
    xpt_order   spec variables in spec order; provenance (`_file`, `_line`) and unknown columns dropped

`prepare_for_xpt` composes them; `write_xpt` writes the prepared table only when no finding is an
error, so a file is either faithful or absent. The header timestamp is the `created` argument (taken
from the input by the pipeline), never the clock, so re-runs give byte-identical files. A dataset
whose file would exceed `split_threshold` (FDA: 5 GB) is written as `split/<name><n>.xpt` parts,
cut at `--CAT` boundaries where possible (e.g. LBCAT), with the same variable lengths in every part.
Record numbers in findings are 1-based row numbers of the output dataset (`dm:SEX:3`).

`read_xpt` reads any XPT (v5 or v8) with `pyreadstat.read_xport` (not `pandas.read_sas`, which loses
rows of some v5 files) into a table in the project's conventions plus the file's metadata.

The stages and `prepare_for_xpt` are in `converters/xpt/stages.py`, the reader in `converters/xpt/reader.py`;
both are re-exported here.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from trialbridge.converters.xpt.transport import NAME_PATTERN, RECORD, XptColumn, file_size, write_member
from trialbridge.converters.xpt.reader import XptMeta, read_xpt
from trialbridge.converters.xpt.stages import prepare_for_xpt, xpt_columns, xpt_location
from trialbridge.schemas.findings import Finding, finding, has_errors

if TYPE_CHECKING:
    from trialbridge.schemas.sdtm_spec import Dataset

__all__ = ["SPLIT_THRESHOLD", "XptMeta", "prepare_for_xpt", "read_xpt", "write_prepared", "write_xpt", "xpt_columns"]

SPLIT_THRESHOLD = 5_000_000_000     # FDA: datasets above 5 GB are split


# ------------------------------------------------------------------------------------------- writing
def _split_parts(table: pd.DataFrame, dataset: Dataset, max_rows: int) -> tuple[list[np.ndarray], str]:
    """Row positions of each part: whole `--CAT` groups packed greedily, a group too big cut in row chunks."""
    key = f"{dataset.name}CAT"
    if key in table.columns:
        codes = pd.factorize(table[key])[0]
        order = np.argsort(codes, kind="stable")
        groups = np.split(order, np.cumsum(np.bincount(codes))[:-1])
    else:
        key, groups = "rows", [np.arange(len(table))]
    parts: list[np.ndarray] = []
    current: list[np.ndarray] = []
    for group in groups:
        if sum(map(len, current)) + len(group) > max_rows:
            if current:
                parts.append(np.concatenate(current))
            while len(group) > max_rows:
                parts.append(group[:max_rows])
                group = group[max_rows:]
            current = []
        current.append(group)
    parts.append(np.concatenate(current))
    return parts, key


def _write_split(table: pd.DataFrame, dataset: Dataset, columns: list[XptColumn], path: Path,
                 created: datetime, threshold: int) -> list[Finding]:
    width = sum(c.length for c in columns)
    max_rows = (threshold - file_size(0, columns)) // RECORD * RECORD // width   # padded data must fit
    if max_rows < 1:
        return [finding("XPT-SPLIT-THRESHOLD", xpt_location(dataset), [str(threshold)], dataset=dataset.name,
                        threshold=threshold)]
    parts, key = _split_parts(table, dataset, max_rows)
    members = [f"{dataset.name}{n}" for n in range(1, len(parts) + 1)]
    bad = [m for m in members if not NAME_PATTERN.match(m)]
    if bad:
        return [finding("XPT-NAME", xpt_location(dataset), bad[:1], what="split dataset", name=bad[0])]
    files = [path.parent / "split" / f"{m.lower()}.xpt" for m in members]
    for member, part, file in zip(members, parts, files):
        write_member(file, member, dataset.label, columns, table.iloc[part], created)
    return [finding("XPT-SPLIT", xpt_location(dataset), [f"split/{f.name}" for f in files], dataset=dataset.name,
                    size=file_size(len(table), columns), threshold=threshold, parts=len(parts), key=key)]


def write_xpt(table: pd.DataFrame, dataset: Dataset, path: Path, created: datetime,
              split_threshold: int = SPLIT_THRESHOLD) -> list[Finding]:
    """Prepare `table` and write it to `path` (`<dataset>.xpt`, lower case) unless a finding is an error.

    The file's header timestamp is `created`. Above `split_threshold` bytes the dataset is written
    as `split/<name><n>.xpt` beside `path` instead of one file.
    """
    path = Path(path)
    expected = f"{dataset.name.lower()}.xpt"
    found = [] if path.name == expected else [
        finding("XPT-FILE-NAME", xpt_location(dataset), [path.name, expected], name=path.name, expected=expected)]
    prepared, more = prepare_for_xpt(table, dataset)
    found += more
    if has_errors(found):
        return found
    return found + write_prepared(prepared, dataset, path, created, split_threshold)


def write_prepared(prepared: pd.DataFrame, dataset: Dataset, path: Path, created: datetime,
                   split_threshold: int = SPLIT_THRESHOLD) -> list[Finding]:
    """Write a table `prepare_for_xpt` returned without an error (for a caller that already holds it, so
    the stages run once); the findings of a split, if any. `write_xpt` is prepare + this."""
    columns = xpt_columns(prepared, dataset)
    if file_size(len(prepared), columns) > split_threshold:
        return _write_split(prepared, dataset, columns, Path(path), created, split_threshold)
    write_member(Path(path), dataset.name, dataset.label, columns, prepared, created)
    return []
