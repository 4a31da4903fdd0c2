"""Checks of native records: form tables + their JSON Schemas -> findings; registry record -> findings.

Every check is read from the form schemas (`schemas/native/<form>.schema.json`): column names and order,
`required`, `pattern`, `enum`, `maxLength`, the `allOf` conditional requirements, and the annotations
`x-kind`, `x-minimum`/`x-maximum`, `x-key` and `x-units-by-code`. A schema construct this module does not
understand raises `UnsupportedSchema` (a programming error): it never passes silently.

Checks are vectorised: each column is factorised once, a check runs on the column's distinct values and
gives a boolean mask that is mapped back onto the rows; findings are then built from the masked rows only,
with their provenance (`_file`, `_line`). Tables hold strings, "" for an empty cell (an absent property).

The rules in `SCHEMA_RULES` restate the JSON Schema, so a row draws one of them exactly when
`jsonschema` rejects the row; the other rules go beyond the schema (real calendar dates, numeric ranges,
unique keys, units by test code, surrounding whitespace, cross-file consistency).
"""
from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from jsonschema import Draft202012Validator

from trialbridge.schemas.provenance import SOURCE_FILE, SOURCE_LINE
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.native import FORM_NAMES, form_file, form_schema, registry_schema

SCHEMA_RULES: frozenset[str] = frozenset(
    {"NATIVE-REQUIRED", "NATIVE-PATTERN", "NATIVE-CODE", "NATIVE-LENGTH", "NATIVE-CONDITIONAL"}
)

# The cross-file keys: every form row names its subject and site; enrolment.csv is the subject register.
SUBJECT = "SUBJID"
SITE = "SITEID"
REGISTER_FORM = "enrolment"

# Date order, complete dates only (warnings): (earlier, later) within one row of a form ...
ROW_DATE_ORDER: dict[str, tuple[tuple[str, str], ...]] = {
    "dosing": (("EXSTDAT", "EXENDAT"),),
    "adverse_events": (("AESTDAT", "AEENDAT"),),
    "end_of_study": (("EOTDAT", "EOSDAT"),),
}
# ... and (enrolment column, form, form column): the enrolment date comes first for the same subject.
SUBJECT_DATE_ORDER: tuple[tuple[str, str, str], ...] = (
    ("CONSDAT", "dosing", "EXSTDAT"),  # no dose before consent
    ("TXDAT", "dosing", "EXSTDAT"),  # lenalidomide starts after the transplant (Day +100 to +120)
    ("CONSDAT", "end_of_study", "EOSDAT"),  # nobody leaves the study before entering it
)

_FORM_KEYWORDS = frozenset({
    "$schema", "$id", "title", "description", "x-file", "x-key", "type", "properties", "required",
    "additionalProperties", "allOf", "x-units-by-code",
})
_PROPERTY_KEYWORDS = frozenset(
    {"type", "pattern", "enum", "maxLength", "description", "x-kind", "x-minimum", "x-maximum"}
)
_ANNOTATIONS = frozenset({"description", "$comment", "title"})
_KINDS = frozenset({"code", "text", "integer", "decimal", "date", "partial-date"})

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


class UnsupportedSchema(ValueError):
    """A form schema uses a construct the checks do not implement: fix the checks, not the data."""


# --- schema reading --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Conditional:
    """One `allOf` entry: when every clause holds, `then_all` must be present, or one `then_any` group.

    Clauses, as the schemas write them inside `if`: `required` (columns present), `not.required` (not all
    of these present) and `properties.X.const` (X absent or equal to the constant).
    """

    present: tuple[str, ...] = ()
    not_all_present: tuple[str, ...] = ()
    equals: tuple[tuple[str, str], ...] = ()
    then_all: tuple[str, ...] = ()
    then_any: tuple[tuple[str, ...], ...] = ()

    @property
    def columns(self) -> set[str]:
        cols = {*self.present, *self.not_all_present, *(c for c, _ in self.equals), *self.then_all}
        return cols.union(*self.then_any)

    def condition_text(self) -> str:
        """The `if` in words, e.g. "EOSREAS is 'DEATH'" or "LBSTAT is empty"; "" when always."""
        parts = []
        for column, value in self.equals:
            parts.append(f"{column} is '{value}'" if column in self.present else f"{column} is '{value}' or empty")
        given = [c for c in self.present if c not in dict(self.equals)]
        if given:
            parts.append(f"{' and '.join(given)} {'is' if len(given) == 1 else 'are'} given")
        if self.not_all_present:
            cols = self.not_all_present
            parts.append(f"{cols[0]} is empty" if len(cols) == 1 else f"one of {', '.join(cols)} is empty")
        return " and ".join(parts)


def _keys(node: Any, allowed: set[str] | frozenset[str], where: str) -> set[str]:
    if not isinstance(node, dict):
        raise UnsupportedSchema(f"{where}: expected an object, found {node!r}")
    keys = set(node) - _ANNOTATIONS
    if not keys or not keys <= allowed:
        raise UnsupportedSchema(f"{where}: unsupported construct {sorted(keys)}; supported: {sorted(allowed)}")
    return keys


def _required_list(node: Any, where: str) -> tuple[str, ...]:
    _keys(node, {"required"}, where)
    columns = node["required"]
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
        raise UnsupportedSchema(f"{where}.required: expected a non-empty list of column names")
    return tuple(columns)


def _parse_if(node: Any, where: str) -> dict[str, Any]:
    clauses: dict[str, Any] = {}
    keys = _keys(node, {"required", "properties", "not"}, where)
    if "required" in keys:
        clauses["present"] = _required_list({"required": node["required"]}, where)
    if "not" in keys:
        clauses["not_all_present"] = _required_list(node["not"], f"{where}.not")
    if "properties" in keys:
        equals = []
        for column, test in node["properties"].items():
            _keys(test, {"const"}, f"{where}.properties.{column}")
            if not isinstance(test["const"], str):
                raise UnsupportedSchema(f"{where}.properties.{column}.const: expected a string")
            equals.append((column, test["const"]))
        clauses["equals"] = tuple(equals)
    return clauses


def _parse_any_of(node: Any, where: str) -> tuple[tuple[str, ...], ...]:
    if not isinstance(node, list) or not node:
        raise UnsupportedSchema(f"{where}: expected a non-empty list")
    return tuple(_required_list(item, f"{where}[{i}]") for i, item in enumerate(node))


def _parse_then(node: Any, where: str) -> dict[str, Any]:
    keys = _keys(node, {"required", "anyOf"}, where)
    if keys == {"required"}:
        return {"then_all": _required_list(node, where)}
    if keys == {"anyOf"}:
        return {"then_any": _parse_any_of(node["anyOf"], f"{where}.anyOf")}
    raise UnsupportedSchema(f"{where}: expected either `required` or `anyOf`, found {sorted(keys)}")


def parse_conditionals(schema: dict[str, Any], name: str) -> tuple[Conditional, ...]:
    """The `allOf` of a form schema as `Conditional` rules; raises `UnsupportedSchema` on anything else."""
    rules = []
    for i, entry in enumerate(schema.get("allOf", [])):
        where = f"{name} allOf[{i}]"
        keys = _keys(entry, {"if", "then", "anyOf"}, where)
        if keys == {"if", "then"}:
            clauses = _parse_if(entry["if"], f"{where}.if")
            rules.append(Conditional(**clauses, **_parse_then(entry["then"], f"{where}.then")))
        elif keys == {"anyOf"}:
            rules.append(Conditional(then_any=_parse_any_of(entry["anyOf"], f"{where}.anyOf")))
        else:
            raise UnsupportedSchema(f"{where}: expected `if` with `then`, or `anyOf`; found {sorted(keys)}")
    unknown = {c for rule in rules for c in rule.columns} - set(schema.get("properties", {}))
    if unknown:
        raise UnsupportedSchema(f"{name} allOf names columns that are not properties: {sorted(unknown)}")
    return tuple(rules)


@lru_cache(maxsize=None)
def conditional_rules(form: str) -> tuple[Conditional, ...]:
    return parse_conditionals(form_schema(form), f"{form}.schema.json")


@lru_cache(maxsize=None)
def checked_schema(form: str) -> dict[str, Any]:
    """The form schema, after making sure every keyword in it is one the checks implement."""
    schema = form_schema(form)
    unknown = set(schema) - _FORM_KEYWORDS
    if unknown:
        raise UnsupportedSchema(f"{form}.schema.json: unsupported keywords {sorted(unknown)}")
    if schema.get("type") != "object" or schema.get("additionalProperties") is not False:
        raise UnsupportedSchema(f"{form}.schema.json: expected an object schema with additionalProperties false")
    for column, spec in schema["properties"].items():
        unknown = set(spec) - _PROPERTY_KEYWORDS
        if unknown or spec.get("type") != "string" or spec.get("x-kind") not in _KINDS:
            raise UnsupportedSchema(
                f"{form}.schema.json properties.{column}: expected type string, a known x-kind and keywords "
                f"among {sorted(_PROPERTY_KEYWORDS)}; found {spec}"
            )
    missing = (set(schema["required"]) | set(schema["x-key"])) - set(schema["properties"])
    if missing:
        raise UnsupportedSchema(f"{form}.schema.json: required or key columns are not properties: {sorted(missing)}")
    conditional_rules(form)
    units_columns(form)
    return schema


@lru_cache(maxsize=None)
def units_columns(form: str) -> tuple[str, str] | None:
    """(test code column, unit column) that `x-units-by-code` relates, found from the columns' `enum`s.

    The code column is the one whose codes cover the annotation's keys, the unit column the one whose
    codes cover every unit it lists; each must be the only such column.
    """
    schema = form_schema(form)
    by_code = schema.get("x-units-by-code")
    if by_code is None:
        return None
    units = {u for allowed in by_code.values() for u in allowed}

    def covering(values: set[str]) -> list[str]:
        return [c for c, spec in schema["properties"].items() if values <= set(spec.get("enum", ()))]

    codes, unit_cols = covering(set(by_code)), covering(units)
    if len(codes) != 1 or len(unit_cols) != 1 or codes == unit_cols:
        raise UnsupportedSchema(
            f"{form}.schema.json x-units-by-code: cannot tell the code and unit columns "
            f"(candidates {codes} and {unit_cols})"
        )
    return codes[0], unit_cols[0]


# --- the vectorised machinery ------------------------------------------------------------------------

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
class _Columns:
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


def _cell_findings(rule: str, table: pd.DataFrame, column: str, col: Factorised, bad: np.ndarray,
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


# --- one form ---------------------------------------------------------------------------------------

def check_header(form: str, names: Sequence[str]) -> list[Finding]:
    """The header line against the schema: every column present once, nothing unknown, schema order."""
    schema = checked_schema(form)
    file, expected = form_file(form), list(schema["properties"])
    listed = ", ".join(expected)
    out = []
    for column in expected:
        if column not in names:
            required = "required" if column in schema["required"] else "optional"
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


def _column_findings(schema: dict[str, Any], column: str, table: pd.DataFrame, col: Factorised) -> list[Finding]:
    """The cell rules of one column: required, whitespace, enum, pattern, maxLength, range, calendar."""
    spec = schema["properties"][column]
    kind = spec["x-kind"]
    u = col.uniques
    filled = col.filled()
    out: list[Finding] = []
    if column in schema["required"]:
        out += _cell_findings("NATIVE-REQUIRED", table, column, col, ~filled, description=spec.get("description", ""))
    out += _cell_findings("NATIVE-WHITESPACE", table, column, col, filled & (u != u.str.strip()).to_numpy())
    well_formed = filled.copy()
    if "enum" in spec:
        bad = filled & ~u.isin(spec["enum"]).to_numpy()
        well_formed &= ~bad
        out += _cell_findings("NATIVE-CODE", table, column, col, bad, allowed=", ".join(spec["enum"]))
    if "pattern" in spec:
        bad = filled & ~search(u, spec["pattern"])
        well_formed &= ~bad
        expected = _EXPECTED_BY_KIND.get(kind, spec.get("description", "").rstrip("."))
        out += _cell_findings("NATIVE-PATTERN", table, column, col, bad, expected=expected, pattern=spec["pattern"])
    if "maxLength" in spec:
        lengths = u.str.len().to_numpy()
        out += _cell_findings("NATIVE-LENGTH", table, column, col, lengths > spec["maxLength"],
                              per_value={"length": lengths}, maximum=spec["maxLength"])
    low, high = spec.get("x-minimum"), spec.get("x-maximum")
    if kind in ("integer", "decimal") and (low is not None or high is not None):
        numbers = pd.to_numeric(u.where(well_formed), errors="coerce").to_numpy(dtype=float)
        outside = (numbers < (-np.inf if low is None else low)) | (numbers > (np.inf if high is None else high))
        out += _cell_findings("NATIVE-RANGE", table, column, col, well_formed & outside,
                              expected=_range_text(low, high))
    if kind in ("date", "partial-date"):
        reasons = np.full(len(u), "", dtype=object)
        reasons[well_formed] = calendar_problems(u[well_formed]).to_numpy()
        out += _cell_findings("NATIVE-DATE", table, column, col, reasons != "", per_value={"reason": reasons},
                              expected=_EXPECTED_BY_KIND[kind])
    return out


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


def _conditional_findings(form: str, table: pd.DataFrame, cols: _Columns) -> list[Finding]:
    out: list[Finding] = []
    for rule in conditional_rules(form):
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


def _key_findings(schema: dict[str, Any], table: pd.DataFrame, cols: _Columns) -> list[Finding]:
    key = list(schema["x-key"])
    if not set(key) <= set(table.columns) or len(table) == 0:
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


def _unit_findings(form: str, schema: dict[str, Any], table: pd.DataFrame, cols: _Columns) -> list[Finding]:
    pair = units_columns(form)
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


def _row_date_order(form: str, table: pd.DataFrame, cols: _Columns) -> list[Finding]:
    out = []
    for earlier, later in ROW_DATE_ORDER.get(form, ()):
        if not {earlier, later} <= set(table.columns):
            continue
        mask = complete_dates(cols[earlier]) & complete_dates(cols[later])
        mask[mask] = table[later].to_numpy(dtype=object)[mask] < table[earlier].to_numpy(dtype=object)[mask]
        rows = table.loc[mask, [earlier, later, SOURCE_FILE, SOURCE_LINE]]
        out += [finding("NATIVE-DATE-ORDER", f"{f}:{line}:{later}", (b, a), later=later, later_value=b,
                        earlier=earlier, earlier_value=a, where="in the same row")
                for a, b, f, line in zip(rows[earlier], rows[later], rows[SOURCE_FILE], rows[SOURCE_LINE])]
    return out


def check_form(form: str, table: pd.DataFrame) -> list[Finding]:
    """Every cell and row rule of the form schema, on a table of strings with `_file` and `_line`.

    Columns of the schema that the table lacks are skipped (the header check reports them).
    """
    schema = checked_schema(form)
    cols = _Columns(table)
    out: list[Finding] = []
    for column in schema["properties"]:
        if column in table.columns:
            out += _column_findings(schema, column, table, cols[column])
    out += _conditional_findings(form, table, cols)
    out += _key_findings(schema, table, cols)
    out += _unit_findings(form, schema, table, cols)
    out += _row_date_order(form, table, cols)
    return out


# --- across forms -----------------------------------------------------------------------------------

def check_cross_forms(tables: Mapping[str, pd.DataFrame | None]) -> list[Finding]:
    """Every form row's subject is enrolled, at the site it was enrolled at; dates follow enrolment.

    Skipped when enrolment.csv could not be read (that is an error of its own). A subject enrolled twice
    (a key error of enrolment.csv) is compared with its first enrolment row.
    """
    register = tables.get(REGISTER_FORM)
    if register is None or SUBJECT not in register.columns:
        return []
    enrolled = register.loc[register[SUBJECT] != ""].drop_duplicates(SUBJECT).set_index(SUBJECT)
    out: list[Finding] = []
    for form in FORM_NAMES:
        table = tables.get(form)
        if form == REGISTER_FORM or table is None or SUBJECT not in table.columns:
            continue
        cols = _Columns(table)
        subject = cols[SUBJECT]
        known = subject.uniques.isin(enrolled.index).to_numpy()
        out += _cell_findings("NATIVE-NOT-ENROLLED", table, SUBJECT, subject, ~known & subject.filled(),
                              register=form_file(REGISTER_FORM))
        if SITE in table.columns and SITE in enrolled.columns:
            out += _site_mismatch(table, cols, subject, enrolled)
        out += _subject_date_order(form, table, cols, subject.rows(known), enrolled)
    return out


def _site_mismatch(table: pd.DataFrame, cols: _Columns, subject: Factorised, enrolled: pd.DataFrame) -> list[Finding]:
    expected = subject.uniques.map(enrolled[SITE]).to_numpy(dtype=object)[subject.codes]  # NaN: not enrolled
    mask = pd.notna(expected) & cols.present(SITE)
    mask[mask] = table[SITE].to_numpy(dtype=object)[mask] != expected[mask]
    rows = table.loc[mask, [SUBJECT, SITE, SOURCE_FILE, SOURCE_LINE]]
    return [
        finding("NATIVE-SITE-MISMATCH", f"{file}:{line}:{SITE}", (site,), column=SITE, value=site, subject=subject_id,
                expected=enrolled.at[subject_id, SITE], register=form_file(REGISTER_FORM),
                register_line=enrolled.at[subject_id, SOURCE_LINE])
        for subject_id, site, file, line in zip(rows[SUBJECT], rows[SITE], rows[SOURCE_FILE], rows[SOURCE_LINE])
    ]


def _subject_date_order(form: str, table: pd.DataFrame, cols: _Columns, known: np.ndarray,
                        enrolled: pd.DataFrame) -> list[Finding]:
    out = []
    for earlier, target, later in SUBJECT_DATE_ORDER:
        if target != form or later not in table.columns or earlier not in enrolled.columns:
            continue
        usable = enrolled[earlier].where(complete_dates(Factorised.of(enrolled[earlier])))
        reference = table[SUBJECT].map(usable).to_numpy(dtype=object)
        mask = known & complete_dates(cols[later]) & pd.notna(reference)
        mask[mask] = table[later].to_numpy(dtype=object)[mask] < reference[mask]
        rows = table.loc[mask, [SUBJECT, later, SOURCE_FILE, SOURCE_LINE]]
        out += [finding("NATIVE-DATE-ORDER", f"{f}:{line}:{later}", (v, enrolled.at[s, earlier]), later=later,
                        later_value=v, earlier=earlier, earlier_value=enrolled.at[s, earlier],
                        where=f"of subject {s} ({form_file(REGISTER_FORM)} line {enrolled.at[s, SOURCE_LINE]})")
                for s, v, f, line in zip(rows[SUBJECT], rows[later], rows[SOURCE_FILE], rows[SOURCE_LINE])]
    return out


# --- the registry record ----------------------------------------------------------------------------

def _shown(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_registry(record: Any, file: str = "registry.json") -> list[Finding]:
    """`registry.json` against `registry.schema.json`: every error at its JSON path."""
    validator = Draft202012Validator(registry_schema())
    errors = sorted(validator.iter_errors(record), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [
        finding("NATIVE-REGISTRY-SCHEMA", f"{file}:{e.json_path}", (_shown(e.instance),), path=e.json_path,
                detail=_shown(e.message, 400), file=file)
        for e in errors
    ]
