"""The vectorised form checks say what `jsonschema` says about each row, plus their own extra rules."""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from jsonschema import Draft202012Validator

from trialbridge.schemas.findings import Finding
from trialbridge.converters.synth.forms import FORM_NAMES, form_columns, form_file, form_schema, revallo_form
from trialbridge.schemas.native_checks import (
    SCHEMA_RULES,
    UnsupportedSchema,
    calendar_problems,
    parse_conditionals,
)
from trialbridge.schemas.native import units_columns
from trialbridge.schemas.native_rows import check_form as check_schema_form

from conftest import VALID_ROWS

# Values that exercise every schema keyword: empty, whitespace, case, separators, numbers, dates, codes.
TRICKY = ["", " ", "x", "01", "001", " 001", "0001", "01\n", "1", "0", "-1", "1.5", "1,5", "200", "99999",
          "2012-02-29", "2011-02-29", "2012-02-30", "2012-13-01", "2012-00-10", "2012-04", "2012", "UNK-02-2012",
          "UNK-UNK-2012", "UNK-13-2012", "12/03/2012", "Y", "N", "y", "DEATH", "DISCONTINUED", "NOT DONE",
          "ACUTE", "M01", "M13", "EOT", "CR", "cr", "10/10", ">95", "<3.3", "17.0", "mg/j", "g/L", "é" * 201,
          "a" * 401]


def check_form(form: str, table: pd.DataFrame) -> list[Finding]:
    return check_schema_form(revallo_form(form), table)


def as_table(form: str, rows: list[dict[str, str]]) -> pd.DataFrame:
    table = pd.DataFrame([{c: row.get(c, "") for c in form_columns(form)} for row in rows],
                         columns=form_columns(form), dtype=object)
    table["_file"] = form_file(form)
    table["_line"] = range(2, len(rows) + 2)
    return table


def mutants(form: str, seed: int = 7) -> list[dict[str, str]]:
    """The valid rows, each column of each set to every tricky value and code, and random 2-3 cell mixes."""
    schema = form_schema(form)
    rows = [dict(r) for r in VALID_ROWS[form]]
    pool = {c: TRICKY + list(spec.get("enum", [])) for c, spec in schema["properties"].items()}
    for base in VALID_ROWS[form]:
        for column, values in pool.items():
            rows += [{**base, column: value} for value in values]
    rng = random.Random(seed)
    for _ in range(400):
        row = dict(rng.choice(VALID_ROWS[form]))
        for column in rng.sample(list(pool), k=rng.randint(2, 3)):
            row[column] = rng.choice(pool[column])
        rows.append(row)
    return rows


def flagged_lines(findings: list[Finding], rules: frozenset[str] | set[str]) -> set[int]:
    return {int(f.location.split(":")[1]) for f in findings if f.rule in rules}


def schema_verdicts(form: str, table: pd.DataFrame) -> dict[int, bool]:
    """jsonschema's verdict per line: is the row, without its empty cells, valid?"""
    validator = Draft202012Validator(form_schema(form))
    columns = form_columns(form)
    return {int(line): validator.is_valid({c: v for c, v in zip(columns, values) if v != ""})
            for line, *values in table[["_line", *columns]].itertuples(index=False)}


def assert_agrees_with_jsonschema(form: str, table: pd.DataFrame) -> None:
    findings = check_form(form, table)
    verdicts = schema_verdicts(form, table)
    invalid = {line for line, ok in verdicts.items() if not ok}
    assert flagged_lines(findings, SCHEMA_RULES) == invalid
    # The extra cell rules (real calendar dates, numeric ranges, units by test code) only judge values
    # jsonschema accepts: each value they flag satisfies its column's schema on its own.
    properties = form_schema(form)["properties"]
    for f in findings:
        if f.rule in {"NATIVE-DATE", "NATIVE-RANGE", "NATIVE-UNIT"}:
            column = f.location.split(":")[2]
            assert Draft202012Validator(properties[column]).is_valid(f.values[0]), f


@pytest.mark.parametrize("form", FORM_NAMES)
def test_flagged_by_the_schema_rules_iff_jsonschema_rejects_the_row(form: str) -> None:
    table = as_table(form, mutants(form))
    assert len(table) > 500
    assert_agrees_with_jsonschema(form, table)


def test_generated_rows_agree_with_jsonschema(tmp_path: Path) -> None:
    synth = pytest.importorskip("trialbridge.converters.synth.generator")
    synth.write_synthetic(tmp_path, 12, 3)
    from trialbridge.converters.native_reader import read_form

    for form in FORM_NAMES:
        table, _ = read_form(tmp_path / form_file(form), revallo_form(form))
        assert table is not None
        assert_agrees_with_jsonschema(form, table)


def test_calendar_dates_are_the_extra_rule_beyond_the_schema_patterns() -> None:
    values = pd.Series(["2012-02-29", "2000-02-29", "2011-02-29", "1900-02-29", "2012-04-31", "2012-00",
                        "2012-12", "2012", "UNK-02-2012", "UNK-UNK-2012", "UNK-13-2012", "2012-01-00"])
    assert list(calendar_problems(values)) == [
        "", "", "February 2011 has days 01 to 28, not 29", "February 1900 has days 01 to 28, not 29",
        "April 2012 has days 01 to 30, not 31", "there is no month 00", "", "", "", "",
        "there is no month 13", "January 2012 has days 01 to 31, not 00",
    ]
    # each of them matches the partial-date pattern, so jsonschema alone accepts all of them
    pattern = form_schema("adverse_events")["properties"]["AESTDAT"]["pattern"]
    assert all(re.search(pattern, v) for v in values)


def test_range_units_and_keys_on_schema_valid_rows() -> None:
    table = as_table("laboratory", [
        {**VALID_ROWS["laboratory"][0]},
        {**VALID_ROWS["laboratory"][0], "LBUNIT": "%"},  # the same key again, and a unit of another test
    ])
    assert all(schema_verdicts("laboratory", table).values())
    assert [(f.rule, f.location) for f in check_form("laboratory", table)] == [
        ("NATIVE-KEY-DUPLICATE", "laboratory.csv:2"),
        ("NATIVE-KEY-DUPLICATE", "laboratory.csv:3"),
        ("NATIVE-UNIT", "laboratory.csv:3:LBUNIT"),
    ]
    table = as_table("enrolment", [{**VALID_ROWS["enrolment"][0], "AGE": "121"}])  # x-maximum 120
    assert all(schema_verdicts("enrolment", table).values())
    assert [(f.rule, f.location, f.message) for f in check_form("enrolment", table)] == [
        ("NATIVE-RANGE", "enrolment.csv:2:AGE", "AGE is 121; expected a number from 0 to 120"),
    ]


def test_units_by_code_relates_the_code_and_unit_columns() -> None:
    assert units_columns(form_schema("laboratory"), "laboratory") == ("LBCODE", "LBUNIT")
    assert units_columns(form_schema("dosing"), "dosing") is None


@pytest.mark.parametrize("entry", [
    {"if": {"required": ["A"]}, "then": {"required": ["B"]}, "else": {"required": ["C"]}},
    {"if": {"properties": {"A": {"enum": ["x"]}}}, "then": {"required": ["B"]}},
    {"if": {"required": ["A"]}, "then": {"properties": {"B": {"const": "y"}}}},
    {"oneOf": [{"required": ["A"]}, {"required": ["B"]}]},
    {"if": {"not": {"properties": {"A": {"const": "x"}}}}, "then": {"required": ["B"]}},
])
def test_a_construct_the_checks_do_not_understand_is_a_programming_error(entry: dict[str, Any]) -> None:
    schema = {"properties": {c: {"type": "string"} for c in "ABC"}, "allOf": [entry]}
    with pytest.raises(UnsupportedSchema):
        parse_conditionals(schema, "test.schema.json")


def test_every_form_schema_is_understood() -> None:
    for form in FORM_NAMES:
        check_form(form, as_table(form, VALID_ROWS[form]))  # raises UnsupportedSchema otherwise
