"""The native record format page (docs/native-format.md): a spec's row schemas -> Markdown.

The schemas are the single source of truth; this page is their human-readable view (with the forms of
the REVALLO example), and a test keeps the committed page equal to what this module renders. Run
`python -m trialbridge.converters.formdoc examples/revallo/spec > docs/native-format.md` after changing a schema.
"""
from __future__ import annotations

from typing import Any

import sys
from pathlib import Path

from trialbridge.converters.readers.spec_files import read_spec
from trialbridge.schemas.native import FormSchema

INTRO = """# The native trial record format

A native record folder is what trialbridge reads: the trial's registry record, its EDC export (one CSV
per form) and its study mapping specification. The spec's `sources` table names each form (format
`native`), its file and the JSON Schema of its rows (see [study-spec.md](study-spec.md), `sources`):

```
my-trial/
  registry.json          the ClinicalTrials.gov API v2 study record (as downloaded, unchanged)
  <form>.csv             one CSV per CRF form, as the EDC exports it
  spec/
    sources.csv          dataset, file, format=native, subject, schema, site, enrols
    forms/<form>.schema.json   the JSON Schema of one row of each form
    ...                  the other spec tables
```

## registry.json
The study record exactly as the ClinicalTrials.gov API v2 returns it
(`https://clinicaltrials.gov/api/v2/studies/NCT01421927`): `protocolSection` with its modules and, when
known, `derivedSection`. It is checked against `schemas/native/registry.schema.json`, which uses the API's
own field names and enumerations; fields the schema does not model are accepted and kept.

## The CSV files
- UTF-8 (a byte-order mark is accepted), comma-separated, one header row, then one row per record.
- Every file has exactly the columns its schema lists, in that order; an unknown or missing column is an error.
- An empty cell means "not collected". Codes are case-sensitive.
- Dates are `YYYY-MM-DD`. Where the form allows a partial date (kind *partial-date*), `YYYY-MM`, `YYYY`,
  `UNK-MM-YYYY` (day unknown) and `UNK-UNK-YYYY` (day and month unknown) are accepted as well. Every date
  must be a real calendar date (`2012-02-30` is rejected).
- The dataset that enrols subjects (`enrols` in the sources table) is the subject register: every other
  row names an enrolled subject, at the site it was enrolled at; a date marked `x-not-before` does not
  precede the dates it names (warnings).
- Every problem is reported at once with its location `file:line:column` (the header is line 1) and the
  command exits with status 2 without writing anything.

The forms below are those of the REVALLO example (`examples/revallo/spec/`), rendered from its schemas.
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


def form_markdown(form: FormSchema) -> str:
    schema = form.schema
    required = set(form.required)
    out = [f"### {form.file}: {schema.get('title', form.name)}", "", schema.get("description", ""), "",
           f"Unique key: {', '.join(form.key) or 'none'}.", "",
           "| column | kind | required | allowed values | meaning |", "|---|---|---|---|---|"]
    for name, prop in schema["properties"].items():
        desc = prop.get("description", "").replace("|", "\\|")
        out.append(f"| {name} | {prop.get('x-kind', 'text')} | {'yes' if name in required else 'no'} | "
                   f"{_allowed(prop).replace('|', chr(92) + '|')} | {desc} |")
    rules = _conditions(schema)
    if rules:
        out += ["", "Conditional rules:", *rules]
    order = [f"- {later} is not before {earlier}." for earlier, later in form.not_before(qualified=False)]
    order += [f"- {later} is not before the subject's {earlier}." for earlier, later in form.not_before(qualified=True)]
    if order:
        out += ["", "Date order (complete dates; warnings):", *order]
    if form.units is not None:
        out += ["", "Unit of each test code (any other unit is rejected):", "",
                f"| {form.units[0]} | unit |", "|---|---|"]
        out += [f"| {code} | {', '.join(units)} |" for code, units in schema["x-units-by-code"].items()]
    return "\n".join(out) + "\n"


def native_format_markdown(spec: Path) -> str:
    """The page, with the native forms of the spec at `spec` (a folder or workbook)."""
    mapping, findings = read_spec(spec)
    if mapping is None:
        raise ValueError(f"{spec}: " + "; ".join(f.message for f in findings))
    forms = [s.form for s in mapping.sources if s.format == "native" and s.form is not None]
    return INTRO + "\n" + "\n".join(form_markdown(form) for form in forms)


if __name__ == "__main__":  # pragma: no cover
    print(native_format_markdown(Path(sys.argv[1])), end="")
