"""The native record format's schemas: a JSON Schema of one CSV row -> a checked `FormSchema`; the registry schema.

A study's spec names, in its sources table, the JSON Schema of each raw dataset's row (`schema` column,
relative to the spec folder). A row schema describes one CSV data row: every cell is a string and an
empty cell is an absent property; the CSV's column order is the schema's property order. Besides the
JSON Schema keywords `type`, `properties`, `required`, `additionalProperties`, `pattern`, `enum`,
`maxLength` and the `allOf` conditional requirements, the checks read these annotations:

- `x-kind` (per column, required): code, text, integer, decimal, date, partial-date;
- `x-minimum` / `x-maximum` (per column): the numeric range of an integer or decimal column;
- `x-not-before` (per column): dates this date may not precede, complete dates only (warnings): `COLUMN`
  in the same row, or `DATASET.COLUMN` of the subject's row in the dataset that enrols subjects;
- `x-version-of` (per column): the column holds the version of the named dictionary (e.g. `MedDRA`) the
  row was coded with;
- `x-key` (schema): columns unique per row; `x-file` (schema): the CSV name, for the format's page;
- `x-units-by-code` (schema): the units allowed for each test code.

`form_schema_of` turns a parsed schema into a `FormSchema` after making sure every keyword in it is one
the checks implement; anything else raises `UnsupportedSchema`, which the spec reader reports as a
finding at the schema file (a schema is user input: it never passes silently and never crashes).
The registry record (`registry.json`, ClinicalTrials.gov API v2 structure) keeps its schema here.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

REGISTRY_FILE = "registry.json"  # the registry record's usual file name in a native record folder

_FORM_KEYWORDS = frozenset({
    "$schema", "$id", "title", "description", "x-file", "x-key", "type", "properties", "required",
    "additionalProperties", "allOf", "x-units-by-code",
})
_PROPERTY_KEYWORDS = frozenset({
    "type", "pattern", "enum", "maxLength", "description", "x-kind", "x-minimum", "x-maximum", "x-not-before",
    "x-version-of",
})
_ANNOTATIONS = frozenset({"description", "$comment", "title"})
KINDS = frozenset({"code", "text", "integer", "decimal", "date", "partial-date"})
DATE_KINDS = frozenset({"date", "partial-date"})


class UnsupportedSchema(ValueError):
    """A row schema uses a construct the checks do not implement, or is not a row schema at all."""


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


@dataclass(frozen=True, eq=False)
class FormSchema:
    """A checked row schema of one raw dataset: the dataset, its CSV file, and what the checks read."""

    name: str  # the raw dataset (the spec's sources.dataset)
    file: str  # the CSV file name the findings name
    place: str  # the schema file as the spec names it, e.g. "forms/dosing.schema.json"
    schema: dict[str, Any]
    conditionals: tuple[Conditional, ...]
    units: tuple[str, str] | None  # (test code column, unit column) of x-units-by-code

    @property
    def properties(self) -> dict[str, dict[str, Any]]:
        return self.schema["properties"]

    @property
    def columns(self) -> list[str]:
        """The CSV columns, in the order an export writes them."""
        return list(self.schema["properties"])

    @property
    def required(self) -> list[str]:
        return list(self.schema.get("required", []))

    @property
    def key(self) -> list[str]:
        return list(self.schema.get("x-key", []))

    def not_before(self, qualified: bool) -> list[tuple[str, str]]:
        """(earlier, later) date pairs of `x-not-before`: same-row columns, or `DATASET.COLUMN` ones."""
        return [(earlier, later) for later, spec in self.properties.items() for earlier in spec.get("x-not-before", ())
                if ("." in earlier) == qualified]

    def versions(self) -> dict[str, str]:
        """Dictionary name -> the column holding the version each row was coded with (`x-version-of`)."""
        return {spec["x-version-of"]: column for column, spec in self.properties.items() if "x-version-of" in spec}


# --- reading a schema --------------------------------------------------------------------------------

def _keys(node: Any, allowed: set[str] | frozenset[str], where: str) -> set[str]:
    if not isinstance(node, dict):
        raise UnsupportedSchema(f"{where}: expected an object, found {node!r}")
    keys = set(node) - _ANNOTATIONS
    if not keys or not keys <= allowed:
        raise UnsupportedSchema(f"{where}: unsupported construct {sorted(keys)}; supported: {sorted(allowed)}")
    return keys


def _names(value: Any, where: str, empty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or (not value and not empty) or not all(isinstance(c, str) for c in value):
        raise UnsupportedSchema(f"{where}: expected a {'' if empty else 'non-empty '}list of column names")
    return tuple(value)


def _required_list(node: Any, where: str) -> tuple[str, ...]:
    _keys(node, {"required"}, where)
    return _names(node["required"], f"{where}.required")


def _parse_if(node: Any, where: str) -> dict[str, Any]:
    clauses: dict[str, Any] = {}
    keys = _keys(node, {"required", "properties", "not"}, where)
    if "required" in keys:
        clauses["present"] = _required_list({"required": node["required"]}, where)
    if "not" in keys:
        clauses["not_all_present"] = _required_list(node["not"], f"{where}.not")
    if "properties" in keys:
        if not isinstance(node["properties"], dict):
            raise UnsupportedSchema(f"{where}.properties: expected an object")
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
    """The `allOf` of a row schema as `Conditional` rules; raises `UnsupportedSchema` on anything else."""
    rules = []
    entries = schema.get("allOf", [])
    if not isinstance(entries, list):
        raise UnsupportedSchema(f"{name} allOf: expected a list")
    for i, entry in enumerate(entries):
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


def units_columns(schema: dict[str, Any], name: str) -> tuple[str, str] | None:
    """(test code column, unit column) that `x-units-by-code` relates, found from the columns' `enum`s.

    The code column is the one whose codes cover the annotation's keys, the unit column the one whose
    codes cover every unit it lists; each must be the only such column.
    """
    by_code = schema.get("x-units-by-code")
    if by_code is None:
        return None
    if not isinstance(by_code, dict) or not all(isinstance(u, list) for u in by_code.values()):
        raise UnsupportedSchema(f"{name} x-units-by-code: expected an object of code -> list of units")
    units = {u for allowed in by_code.values() for u in allowed}

    def covering(values: set[str]) -> list[str]:
        return [c for c, spec in schema["properties"].items() if values <= set(spec.get("enum", ()))]

    codes, unit_cols = covering(set(by_code)), covering(units)
    if len(codes) != 1 or len(unit_cols) != 1 or codes == unit_cols:
        raise UnsupportedSchema(
            f"{name} x-units-by-code: cannot tell the code and unit columns (candidates {codes} and {unit_cols})"
        )
    return codes[0], unit_cols[0]


def _check_property(name: str, column: str, spec: Any, columns: set[str]) -> None:
    where = f"{name} properties.{column}"
    if not isinstance(spec, dict):
        raise UnsupportedSchema(f"{where}: expected an object")
    unknown = set(spec) - _PROPERTY_KEYWORDS
    if unknown or spec.get("type") != "string" or spec.get("x-kind") not in KINDS:
        raise UnsupportedSchema(f"{where}: expected type string, a known x-kind ({', '.join(sorted(KINDS))}) "
                                f"and keywords among {sorted(_PROPERTY_KEYWORDS)}; found {spec}")
    earlier = _names(spec.get("x-not-before", []), f"{where}.x-not-before", empty=True)
    if earlier and spec["x-kind"] not in DATE_KINDS:
        raise UnsupportedSchema(f"{where}.x-not-before: only a date column can follow other dates")
    same_row = [c for c in earlier if "." not in c and c not in columns]
    if same_row:
        raise UnsupportedSchema(f"{where}.x-not-before: {same_row} are not properties (DATASET.COLUMN names "
                                "a column of the dataset that enrols subjects)")
    if "x-version-of" in spec and not isinstance(spec["x-version-of"], str):
        raise UnsupportedSchema(f"{where}.x-version-of: expected a dictionary name")
    if "enum" in spec:
        _names(spec["enum"], f"{where}.enum")
    if "pattern" in spec:
        try:
            re.compile(spec["pattern"])
        except (re.error, TypeError) as error:
            raise UnsupportedSchema(f"{where}.pattern: not a regular expression ({error})") from None
    if "maxLength" in spec and (isinstance(spec["maxLength"], bool) or not isinstance(spec["maxLength"], int)):
        raise UnsupportedSchema(f"{where}.maxLength: expected a whole number")
    for bound in ("x-minimum", "x-maximum"):
        if bound in spec and (isinstance(spec[bound], bool) or not isinstance(spec[bound], (int, float))):
            raise UnsupportedSchema(f"{where}.{bound}: expected a number")


def form_schema_of(schema: Any, name: str, file: str, place: str) -> FormSchema:
    """A parsed JSON document as the checked row schema of dataset `name` (CSV `file`, schema file `place`)."""
    if not isinstance(schema, dict):
        raise UnsupportedSchema(f"{place}: expected a JSON Schema object of one row")
    unknown = set(schema) - _FORM_KEYWORDS
    if unknown:
        raise UnsupportedSchema(f"{place}: unsupported keywords {sorted(unknown)}; supported: {sorted(_FORM_KEYWORDS)}")
    properties = schema.get("properties")
    if schema.get("type") != "object" or schema.get("additionalProperties") is not False or not isinstance(
            properties, dict) or not properties:
        raise UnsupportedSchema(f"{place}: expected an object schema with properties and additionalProperties false")
    for column, spec in properties.items():
        _check_property(place, column, spec, set(properties))
    required = _names(schema.get("required", []), f"{place} required", empty=True)
    key = _names(schema.get("x-key", []), f"{place} x-key", empty=True)
    missing = (set(required) | set(key)) - set(properties)
    if missing:
        raise UnsupportedSchema(f"{place}: required or key columns are not properties: {sorted(missing)}")
    return FormSchema(name=name, file=file, place=place, schema=schema,
                      conditionals=parse_conditionals(schema, place), units=units_columns(schema, place))


def form_schema_text(text: str, name: str, file: str, place: str) -> FormSchema:
    """The checked row schema of a schema file's text; `UnsupportedSchema` when it is not JSON or not a row schema."""
    try:
        schema = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise UnsupportedSchema(f"{place}: not JSON ({error})") from None
    return form_schema_of(schema, name, file, place)


@lru_cache(maxsize=1)
def registry_schema() -> dict[str, Any]:
    """The JSON Schema of `registry.json` (the ClinicalTrials.gov API v2 study structure we read)."""
    path = resources.files("trialbridge.schemas").joinpath("native", "registry.schema.json")
    return json.loads(path.read_text(encoding="utf-8"))
