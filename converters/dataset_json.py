"""Written SDTM package (XPT v5 files + the define.xml plan) -> CDISC Dataset-JSON v1.1 files beside them.

Each `<name>.xpt` gets a `<name>.json` (one JSON object on one line, rows last, as CDISC's own examples are
written) and/or a `<name>.ndjson` (line 1 the metadata object, then one row array per line), as the
Dataset-JSON v1.1 specification defines them.

- **The values are the XPT's:** every file is made from the XPT file as read back (`read`, the same reader
  define.xml's facts use), so the two can never disagree. Character values are JSON strings ("" where the
  XPT value is blank: XPT cannot tell a null text from an empty one, and CDISC's own SDTM examples write
  ""); a missing number and a blank date/datetime/time are `null` ("" is no ISO 8601 value, and the
  specification represents a missing value by null).
- **The metadata is define.xml's:** the columns come from the same Define-XML plan (`define.plan_define` over
  the same specification and the same measured facts): itemOID = the ItemDef OID, label, keySequence,
  length of text; itemGroupOID, studyOID and metaDataVersionOID are define.xml's OIDs and `metaDataRef`
  points at `define.xml`.
- **Data types** (Define-XML DataType -> Dataset-JSON dataType): text -> string; integer -> integer (a
  JSON integer); float -> decimal with targetDataType decimal, the value a JSON string holding the
  shortest plain decimal that reads back as the stored double (`"0.1"`, never `1e-07`): the standard's
  way to carry decimals without rounding; date/partialDate -> date, datetime/partialDatetime -> datetime,
  time -> time (ISO 8601 strings, partial values as SDTM holds them); durations and intervals -> string.
- **Deterministic:** the creation timestamp is the package's `created`, never the clock; keys in the
  specification's order; rows in the XPT's order.
- **Vectorised:** a column is encoded once per distinct value (a few thousand at most), rows are joined
  column-wise with numpy string operations, in blocks of `BLOCK_ROWS` so a large LB never becomes one
  huge string.

`schemas.dataset_json_checks` then checks every file written against the official JSON Schema.
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import IO, Iterable, Mapping

import numpy as np
import pandas as pd

from trialbridge.converters.define.writer import (
    DEFINE_FILE, GroupPlan, Plan, StudyInfo, define_oids, plan_define, tool_version,
)
from trialbridge.converters.define.facts import DatasetFacts
from trialbridge.schemas.define_read import XptReader
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.sdtm_spec import StudySpec

DATASET_JSON_VERSION = "1.1.0"
FORMATS: tuple[str, ...] = ("json", "ndjson")
BLOCK_ROWS = 50_000
TEMPORAL = frozenset({"date", "datetime", "time"})
# Define-XML DataType -> Dataset-JSON dataType; anything else (durations, intervals) is a string.
DATA_TYPES: dict[str, str] = {
    "text": "string", "integer": "integer", "float": "decimal",
    "date": "date", "partialDate": "date", "datetime": "datetime", "partialDatetime": "datetime",
    "time": "time", "partialTime": "time",
}


# --------------------------------------------------------------------------------------- metadata
def column_metadata(group: GroupPlan, plan: Plan) -> list[dict[str, object]]:
    """The `columns` of one dataset, in define.xml's ItemRef order, from its ItemDefs."""
    columns: list[dict[str, object]] = []
    for ref in group.refs:
        item = plan.items[ref.item_oid]
        data_type = DATA_TYPES.get(item.data_type, "string")
        column: dict[str, object] = {"itemOID": item.oid, "name": item.name, "label": item.label,
                                     "dataType": data_type}
        if data_type == "decimal":
            column["targetDataType"] = "decimal"
        if data_type == "string" and item.length:
            column["length"] = int(item.length)
        if ref.key_sequence:
            column["keySequence"] = int(ref.key_sequence)
        columns.append(column)
    return columns


def dataset_metadata(group: GroupPlan, plan: Plan, created: datetime, study: StudyInfo,
                     records: int) -> dict[str, object]:
    """The top-level attributes of one dataset, in the order the specification recommends (rows excluded)."""
    study_oid, mdv_oid, file_oid = define_oids(study)
    metadata: dict[str, object] = {
        "datasetJSONCreationDateTime": created.replace(microsecond=0, tzinfo=None).isoformat(),
        "datasetJSONVersion": DATASET_JSON_VERSION,
        "fileOID": f"{file_oid}.{group.dataset.name}",
        "originator": study.originator,
        "sourceSystem": {"name": "trialbridge", "version": tool_version()},
        "studyOID": study_oid,
        "metaDataVersionOID": mdv_oid,
        "metaDataRef": DEFINE_FILE,
        "itemGroupOID": f"IG.{group.dataset.name}",
        "records": int(records),
        "name": group.dataset.name,
        "label": group.dataset.label,
        "columns": column_metadata(group, plan),
    }
    if not study.originator:
        del metadata["originator"]
    return metadata


# ------------------------------------------------------------------------------------------ values
def decimal_text(number: float) -> str:
    """The shortest plain decimal text that reads back as `number` (no exponent): 0.1, 150, 0.0000001."""
    return np.format_float_positional(number, unique=True, trim="-")


def _encode_distinct(values: pd.Series, encode) -> np.ndarray:
    """`encode` applied once per distinct value, spread back over the column (NaN -> JSON null)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    table = np.array([encode(u) for u in uniques] + ["null"], dtype=object)
    return table[codes]  # code -1 (missing) picks the trailing "null"


def encode_column(values: pd.Series, data_type: str) -> np.ndarray:
    """One column as JSON text per row, for its Dataset-JSON dataType."""
    if data_type == "integer":
        return _encode_distinct(values, lambda x: str(int(x)) if float(x).is_integer() else decimal_text(x))
    if data_type in ("decimal", "float", "double"):
        quote = data_type == "decimal"
        return _encode_distinct(values, lambda x: json.dumps(decimal_text(x)) if quote else decimal_text(x))
    if data_type in TEMPORAL:  # a blank date is a missing value, not an ISO 8601 text
        return _encode_distinct(values.where(values != "", None), lambda s: json.dumps(str(s), ensure_ascii=False))
    text = values.astype(object).where(values.notna(), "")
    return _encode_distinct(text, lambda s: json.dumps(str(s), ensure_ascii=False))


def encode_rows(table: pd.DataFrame, columns: list[dict[str, object]]) -> np.ndarray:
    """Each row of `table` as one JSON array text, columns in `columns` order."""
    if not len(table):
        return np.array([], dtype=object)
    joined = None
    for column in columns:
        encoded = encode_column(table[str(column["name"])], str(column["dataType"]))
        joined = encoded if joined is None else joined + "," + encoded
    return "[" + joined + "]"


# ----------------------------------------------------------------------------------------- writing
def _header_text(metadata: Mapping[str, object]) -> str:
    return json.dumps(metadata, ensure_ascii=False, separators=(",", ":"))


def write_dataset(table: pd.DataFrame, metadata: Mapping[str, object], targets: Mapping[str, IO[str]]) -> None:
    """Write one dataset to each open target (format -> text stream), rows encoded once per block."""
    header = _header_text(metadata)
    if "json" in targets:
        targets["json"].write(header[:-1] + ',"rows":[')
    if "ndjson" in targets:
        targets["ndjson"].write(header + "\n")
    columns = list(metadata["columns"])  # type: ignore[arg-type]
    for start in range(0, len(table), BLOCK_ROWS):
        rows = encode_rows(table.iloc[start:start + BLOCK_ROWS], columns)
        if "json" in targets:
            targets["json"].write(("," if start else "") + ",".join(rows))
        if "ndjson" in targets:
            targets["ndjson"].write("\n".join(rows) + "\n")
    if "json" in targets:
        targets["json"].write("]}")


def write_dataset_json(sdtm_dir: Path, spec: StudySpec, facts: Mapping[str, DatasetFacts], study: StudyInfo,
                       created: datetime, read: XptReader, formats: Iterable[str] = FORMATS) -> list[Finding]:
    """Write `<name>.json` / `<name>.ndjson` beside every XPT file define.xml describes; check each one.

    `facts` are define.xml's facts of the written files and `study` its study facts: the plan (and so
    every column's metadata) is the one define.xml was written from.
    """
    from trialbridge.schemas.dataset_json_checks import check_dataset_json

    formats = tuple(f for f in FORMATS if f in set(formats))
    plan = plan_define(spec, facts, study)
    written: list[str] = []
    findings: list[Finding] = []
    for group in plan.groups:
        table, _ = read(Path(sdtm_dir) / group.facts.xpt_file)
        metadata = dataset_metadata(group, plan, created, study, len(table))
        stem = Path(sdtm_dir) / Path(group.facts.xpt_file).stem
        paths = {fmt: stem.with_suffix(f".{fmt}") for fmt in formats}
        handles = {fmt: path.open("w", encoding="utf-8", newline="\n") for fmt, path in paths.items()}
        try:
            write_dataset(table, metadata, handles)
        finally:
            for handle in handles.values():
                handle.close()
        for path in paths.values():
            findings += check_dataset_json(path)
            written.append(path.name)
    if written:
        findings.append(finding("DSJ-WRITTEN", "sdtm", written, files=len(written), formats=", ".join(formats),
                                datasets=len(plan.groups)))
    return findings


def write_package_dataset_json(sdtm_dir: Path, spec: StudySpec, trial, created: datetime,
                               xpt_findings: Iterable[Finding], read: XptReader,
                               formats: Iterable[str] = FORMATS) -> list[Finding]:
    """Dataset-JSON for a package `write_sdtm_package` has just written (XPT files and define.xml)."""
    from trialbridge.converters.define.writer import package_facts

    facts, study = package_facts(sdtm_dir, spec, trial, xpt_findings, read)
    return write_dataset_json(sdtm_dir, spec, facts, study, created, read, formats)
