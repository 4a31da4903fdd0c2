"""Long text and supplemental qualifiers: text over 200 characters -> its continuation (SUPP-- qualifiers or
TSVAL1.. columns), and qualifier columns -> SUPP-- rows (SDTMIG 8.4).

Text is cut at a word boundary (SDTMIG 4.5.3.2); every split is reported; a continuation the study spec
does not declare stops the run rather than being lost.
"""
from __future__ import annotations

import re
from typing import Sequence

import pandas as pd

from trialbridge.mappings.trial import SOURCE_FILE, SOURCE_LINE
from trialbridge.mappings.sdtm.frames import _char, _records, _shown, _text
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.xpt_ascii import written_width

SUPP_COLUMNS: tuple[str, ...] = (
    "STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL", "QORIG", "QEVAL",
)
MAX_TEXT = 200  # SDTMIG 4.5.3.2: characters a text variable holds before the rest goes to SUPP--


def split_long_text(table: pd.DataFrame, variable: str, supp_qnam_prefix: str,
                    length: int = MAX_TEXT) -> tuple[pd.DataFrame, list[Finding]]:
    """SDTMIG 4.5.3.2: text over `length` characters keeps its first part in `variable` and the rest in
    SUPP-- qualifiers `<prefix>1`, `<prefix>2`, ..., each cut at a word boundary (at `length` characters
    only when a single word is longer). Lengths are counted as the XPT file will hold the text, in ASCII
    bytes (`written_width`: `coeur` for `cœur`, `deg` for `°`), so no part outgrows the 200-byte limit
    once transliterated. Returns the parts as columns [variable, prefix1, ...] aligned on the table, and
    an info finding per split value."""
    rest = _text(table[variable])
    parts: dict[str, pd.Series] = {}
    index = 0
    while True:
        long = written_width(rest) > length
        if not long.any():
            parts[variable if index == 0 else f"{supp_qnam_prefix}{index}"] = rest
            break
        head, tail = _fit_cut(rest[long], length)
        parts[variable if index == 0 else f"{supp_qnam_prefix}{index}"] = rest.where(~long, head)
        rest = _char(rest.index).where(~long, tail).where(long, "")
        index += 1
    frame = pd.DataFrame({name: _text(values) for name, values in parts.items()}, index=table.index)
    return frame, _split_report(table, frame, variable, length, "SDTM-TEXT-SPLIT", "qnams")


def _cut(values: pd.Series, budget: int) -> tuple[pd.Series, pd.Series]:
    """(head, tail) of each value: the head at most `budget` characters, ending at a word boundary (cut
    inside a word only when the first word is longer), the tail what follows the spaces after it."""
    cut = values.str.extract(rf"^(.{{0,{budget - 1}}}\S)(?:\s+|$)(.*)$", flags=re.DOTALL)
    head = cut[0].where(cut[0].notna(), values.str[:budget])
    tail = cut[1].where(cut[0].notna(), values.str[budget:])
    return head, tail


def _fit_cut(values: pd.Series, length: int) -> tuple[pd.Series, pd.Series]:
    """`_cut` at `length` characters, cut again shorter (by the excess) where the head's ASCII form is
    wider than `length` bytes; the budgets only shrink, so this ends in a few rounds."""
    head, tail = _cut(values, length)
    budgets = pd.Series(length, index=values.index)
    while True:
        excess = written_width(head) - length
        wide = excess > 0
        if not wide.any():
            return head, tail
        budgets[wide] = (budgets[wide] - excess[wide]).clip(lower=1)
        for budget, rows in budgets[wide].groupby(budgets[wide]):  # a few distinct budgets, never per row
            head[rows.index], tail[rows.index] = _cut(values[rows.index], int(budget))


def _split_report(table: pd.DataFrame, parts: pd.DataFrame, variable: str, length: int, rule_id: str,
                  names_field: str) -> list[Finding]:
    """The one finding of a text split: how many records, which continuation names (`names_field` is the
    message template's name for them: `qnams` for SUPP-- qualifiers, `columns` for TSVAL1 ...)."""
    extra = [c for c in parts.columns if c != variable]
    split = (parts[extra] != "").any(axis=1) if extra else pd.Series(False, index=table.index)
    if not split.any():
        return []
    records = _records(table, split)
    return [finding(rule_id, f"{records[0]}:{variable}", [], variable=variable, count=len(records),
                    length=length, records=_shown(records), **{names_field: ", ".join(extra)})]


def split_to_columns(table: pd.DataFrame, variable: str, length: int = MAX_TEXT) -> tuple[pd.DataFrame, list[Finding]]:
    """SDTMIG 3.4 TS assumption (TSVAL): text over `length` characters keeps its first part in `variable`
    and continues in the additional columns `<variable>1`, `<variable>2`, ... of the same dataset, each cut
    at a word boundary: `split_long_text` with the parts kept as columns instead of SUPP-- qualifiers."""
    parts, _ = split_long_text(table, variable, variable, length)
    return parts, _split_report(table, parts, variable, length, "SDTM-TEXT-SPLIT-COLUMNS", "columns")


def to_supp(table: pd.DataFrame, domain: str, qvals: Sequence[tuple[str, str, str, str]],
            idvar: str = "") -> pd.DataFrame:
    """SUPP-- rows (SDTMIG 8.4): one per non-empty value of each qualifier (QNAM, QLABEL, column, QORIG).

    IDVAR/IDVARVAL name the parent record (e.g. AESEQ and its value); both are null for DM. Qualifier
    columns missing from `table` (e.g. a DSTERM2 no value needed) give no rows. Rows are ordered by
    subject, parent record, then the qualifiers' declared order; `_file`/`_line` come from the parent row.
    """
    frames = []
    numeric_parent = bool(idvar) and pd.api.types.is_numeric_dtype(table[idvar])
    for rank, (qnam, qlabel, column, qorig) in enumerate(qvals):
        if column not in table.columns:
            continue
        values = _text(table[column])
        rows = table.loc[values != ""]
        if rows.empty:
            continue
        parent = rows[idvar] if idvar else pd.Series(0, index=rows.index)
        idvarval = _text(parent.astype("int64").astype(str)) if numeric_parent else _text(parent)
        frames.append(pd.DataFrame({
            "STUDYID": _text(rows["STUDYID"]), "RDOMAIN": domain, "USUBJID": _text(rows["USUBJID"]),
            "IDVAR": idvar, "IDVARVAL": idvarval if idvar else "", "QNAM": qnam, "QLABEL": qlabel,
            "QVAL": values[values != ""], "QORIG": qorig, "QEVAL": "",
            SOURCE_FILE: _text(rows[SOURCE_FILE]), SOURCE_LINE: rows[SOURCE_LINE].astype("int64"),
            "_parent": parent if numeric_parent else 0, "_rank": rank,
        }))
    if not frames:
        empty = {c: pd.Series(dtype=object) for c in SUPP_COLUMNS}
        return pd.DataFrame({**empty, SOURCE_FILE: pd.Series(dtype=object), SOURCE_LINE: pd.Series(dtype="int64")})
    supp = pd.concat(frames, ignore_index=True)
    supp = supp.sort_values(["USUBJID", "_parent", "IDVARVAL", "_rank"], kind="mergesort")
    supp = supp.drop(columns=["_rank", "_parent"]).reset_index(drop=True)
    for column in SUPP_COLUMNS + (SOURCE_FILE,):
        supp[column] = _text(supp[column])
    return supp


def require_declared(parts: pd.DataFrame, variable: str, qvals: Sequence[tuple[str, str, str, str]]) -> None:
    """Stop when a long-text split produced a SUPP-- qualifier the study specification does not declare
    (it would otherwise be lost): the spec must list every QNAM the data can need."""
    declared = {qnam for qnam, *_ in qvals}
    undeclared = [c for c in parts.columns if c != variable and c not in declared]
    if undeclared:
        raise ValueError(f"study-spec.json declares no SUPP-- qualifier {undeclared} for the split of {variable}")
