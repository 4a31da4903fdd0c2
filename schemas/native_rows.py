"""Row checks of native records: a table of strings + its checked row schema -> findings about rows.

The rules that relate the cells of one row or the rows of one file: the `allOf` conditional
requirements, the unique key (`x-key`), the unit allowed for each test code (`x-units-by-code`) and the
order of two dates in the same row (`x-not-before: COLUMN`). `check_form` runs them after the cell
rules of every column (`native_cells`). Each finding names its row (`file:line`) or cell
(`file:line:column`) and shows the cells it judged.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.native import FormSchema
from trialbridge.schemas.native_cells import Columns, column_findings, complete_dates
from trialbridge.schemas.provenance import SOURCE_FILE, SOURCE_LINE


def _row_findings(rule: str, table: pd.DataFrame, mask: np.ndarray, column: str | None, evidence: Sequence[str],
                  **fields: object) -> list[Finding]:
    """Findings about whole rows (or one cell of them), `values` = the evidence cells as COLUMN=value."""
    if not mask.any():
        return []
    rows = table.loc[mask, [*dict.fromkeys(evidence), SOURCE_FILE, SOURCE_LINE]]
    shown = [rows[c].to_numpy(dtype=object) for c in evidence]
    return [
        finding(rule, f"{file}:{line}:{column}" if column else f"{file}:{line}",
                [f"{c}={s[i]}" for c, s in zip(evidence, shown)], **fields)
        for i, (file, line) in enumerate(zip(rows[SOURCE_FILE], rows[SOURCE_LINE]))
    ]


def _conditional_findings(form: FormSchema, table: pd.DataFrame, cols: Columns) -> list[Finding]:
    out: list[Finding] = []
    for rule in form.conditionals:
        if not rule.columns <= set(table.columns):
            continue  # a missing column is already an error of the header
        when = np.ones(len(table), dtype=bool)
        for column in rule.present:
            when &= cols.present(column)
        if rule.not_all_present:
            when &= ~np.logical_and.reduce([cols.present(c) for c in rule.not_all_present])
        for column, value in rule.equals:
            f = cols[column]
            when &= f.rows((f.uniques.to_numpy() == value) | ~f.filled())
        condition = rule.condition_text()
        suffix = f" when {condition}" if condition else ""
        evidence = [c for c, _ in rule.equals] + [c for c in rule.present if c not in dict(rule.equals)]
        for column in rule.then_all:
            out += _row_findings("NATIVE-CONDITIONAL", table, when & ~cols.present(column), column, evidence,
                                 requirement=f"{column} is required{suffix}", found=f"{column} empty")
        if rule.then_any:
            groups = [" and ".join(g) for g in rule.then_any]
            met = np.logical_or.reduce([np.logical_and.reduce([cols.present(c) for c in g]) for g in rule.then_any])
            requirement = f"one of {', '.join(groups[:-1])} or {groups[-1]} is required{suffix}"
            out += _row_findings("NATIVE-CONDITIONAL", table, when & ~met, None, evidence,
                                 requirement=requirement, found="all of them empty")
    return out


def _key_findings(form: FormSchema, table: pd.DataFrame, cols: Columns) -> list[Finding]:
    key = form.key
    if not key or not set(key) <= set(table.columns) or len(table) == 0:
        return []
    codes = pd.DataFrame({c: cols[c].codes for c in key})
    complete = np.logical_and.reduce([cols.present(c) for c in key])  # an empty key cell is a required error
    duplicated = codes.duplicated(keep=False).to_numpy() & complete
    if not duplicated.any():
        return []
    rows = table.loc[duplicated, [*key, SOURCE_FILE, SOURCE_LINE]]
    lines = rows.groupby(key, sort=False)[SOURCE_LINE].transform(lambda s: ", ".join(map(str, s)))
    file, columns = rows[SOURCE_FILE].iloc[0], ", ".join(key)
    keys = [rows[c].to_numpy(dtype=object) for c in key]
    return [
        finding("NATIVE-KEY-DUPLICATE", f"{file}:{line}", [k[i] for k in keys],
                key=", ".join(f"{c}={k[i]}" for c, k in zip(key, keys)), lines=same, file=file, columns=columns)
        for i, (line, same) in enumerate(zip(rows[SOURCE_LINE], lines))
    ]


def _unit_findings(form: FormSchema, table: pd.DataFrame, cols: Columns) -> list[Finding]:
    schema = form.schema
    pair = form.units
    if pair is None or not set(pair) <= set(table.columns):
        return []
    code_col, unit_col = pair
    by_code: dict[str, list[str]] = schema["x-units-by-code"]
    code_enum, unit_enum = list(schema["properties"][code_col]["enum"]), list(schema["properties"][unit_col]["enum"])
    # allowed[code, unit], one more row and column for values outside the enums (NATIVE-CODE errors already)
    allowed = np.ones((len(code_enum) + 1, len(unit_enum) + 1), dtype=bool)
    for i, code in enumerate(code_enum):
        if code in by_code:
            allowed[i, : len(unit_enum)] = np.isin(unit_enum, by_code[code])
    codes, units = cols[code_col], cols[unit_col]
    code_at = pd.Index(code_enum).get_indexer(codes.uniques)  # -1 when not a code: the last row of `allowed`
    unit_at = pd.Index(unit_enum).get_indexer(units.uniques)
    bad = ~allowed[code_at[codes.codes], unit_at[units.codes]]
    rows = table.loc[bad, [code_col, unit_col, SOURCE_FILE, SOURCE_LINE]]
    return [
        finding("NATIVE-UNIT", f"{file}:{line}:{unit_col}", (unit,), column=unit_col, value=unit,
                code_column=code_col, code=code, allowed=" or ".join(by_code[code]))
        for code, unit, file, line in zip(rows[code_col], rows[unit_col], rows[SOURCE_FILE], rows[SOURCE_LINE])
    ]


def _row_date_order(form: FormSchema, table: pd.DataFrame, cols: Columns) -> list[Finding]:
    out = []
    for earlier, later in form.not_before(qualified=False):
        if not {earlier, later} <= set(table.columns):
            continue
        mask = complete_dates(cols[earlier]) & complete_dates(cols[later])
        mask[mask] = table[later].to_numpy(dtype=object)[mask] < table[earlier].to_numpy(dtype=object)[mask]
        rows = table.loc[mask, [earlier, later, SOURCE_FILE, SOURCE_LINE]]
        out += [finding("NATIVE-DATE-ORDER", f"{f}:{line}:{later}", (b, a), later=later, later_value=b,
                        earlier=earlier, earlier_value=a, where="in the same row")
                for a, b, f, line in zip(rows[earlier], rows[later], rows[SOURCE_FILE], rows[SOURCE_LINE])]
    return out


def check_form(form: FormSchema, table: pd.DataFrame) -> list[Finding]:
    """Every cell and row rule of the form schema, on a table of strings with `_file` and `_line`.

    Columns of the schema that the table lacks are skipped (the header check reports them).
    """
    cols = Columns(table)
    out: list[Finding] = []
    for column in form.columns:
        if column in table.columns:
            out += column_findings(form.schema, column, table, cols[column])
    out += _conditional_findings(form, table, cols)
    out += _key_findings(form, table, cols)
    out += _unit_findings(form, table, cols)
    out += _row_date_order(form, table, cols)
    return out
