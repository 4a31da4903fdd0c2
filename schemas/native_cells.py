"""Cell checks of native records: one column of a table of strings + its row schema property -> findings.

The vectorised machinery every native check uses: each column is factorised once (`Factorised`), a check
runs on the column's distinct values and gives a boolean mask that is mapped back onto the rows; findings
are then built from the masked rows only, with their provenance (`_file`, `_line`). Tables hold strings,
"" for an empty cell (an absent property). The cell rules: required, surrounding whitespace, `enum`,
`pattern`, `maxLength`, `x-minimum`/`x-maximum` and real calendar dates; and the header line against
the schema's columns.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.native import FormSchema
from trialbridge.schemas.provenance import SOURCE_FILE, SOURCE_LINE

_EXPECTED_BY_KIND = {
    "date": "a complete date YYYY-MM-DD",
    "partial-date": "a date YYYY-MM-DD, or a partial date YYYY-MM, YYYY, UNK-MM-YYYY or UNK-UNK-YYYY",
    "integer": "a whole number written with digits only",
    "decimal": "a number such as 12 or -0.5 (decimal point, no thousands separator)",
}
# The layouts of the format's dates (see the schemas' x-kind date / partial-date).
_DATE_LAYOUTS = re.compile(
    r"^(?:(?P<y1>[0-9]{4})(?:-(?P<m1>[0-9]{2})(?:-(?P<d1>[0-9]{2}))?)?|UNK-(?P<m2>[0-9]{2}|UNK)-(?P<y2>[0-9]{4}))$"
)
_DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                "October", "November", "December")


@dataclass(frozen=True)
class Factorised:
    """One column as its distinct values plus, per row, the index of the row's value among them."""

    codes: np.ndarray
    uniques: pd.Series

    @classmethod
    def of(cls, values: pd.Series) -> "Factorised":
        codes, uniques = pd.factorize(values)
        codes, uniques = np.asarray(codes), np.asarray(uniques, dtype=object)
        if (codes < 0).any():  # a missing value (not a reader's table, which holds "") counts as empty
            codes, uniques = np.where(codes < 0, uniques.size, codes), np.append(uniques, "")
        return cls(codes, pd.Series(uniques, dtype=object))

    def rows(self, on_uniques: np.ndarray | pd.Series) -> np.ndarray:
        """A mask over the distinct values, mapped onto the rows."""
        return np.asarray(on_uniques, dtype=bool)[self.codes]

    def filled(self) -> np.ndarray:
        """Mask over the distinct values: not the empty string."""
        return self.uniques.to_numpy() != ""


@dataclass
class Columns:
    """The columns of one table, each factorised once, on first use."""

    table: pd.DataFrame
    _done: dict[str, Factorised] = field(default_factory=dict)

    def __getitem__(self, column: str) -> Factorised:
        if column not in self._done:
            self._done[column] = Factorised.of(self.table[column])
        return self._done[column]

    def present(self, column: str) -> np.ndarray:
        """Rows where the cell is not empty."""
        f = self[column]
        return f.rows(f.filled())


def search(values: pd.Series, pattern: str) -> np.ndarray:
    """`re.search(pattern, v) is not None` for each value: the test of a JSON Schema `pattern`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "pattern has match groups": we want a boolean
        return values.astype(object).str.contains(pattern, regex=True).to_numpy(dtype=bool)


def calendar_problems(values: pd.Series) -> pd.Series:
    """Why each date or partial date is not a real calendar date ("" when it is one).

    Values should be in one of the format's layouts (YYYY-MM-DD, YYYY-MM, YYYY, UNK-MM-YYYY, UNK-UNK-YYYY);
    a value in any other layout gets the reason "not one of the format's date layouts".
    """
    if len(values) == 0:
        return pd.Series([], index=values.index, dtype=object)
    parts = values.astype(object).str.extract(_DATE_LAYOUTS)
    year = pd.to_numeric(parts["y1"].fillna(parts["y2"]), errors="coerce").to_numpy(dtype=float)
    month_text = parts["m1"].fillna(parts["m2"].where(parts["m2"] != "UNK"))
    month = pd.to_numeric(month_text, errors="coerce").to_numpy(dtype=float)
    day = pd.to_numeric(parts["d1"], errors="coerce").to_numpy(dtype=float)
    laid_out = ~np.isnan(year)
    bad_month = laid_out & ((month < 1) | (month > 12))
    good_month = laid_out & ~np.isnan(month) & ~bad_month
    month_index = np.where(good_month, month, 1).astype(int) - 1
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    last_day = _DAYS_IN_MONTH[month_index] + ((month_index == 1) & leap)
    bad_day = good_month & ((day < 1) | (day > last_day))
    reasons = np.full(len(values), "", dtype=object)
    reasons[~laid_out] = "not one of the format's date layouts"
    for i in np.flatnonzero(bad_month):
        reasons[i] = f"there is no month {int(month[i]):02d}"
    for i in np.flatnonzero(bad_day):
        month_name = _MONTH_NAMES[month_index[i]]
        reasons[i] = f"{month_name} {int(year[i]):04d} has days 01 to {last_day[i]}, not {int(day[i]):02d}"
    return pd.Series(reasons, index=values.index)


def complete_dates(column: Factorised) -> np.ndarray:
    """Rows holding a complete, real calendar date YYYY-MM-DD (the only dates whose order is checked)."""
    u = column.uniques
    shaped = search(u, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$") & (u.str.len() == 10).to_numpy()
    real = np.zeros(len(u), dtype=bool)
    real[shaped] = (calendar_problems(u[shaped]) == "").to_numpy()
    return column.rows(real)


def cell_findings(rule: str, table: pd.DataFrame, column: str, col: Factorised, bad: np.ndarray,
                   per_value: Mapping[str, np.ndarray] | None = None, **fields: object) -> list[Finding]:
    """One finding per row whose value is `bad` (a mask over the distinct values), at `file:line:column`.

    `per_value` holds message fields that depend on the value (arrays over the distinct values).
    """
    if not bad.any():
        return []
    rows = col.rows(bad)
    which = col.codes[rows]
    sub = table.loc[rows, [SOURCE_FILE, SOURCE_LINE]]
    varying = {name: array[which] for name, array in (per_value or {}).items()}
    values = col.uniques.to_numpy()[which]
    return [
        finding(rule, f"{file}:{line}:{column}", (value,), column=column, value=value,
                **fields, **{name: array[i] for name, array in varying.items()})
        for i, (value, file, line) in enumerate(zip(values, sub[SOURCE_FILE], sub[SOURCE_LINE]))
    ]


def _range_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"a number from {low} to {high}"
    return f"a number of at least {low}" if low is not None else f"a number of at most {high}"


def check_header(form: FormSchema, names: Sequence[str]) -> list[Finding]:
    """The header line against the schema: every column present once, nothing unknown, schema order."""
    schema = form.schema
    file, expected = form.file, form.columns
    listed = ", ".join(expected)
    out = []
    for column in expected:
        if column not in names:
            required = "required" if column in schema.get("required", ()) else "optional"
            out.append(finding("NATIVE-COLUMN-MISSING", f"{file}:1", (column,), column=column, file=file,
                               required=required, columns=listed))
    for position, name in enumerate(names, start=1):
        if name not in schema["properties"]:
            out.append(finding("NATIVE-COLUMN-UNKNOWN", f"{file}:1:{name or f'#{position}'}", (name,), column=name,
                               position=position, file=file, columns=listed))
    for name in dict.fromkeys(n for n in names if list(names).count(n) > 1):
        positions = [i for i, n in enumerate(names, start=1) if n == name]
        out.append(finding("NATIVE-COLUMN-DUPLICATE", f"{file}:1:{name}", (name,), column=name, file=file,
                           count=len(positions), positions=", ".join(map(str, positions))))
    found_order = [n for n in dict.fromkeys(names) if n in schema["properties"]]
    if found_order != [c for c in expected if c in found_order]:
        out.append(finding("NATIVE-COLUMN-ORDER", f"{file}:1", found_order, file=file,
                           found=", ".join(found_order), expected=listed))
    return out


def column_findings(schema: dict[str, Any], column: str, table: pd.DataFrame, col: Factorised) -> list[Finding]:
    """The cell rules of one column: required, whitespace, enum, pattern, maxLength, range, calendar."""
    spec = schema["properties"][column]
    kind = spec["x-kind"]
    u = col.uniques
    filled = col.filled()
    out: list[Finding] = []
    if column in schema.get("required", ()):
        out += cell_findings("NATIVE-REQUIRED", table, column, col, ~filled, description=spec.get("description", ""))
    out += cell_findings("NATIVE-WHITESPACE", table, column, col, filled & (u != u.str.strip()).to_numpy())
    well_formed = filled.copy()
    if "enum" in spec:
        bad = filled & ~u.isin(spec["enum"]).to_numpy()
        well_formed &= ~bad
        out += cell_findings("NATIVE-CODE", table, column, col, bad, allowed=", ".join(spec["enum"]))
    if "pattern" in spec:
        bad = filled & ~search(u, spec["pattern"])
        well_formed &= ~bad
        expected = _EXPECTED_BY_KIND.get(kind, spec.get("description", "").rstrip("."))
        out += cell_findings("NATIVE-PATTERN", table, column, col, bad, expected=expected, pattern=spec["pattern"])
    if "maxLength" in spec:
        lengths = u.str.len().to_numpy()
        out += cell_findings("NATIVE-LENGTH", table, column, col, lengths > spec["maxLength"],
                             per_value={"length": lengths}, maximum=spec["maxLength"])
    low, high = spec.get("x-minimum"), spec.get("x-maximum")
    if kind in ("integer", "decimal") and (low is not None or high is not None):
        numbers = pd.to_numeric(u.where(well_formed), errors="coerce").to_numpy(dtype=float)
        outside = (numbers < (-np.inf if low is None else low)) | (numbers > (np.inf if high is None else high))
        out += cell_findings("NATIVE-RANGE", table, column, col, well_formed & outside,
                             expected=_range_text(low, high))
    if kind in ("date", "partial-date"):
        reasons = np.full(len(u), "", dtype=object)
        reasons[well_formed] = calendar_problems(u[well_formed]).to_numpy()
        out += cell_findings("NATIVE-DATE", table, column, col, reasons != "", per_value={"reason": reasons},
                             expected=_EXPECTED_BY_KIND[kind])
    return out
