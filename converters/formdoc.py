"""The native record format page (docs/native-format.md), rendered from the JSON Schemas in schemas/native.

The schemas are the single source of truth; this page is their human-readable view, and a test keeps
the committed page equal to what this module renders. Run `python -m trialbridge.converters.formdoc >
docs/native-format.md` after changing a schema.
"""
from __future__ import annotations

from typing import Any

from trialbridge.schemas.native import FORM_NAMES, form_schema

INTRO = """# The native trial record format

A native record folder is what trialbridge reads: the trial's registry record and its EDC export.

```
my-trial/
  registry.json          the ClinicalTrials.gov API v2 study record (as downloaded, unchanged)
  enrolment.csv          one CSV per CRF form, as the EDC exports it
  dosing.csv
  adverse_events.csv
  response.csv
  laboratory.csv
  end_of_study.csv
```

## registry.json
The study record exactly as the ClinicalTrials.gov API v2 returns it
(`https://clinicaltrials.gov/api/v2/studies/NCT01421927`): `protocolSection` with its modules and, when
known, `derivedSection`. It is checked against `schemas/native/registry.schema.json`, which uses the API's
own field names and enumerations; fields the schema does not model are accepted and kept.

## The CSV files
- UTF-8 (a byte-order mark is accepted), comma-separated, one header row, then one row per record.
- Every file has exactly the columns listed below, in any order; an unknown or missing column is an error.
- An empty cell means "not collected". Codes are case-sensitive.
- Dates are `YYYY-MM-DD`. Where the form allows a partial date (kind *partial-date*), `YYYY-MM`, `YYYY`,
  `UNK-MM-YYYY` (day unknown) and `UNK-UNK-YYYY` (day and month unknown) are accepted as well. Every date
  must be a real calendar date (`2012-02-30` is rejected).
- Every problem is reported at once with its location `file:line:column` (the header is line 1) and the
  command exits with status 2 without writing anything.

Each form is described by a JSON Schema of one row (`schemas/native/<form>.schema.json`): the tables
below are rendered from those schemas.
"""


def _allowed(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return ", ".join(f"`{v}`" for v in prop["enum"])
    parts = []
    kind = prop.get("x-kind", "text")
    if kind in ("date", "partial-date"):
        parts.append("date" if kind == "date" else "date, partial allowed")
    elif "pattern" in prop:
        parts.append(f"pattern `{prop['pattern']}`")
    if "x-minimum" in prop or "x-maximum" in prop:
        parts.append(f"{prop.get('x-minimum', '')}..{prop.get('x-maximum', '')}")
    if "maxLength" in prop:
        parts.append(f"at most {prop['maxLength']} characters")
    return "; ".join(parts)


def _conditions(schema: dict[str, Any]) -> list[str]:
    """Plain-language lines for the schema's allOf rules."""
    lines = []
    for rule in schema.get("allOf", []):
        if "anyOf" in rule:
            cols = [c for alt in rule["anyOf"] for c in alt["required"]]
            lines.append(f"- At least one of {', '.join(cols)} is filled.")
            continue
        cond = rule["if"]
        if "not" in cond:
            when = f"{cond['not']['required'][0]} is empty"
        elif "properties" in cond:
            (col, spec), = cond["properties"].items()
            when = f"{col} is `{spec['const']}`"
        else:
            when = f"{cond['required'][0]} is filled"
        then = rule["then"]
        if "anyOf" in then:
            need = "at least one of " + ", ".join(c for alt in then["anyOf"] for c in alt["required"]) + " is filled"
        else:
            need = ", ".join(then["required"]) + (" is" if len(then["required"]) == 1 else " are") + " required"
        lines.append(f"- When {when}, {need}.")
    return lines


def form_markdown(form: str) -> str:
    schema = form_schema(form)
    required = set(schema["required"])
    out = [f"### {schema['x-file']}: {schema['title']}", "", schema["description"], "",
           f"Unique key: {', '.join(schema['x-key'])}.", "",
           "| column | kind | required | allowed values | meaning |", "|---|---|---|---|---|"]
    for name, prop in schema["properties"].items():
        desc = prop.get("description", "").replace("|", "\\|")
        out.append(f"| {name} | {prop.get('x-kind', 'text')} | {'yes' if name in required else 'no'} | "
                   f"{_allowed(prop).replace('|', chr(92) + '|')} | {desc} |")
    rules = _conditions(schema)
    if rules:
        out += ["", "Conditional rules:", *rules]
    if "x-units-by-code" in schema:
        out += ["", "Unit of each test code (any other unit is rejected):", "",
                "| LBCODE | unit |", "|---|---|"]
        out += [f"| {code} | {', '.join(units)} |" for code, units in schema["x-units-by-code"].items()]
    return "\n".join(out) + "\n"


def native_format_markdown() -> str:
    return INTRO + "\n" + "\n".join(form_markdown(form) for form in FORM_NAMES)


if __name__ == "__main__":  # pragma: no cover
    print(native_format_markdown(), end="")
