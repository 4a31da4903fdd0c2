"""An SDTM table + its dataset specification -> the table exactly as the XPT v5 file will hold it: the seven
writer stages, each `(table, dataset) -> (table, findings)`, and `prepare_for_xpt` that runs them in turn
(the stages are listed in `converters/xpt/files.py`, which writes and reads the files).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial, reduce
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import pandas as pd

from trialbridge.schemas.xpt_ascii import CONTROL, NOT_PRINTABLE_ASCII, transliterate
from trialbridge.converters.xpt.transport import IBM_MAX, IBM_MIN, LABEL_MAX, NAME_PATTERN, NUM_LENGTH, XptColumn
from trialbridge.schemas.findings import Finding, finding

if TYPE_CHECKING:
    from trialbridge.schemas.sdtm_spec import Dataset

PROVENANCE = ("_file", "_line")
TEXT_MAX = 200                      # bytes in one character value (SAS v5 limit, SDTMIG 4.5.3.2)
SHOWN_RECORDS = 5                   # record numbers quoted in a message

Stage = Callable[[pd.DataFrame, "Dataset"], tuple[pd.DataFrame, list[Finding]]]


# ------------------------------------------------------------------------------------------ helpers
def xpt_location(dataset: Dataset, variable: str = "", record: int | None = None) -> str:
    """`dm`, `dm:AGE` or `dm:AGE:3`."""
    parts = [dataset.name.lower(), variable, "" if record is None else str(record)]
    return ":".join(p for p in parts if p)


def _records(records: Sequence[int], count: int) -> str:
    shown = ", ".join(str(r) for r in records[:SHOWN_RECORDS])
    return shown if count <= SHOWN_RECORDS else f"{shown} and {count - SHOWN_RECORDS} more"


def _source(table: pd.DataFrame, position: int) -> str:
    """`; first from <raw file>.csv:4` when the row carries provenance, else ""."""
    if "_file" not in table.columns or not table["_file"].iloc[position]:
        return ""
    return f"; first from {table['_file'].iloc[position]}:{table['_line'].iloc[position]}"


@dataclass(frozen=True)
class _Group:
    value: object
    count: int
    records: list[int]   # 1-based, the first SHOWN_RECORDS
    first: int           # 0-based position of the first record


def _groups(values: pd.Series, mask: np.ndarray) -> list[_Group]:
    """The distinct values at the rows of `mask`, in order of first appearance, with counts and records."""
    positions = np.flatnonzero(mask)
    if positions.size == 0:
        return []
    codes, uniques = pd.factorize(values.to_numpy()[positions])
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(codes))])
    return [
        _Group(uniques[k], int(starts[k + 1] - starts[k]),
               [int(p) + 1 for p in positions[order[starts[k]:min(starts[k] + SHOWN_RECORDS, starts[k + 1])]]],
               int(positions[order[starts[k]]]))
        for k in range(len(uniques))
    ]


def _spec_columns(table: pd.DataFrame, dataset: Dataset, type_: str) -> list[str]:
    return [v.name for v in dataset.variables if v.type == type_ and v.name in table.columns]


def _longest(values: np.ndarray) -> int:
    """Longest value in bytes (at least 1)."""
    items = values.tolist()
    if "".join(items).isascii():                # the normal case: characters are bytes
        return max(map(len, items), default=0) or 1
    return max((len(v.encode("utf-8")) for v in items), default=0) or 1   # only after xpt_ascii errors


def xpt_columns(table: pd.DataFrame, dataset: Dataset) -> list[XptColumn]:
    """The variables as the file declares them: spec name/label/type, Char length = longest value."""
    return [
        XptColumn(v.name, v.label, v.type,
                  _longest(table[v.name].to_numpy(dtype=object)) if v.type == "Char" else NUM_LENGTH)
        for v in dataset.variables
    ]


# ------------------------------------------------------------------------------------------- stages
def xpt_name(table: pd.DataFrame, dataset: Dataset) -> tuple[pd.DataFrame, list[Finding]]:
    """Dataset and variable names must be SAS v5 names: 1-8 characters A-Z 0-9 _, starting with a letter."""
    names = [("dataset", "", dataset.name)] + [("variable", v.name, v.name) for v in dataset.variables]
    return table, [
        finding("XPT-NAME", xpt_location(dataset, variable), [name], what=what, name=name)
        for what, variable, name in names if not NAME_PATTERN.match(name)
    ]


def xpt_label(table: pd.DataFrame, dataset: Dataset) -> tuple[pd.DataFrame, list[Finding]]:
    """Dataset and variable labels must be at most 40 ASCII characters (checked, never truncated)."""
    labels = [("dataset", "", dataset.label)] + [("variable", v.name, v.label) for v in dataset.variables]
    return table, [
        finding("XPT-LABEL", xpt_location(dataset, variable), [label, str(len(label))],
                what=what, label=label, length=len(label))
        for what, variable, label in labels
        if len(label) > LABEL_MAX or not label.isascii() or NOT_PRINTABLE_ASCII.search(label)
    ]


def _as_char(table: pd.DataFrame, dataset: Dataset, name: str) -> tuple[pd.Series, list[Finding]]:
    column = table[name]
    missing = column.isna().to_numpy()
    found: list[Finding] = []
    if missing.any():
        found.append(finding("XPT-CHAR-NULL", xpt_location(dataset, name), [str(int(missing.sum()))],
                             variable=name, count=int(missing.sum())))
    kind = pd.api.types.infer_dtype(column[~missing], skipna=True)
    values = column.to_numpy(dtype=object).copy()
    values[missing] = ""
    if kind not in ("string", "empty"):
        other = ~missing & ~np.fromiter((isinstance(v, str) for v in values), bool, len(values))
        texts = [np.format_float_positional(v, trim="-") if isinstance(v, float) else str(v)
                 for v in values[other]]
        found.append(finding("XPT-CHAR-COERCED", xpt_location(dataset, name, int(np.flatnonzero(other)[0]) + 1),
                             [repr(values[other][0]), texts[0]], variable=name, count=int(other.sum()),
                             kind=kind, example=f"{values[other][0]!r} -> {texts[0]!r}"))
        values[other] = np.array(texts, dtype=object)
    return pd.Series(values, index=table.index, dtype=object, name=name), found


def _as_num(table: pd.DataFrame, dataset: Dataset, name: str) -> tuple[pd.Series, list[Finding]]:
    column = table[name]
    found: list[Finding] = []
    if column.dtype == np.float64:
        numbers = column
    elif pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        numbers = column.astype(np.float64)
        count = int(column.notna().sum())
        found.append(finding("XPT-NUM-COERCED", xpt_location(dataset, name), [str(column.dtype), str(count)],
                             variable=name, count=count, kind=str(column.dtype)))
    else:
        text = column.astype(object).where(column.notna(), "")
        blank = text.astype(str).str.strip().eq("").to_numpy(dtype=bool)
        numbers = pd.to_numeric(text.where(~blank, np.nan), errors="coerce").astype(np.float64)
        invalid = ~blank & numbers.isna().to_numpy()
        for g in _groups(text, invalid):
            found.append(finding("XPT-NUM-INVALID", xpt_location(dataset, name, g.records[0]), [str(g.value)],
                                 variable=name, value=g.value, count=g.count,
                                 records=_records(g.records, g.count), source=_source(table, g.first)))
        converted = int((~blank & ~invalid).sum())
        if converted:
            found.append(finding("XPT-NUM-COERCED", xpt_location(dataset, name), [str(column.dtype), str(converted)],
                                 variable=name, count=converted, kind=str(column.dtype)))
    magnitude = numbers.abs().to_numpy()
    out_of_range = (magnitude > IBM_MAX) | ((magnitude > 0) & (magnitude < IBM_MIN))
    for g in _groups(numbers, out_of_range):
        found.append(finding("XPT-NUM-RANGE", xpt_location(dataset, name, g.records[0]), [repr(float(g.value))],
                             variable=name, value=repr(float(g.value)), count=g.count,
                             records=_records(g.records, g.count), source=_source(table, g.first)))
    return pd.Series(numbers.to_numpy(), index=table.index, dtype=np.float64, name=name), found


def xpt_type(table: pd.DataFrame, dataset: Dataset) -> tuple[pd.DataFrame, list[Finding]]:
    """Char variables become `str` ("" for null), Num variables float64; a non-number in Num is an error."""
    typed: dict[str, pd.Series] = {}
    found: list[Finding] = []
    for name in _spec_columns(table, dataset, "Char"):
        typed[name], more = _as_char(table, dataset, name)
        found += more
    for name in _spec_columns(table, dataset, "Num"):
        typed[name], more = _as_num(table, dataset, name)
        found += more
    return table.assign(**typed), found


def _ascii_column(table: pd.DataFrame, dataset: Dataset, name: str,
                  placeholder: bool = False) -> tuple[pd.Series | None, list[Finding]]:
    column = table[name]
    if not NOT_PRINTABLE_ASCII.search("".join(column.tolist())):
        return None, []                                    # fast path: the whole column is printable ASCII
    mask = ~column.str.isascii().to_numpy(dtype=bool)
    if CONTROL.search("".join(column.tolist())):
        mask |= column.str.contains(CONTROL.pattern, regex=True).to_numpy(dtype=bool)
    found: list[Finding] = []
    replacements: dict[str, str] = {}
    for g in _groups(column, mask):
        result = transliterate(str(g.value), placeholder)
        fields = dict(variable=name, original=result.original, replacement=result.replacement,
                      count=g.count, records=_records(g.records, g.count), source=_source(table, g.first))
        where = xpt_location(dataset, name, g.records[0])
        if result.placeholders:
            found.append(finding("XPT-ASCII-PLACEHOLDER", where, [result.original, result.replacement],
                                 unmapped=result.unmapped, **fields))
            replacements[result.original] = result.replacement
            continue
        if result.unmapped:
            found.append(finding("XPT-ASCII-UNMAPPED", where, [result.original, result.unmapped],
                                 unmapped=result.unmapped, **fields))
            continue
        rule = "XPT-ASCII-ACCENT" if result.accents_only else "XPT-ASCII-REPLACED"
        found.append(finding(rule, where, [result.original, result.replacement], **fields))
        replacements[result.original] = result.replacement
    changed = column.copy()
    changed[mask] = column[mask].map(lambda v: replacements.get(v, v))  # only the non-ASCII rows
    return changed, found


def xpt_ascii(table: pd.DataFrame, dataset: Dataset, placeholder: bool = False) -> tuple[pd.DataFrame, list[Finding]]:
    """Character values become printable ASCII by the documented policy; every changed value is a finding.

    `placeholder` (the user's opt-in, `convert --ascii-placeholder`): characters with no ASCII form become
    `[U+XXXX]` (a warning) instead of an error that stops the package.
    """
    changed: dict[str, pd.Series] = {}
    found: list[Finding] = []
    for name in _spec_columns(table, dataset, "Char"):
        column, more = _ascii_column(table, dataset, name, placeholder)
        if column is not None:
            changed[name] = column
        found += more
    return table.assign(**changed), found


def xpt_trim(table: pd.DataFrame, dataset: Dataset) -> tuple[pd.DataFrame, list[Finding]]:
    """Trailing blanks are removed (the format blank-pads values, so they could not be read back); reported."""
    changed: dict[str, pd.Series] = {}
    found: list[Finding] = []
    for name in _spec_columns(table, dataset, "Char"):
        column = table[name]
        if " \n" not in "\n".join(column.tolist()) + "\n":
            continue                                       # fast path: no value ends with a blank
        mask = column.str.endswith(" ").to_numpy(dtype=bool)
        records = [int(p) + 1 for p in np.flatnonzero(mask)]
        found.append(finding("XPT-TRAILING-BLANK", xpt_location(dataset, name, records[0]),
                             [repr(column.iloc[records[0] - 1])], variable=name, count=len(records),
                             records=_records(records, len(records)), source=_source(table, records[0] - 1)))
        changed[name] = column.where(~mask, column.str.rstrip(" "))
    return table.assign(**changed), found


def xpt_length(table: pd.DataFrame, dataset: Dataset) -> tuple[pd.DataFrame, list[Finding]]:
    """Character values are at most 200 bytes (long text must be split by the mapping); lengths = longest value."""
    found: list[Finding] = []
    lengths: list[str] = []
    for name in _spec_columns(table, dataset, "Char"):
        longest = _longest(table[name].to_numpy(dtype=object))
        lengths.append(f"{name}={longest}")
        if longest <= TEXT_MAX:
            continue
        sizes = table[name].str.encode("utf-8").str.len().to_numpy()
        records = [int(p) + 1 for p in np.flatnonzero(sizes > TEXT_MAX)]
        found.append(finding("XPT-TEXT-LENGTH", xpt_location(dataset, name, records[0]),
                             [table[name].iloc[records[0] - 1], str(longest)], variable=name,
                             count=len(records), longest=longest, records=_records(records, len(records)),
                             source=_source(table, records[0] - 1)))
    if lengths:
        found.append(finding("XPT-LENGTH", xpt_location(dataset), lengths, dataset=dataset.name, count=len(lengths)))
    return table, found


def xpt_order(table: pd.DataFrame, dataset: Dataset) -> tuple[pd.DataFrame, list[Finding]]:
    """Spec variables in spec order; provenance and columns outside the spec dropped (the latter reported)."""
    names = [v.name for v in dataset.variables]
    found: list[Finding] = []
    for column in table.columns:
        if column not in names and column not in PROVENANCE:
            filled = int((table[column].notna() & (table[column].astype(str) != "")).sum())
            rule = "XPT-DATA-DROPPED" if filled else "XPT-COLUMN-DROPPED"  # values would be lost: an error
            found.append(finding(rule, xpt_location(dataset, str(column)), [str(column), str(filled)],
                                 column=column, dataset=dataset.name, count=filled))
    added: dict[str, pd.Series] = {}
    for v in dataset.variables:
        if v.name in table.columns:
            continue
        rule = "XPT-REQ-MISSING" if v.core == "Req" else "XPT-VARIABLE-MISSING"
        found.append(finding(rule, xpt_location(dataset, v.name), [v.name], variable=v.name,
                             dataset=dataset.name, core=v.core))
        added[v.name] = pd.Series("" if v.type == "Char" else np.nan, index=table.index,
                                  dtype=object if v.type == "Char" else np.float64)
    present = [c for c in table.columns if c in names]
    if present != [n for n in names if n in present]:
        found.append(finding("XPT-ORDER", xpt_location(dataset), present, dataset=dataset.name,
                             order=", ".join(present)))
    return table.assign(**added)[names], found


STAGES: tuple[Stage, ...] = (xpt_name, xpt_label, xpt_type, xpt_ascii, xpt_trim, xpt_length, xpt_order)


def prepare_for_xpt(table: pd.DataFrame, dataset: Dataset,
                    placeholder: bool = False) -> tuple[pd.DataFrame, list[Finding]]:
    """Run every stage in turn; the table that comes out is exactly what the file will hold.

    `placeholder`: the ASCII stage's opt-in for characters with no ASCII form (see `xpt_ascii`).
    """
    stages = STAGES if not placeholder else tuple(
        partial(xpt_ascii, placeholder=True) if stage is xpt_ascii else stage for stage in STAGES)

    def step(state: tuple[pd.DataFrame, list[Finding]], stage: Stage) -> tuple[pd.DataFrame, list[Finding]]:
        prepared, more = stage(state[0], dataset)
        return prepared, state[1] + more
    return reduce(step, stages, (table, []))
