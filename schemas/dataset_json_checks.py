"""Dataset-JSON v1.1 checks: a `.json` or `.ndjson` file -> findings.

1. The metadata against the official JSON Schema (`dataset-json-1.1/dataset.schema.json`, copied
   unmodified, draft 2019-09), offline. The document is validated with its rows set aside (`"rows": []`):
   the schema types a row only as "an array", which the row checks below already establish. For NDJSON,
   line 1 is validated the same way against the same schema, because the official NDJSON schema is broken
   upstream (dangling `$ref`s, see `dataset-json-1.1/README.md`).
2. The rows against the metadata, column by column (vectorised, never per row in Python): as many rows as
   `records`, each an array with one value per column, each value of the JSON type its column's dataType
   requires (string for string/date/datetime/time/URI and for decimal, whose text must be a plain
   decimal number; integer for integer; number for float/double; boolean for boolean; null for a missing
   value), and ISO 8601 text in date/datetime/time columns.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from trialbridge.schemas.findings import Finding, finding

SCHEMA_DIR = Path(__file__).resolve().parent / "dataset-json-1.1"
SCHEMA_FILE = SCHEMA_DIR / "dataset.schema.json"
NDJSON_SCHEMA_FILE = SCHEMA_DIR / "dataset-ndjson-schema.json"
SHOWN = 5
DECIMAL_TEXT = r"-?(\d+(\.\d*)?|\.\d+)"
ISO_TEXT = {
    "date": r"\d{4}(-\d{2}(-\d{2})?)?",
    "datetime": r"\d{4}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?)?)?([+-]\d{2}:\d{2}|Z)?",
    "time": r"\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?",
}
# pandas.api.types.infer_dtype (missing values skipped) -> the JSON types a column holds
JSON_KINDS = {"string": "string", "empty": "empty", "integer": "integer", "floating": "number",
              "mixed-integer-float": "number", "boolean": "boolean"}
ALLOWED_KINDS = {
    "string": {"string"}, "date": {"string"}, "datetime": {"string"}, "time": {"string"}, "URI": {"string"},
    "decimal": {"string"}, "integer": {"integer"}, "float": {"number", "integer"},
    "double": {"number", "integer"}, "boolean": {"boolean"},
}


@lru_cache(maxsize=1)
def dataset_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft201909Validator

    Draft201909Validator.check_schema(dataset_schema())
    return Draft201909Validator(dataset_schema())


def read_dataset_json(path: Path) -> tuple[dict[str, Any], list[Any]]:
    """(metadata without rows, rows) of a `.json` or `.ndjson` Dataset-JSON file; ValueError when unreadable."""
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix.lower() == ".ndjson":
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines:
            raise ValueError("the file is empty")
        metadata = json.loads(lines[0])
        rows = [json.loads(line) for line in lines[1:]]
    else:
        metadata = json.loads(text)
        rows = metadata.pop("rows", []) if isinstance(metadata, dict) else []
    if not isinstance(metadata, dict):
        raise ValueError("the metadata is not a JSON object")
    return metadata, rows


def schema_findings(name: str, metadata: dict[str, Any]) -> list[Finding]:
    """The metadata (with `"rows": []`) against dataset.schema.json: one finding per schema error."""
    errors = sorted(_validator().iter_errors({**metadata, "rows": []}), key=lambda e: list(e.absolute_path))
    return [finding("DSJ-SCHEMA", f"{name}:/{'/'.join(str(p) for p in e.absolute_path)}", [e.message],
                    file=name, path="/" + "/".join(str(p) for p in e.absolute_path), error=e.message)
            for e in errors]


def _shown(index: pd.Index) -> list[str]:
    return [str(int(i) + 1) for i in index[:SHOWN]]


def row_findings(name: str, metadata: dict[str, Any], rows: list[Any]) -> list[Finding]:
    """Rows against the metadata: count, width, and each column's JSON types and text shapes."""
    columns = [c for c in metadata.get("columns", []) if isinstance(c, dict)]
    findings: list[Finding] = []
    if metadata.get("records") != len(rows):
        findings.append(finding("DSJ-RECORDS", f"{name}:/records", [metadata.get("records"), len(rows)],
                                file=name, records=metadata.get("records"), rows=len(rows)))
    widths = pd.Series([len(r) if isinstance(r, list) else -1 for r in rows], dtype="int64")
    bad = widths.index[widths != len(columns)]
    if len(bad):
        findings.append(finding("DSJ-ROW-WIDTH", f"{name}:row {int(bad[0]) + 1}", _shown(bad), file=name,
                                count=len(bad), columns=len(columns), rows=", ".join(_shown(bad))))
        return findings
    if not rows or not columns:
        return findings
    frame = pd.DataFrame(rows, dtype=object)
    for position, column in enumerate(columns):
        values = frame[position]
        present = values[values.notna()]
        data_type = str(column.get("dataType", ""))
        kind = JSON_KINDS.get(pd.api.types.infer_dtype(present, skipna=True), "mixed")
        allowed = ALLOWED_KINDS.get(data_type, set())
        where = f"{name}:{column.get('name', position)}"
        if kind != "empty" and kind not in allowed:
            findings.append(finding("DSJ-VALUE-TYPE", where, [data_type, kind], file=name,
                                    column=column.get("name", position), data_type=data_type, kind=kind))
            continue
        pattern = DECIMAL_TEXT if data_type == "decimal" else ISO_TEXT.get(data_type)
        if pattern and kind == "string":
            text = present.astype(str)
            if data_type != "decimal":  # a blank date as "": CDISC's own Dataset-JSON 1.1 examples write it so
                text = text[text != ""]
            wrong = text.index[~text.str.fullmatch(pattern)]  # "" is no decimal: null is
            if len(wrong):
                findings.append(finding("DSJ-VALUE-TEXT", where, list(text[wrong].unique()[:SHOWN]), file=name,
                                        column=column.get("name", position), data_type=data_type, count=len(wrong),
                                        rows=", ".join(_shown(wrong))))
    return findings


def check_dataset_json(path: Path) -> list[Finding]:
    """Every check of one Dataset-JSON file (`.json` or `.ndjson`)."""
    name = Path(path).name
    try:
        metadata, rows = read_dataset_json(Path(path))
    except (OSError, ValueError) as error:  # json.JSONDecodeError is a ValueError
        return [finding("DSJ-UNREADABLE", name, [name], file=name, error=str(error))]
    return schema_findings(name, metadata) + row_findings(name, metadata, rows)


def check_dataset_json_files(folder: Path) -> list[Finding]:
    """Every `*.json` / `*.ndjson` Dataset-JSON file of a package folder (other JSON files are skipped)."""
    findings: list[Finding] = []
    for path in sorted([*Path(folder).glob("*.json"), *Path(folder).glob("*.ndjson")]):
        if path.name == "findings.json":
            continue
        findings += check_dataset_json(path)
    return findings
