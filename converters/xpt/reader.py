"""XPT files (v5 or v8) -> tables in the project's conventions (Char as `str`, "" for blank; Num as float64) and
the file's metadata (`XptMeta`), read with `pyreadstat.read_xport`; a damaged file raises `XptDamaged`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat

from trialbridge.converters.xpt.damage import XptDamaged, damage_after_reading, damage_before_reading
from trialbridge.converters.xpt.transport import XptColumn


@dataclass(frozen=True)
class XptMeta:
    """What an XPT file declares about its one dataset."""

    dataset: str                     # member name, e.g. "DM"
    label: str                       # dataset label ("" when none)
    created: datetime | None         # header timestamp
    rows: int                        # number of records, as pyreadstat's metadata counts them
    columns: tuple[XptColumn, ...]   # name, label, type (Char/Num), length in bytes, in file order

    def column(self, name: str) -> XptColumn:
        return next(c for c in self.columns if c.name == name)


def _shared_text(columns: dict[str, list[object]], block: int = 4_096) -> dict[str, np.ndarray]:
    """Character columns as read (lists of `str`) -> object arrays ("" for blank) in which each distinct
    value is one shared object.

    A column repeats few values over many rows: shared, a million-row dataset is held as pointers to a
    few thousand strings, and every later comparison or hash of a value is done once per distinct value.
    The reader creates the strings row by row, so the rows are taken in blocks across all columns: the
    strings of one block lie together in memory, and each is visited while it is still in the cache.
    """
    rows = len(next(iter(columns.values()), []))
    codes: dict[str, list[np.ndarray]] = {name: [] for name in columns}  # per block: row -> block value
    values: dict[str, list[np.ndarray]] = {name: [] for name in columns}  # per block: its distinct values
    for start in range(0, rows, block):
        for name, column in columns.items():
            block_codes, block_values = pd.factorize(np.asarray(column[start:start + block], dtype=object),
                                                     use_na_sentinel=False)
            codes[name].append(block_codes)
            values[name].append(np.asarray(block_values, dtype=object))
    shared: dict[str, np.ndarray] = {}
    for name in columns:
        stacked = np.concatenate(values[name]) if rows else np.empty(0, dtype=object)
        distinct_of, distinct = pd.factorize(stacked, use_na_sentinel=False)  # block value -> column value
        distinct = np.asarray(distinct, dtype=object)
        distinct[pd.isna(distinct)] = ""
        offsets = np.cumsum([0] + [len(v) for v in values[name]])[:-1]
        rows_of = [distinct_of[offset + block_codes] for offset, block_codes in zip(offsets, codes[name])]
        shared[name] = distinct[np.concatenate(rows_of)] if rows else distinct
    return shared


def read_xpt(path: Path, encoding: str | None = None) -> tuple[pd.DataFrame, XptMeta]:
    """Read an XPT file: Char columns as `str` values ("" for blank, object dtype), Num as float64.

    Numbers stay numbers whatever their SAS format (DATE9., TIME8., DATETIME20., E8601DA., ...): an ADaM
    date is the SAS day count it is stored as. `encoding` (an iconv name such as "WINDOWS-1252") decodes
    the text; the default is UTF-8 (`package_reader.read_any_encoding` tries the others)."""
    path = Path(path)
    problem = damage_before_reading(path)
    if problem:
        raise XptDamaged(f"{path.name}: {problem}")
    try:
        data, meta = pyreadstat.read_xport(str(path), output_format="dict", encoding=encoding,
                                           disable_datetime_conversion=True)  # plain lists: no pandas string arrays
    except pyreadstat.ReadstatError as error:
        raise XptDamaged(f"{path.name}: {error}") from None
    types = {n: "Char" if t == "string" else "Num" for n, t in meta.readstat_variable_types.items()}
    labels = meta.column_names_to_labels
    columns = tuple(
        XptColumn(n, labels.get(n) or "", types[n], int(meta.variable_storage_width[n])) for n in meta.column_names
    )
    text = _shared_text({c.name: data.pop(c.name) for c in columns if c.is_char})
    frame = pd.DataFrame({
        c.name: pd.Series(text.pop(c.name), dtype=object) if c.is_char else pd.Series(data.pop(c.name), dtype=np.float64)
        for c in columns
    })
    rows = meta.number_rows if meta.number_rows is not None else len(frame)
    problem = damage_after_reading(path, sum(c.length for c in columns))
    if problem:
        raise XptDamaged(f"{path.name}: {problem}; {rows:,} record(s) were readable")
    return frame, XptMeta(meta.table_name or "", meta.file_label or "", meta.creation_time, int(rows), columns)
