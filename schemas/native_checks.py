"""Checks of native records, the entry point: tables + their row schemas -> findings; registry record -> findings.

Every check of a raw dataset is read from the row schema its spec names (`schemas.native.FormSchema`):
column names and order, `required`, `pattern`, `enum`, `maxLength`, the `allOf` conditional requirements,
and the annotations `x-kind`, `x-minimum`/`x-maximum`, `x-key`, `x-units-by-code` and `x-not-before`.
The checks live in three modules, re-exported here: `native_cells` (one column: cell rules, the header),
`native_rows` (conditionals, keys, units, dates in a row; `check_form`) and `native_cross` (subjects
enrolled, at their site, dates after enrolment). This module checks the registry record.

The rules in `SCHEMA_RULES` restate the JSON Schema, so a row draws one of them exactly when
`jsonschema` rejects the row; the other rules go beyond the schema (real calendar dates, numeric ranges,
unique keys, units by test code, surrounding whitespace, cross-file consistency).
"""
from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator

from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.native import UnsupportedSchema, parse_conditionals, registry_schema
from trialbridge.schemas.native_cells import calendar_problems, check_header, complete_dates
from trialbridge.schemas.native_cross import SubjectColumns, check_cross_forms
from trialbridge.schemas.native_rows import check_form

__all__ = [
    "SCHEMA_RULES", "SubjectColumns", "UnsupportedSchema", "calendar_problems", "check_cross_forms", "check_form",
    "check_header", "check_registry", "complete_dates", "parse_conditionals",
]

SCHEMA_RULES: frozenset[str] = frozenset(
    {"NATIVE-REQUIRED", "NATIVE-PATTERN", "NATIVE-CODE", "NATIVE-LENGTH", "NATIVE-CONDITIONAL"}
)


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
