"""REDCap flat export (CSV) with its data dictionary in, a `RawRead` (converters/readers/raw.py) out.

The export is REDCap's "CSV (raw data)" layout: one row per record, event (`redcap_event_name`) and
repeat (`redcap_repeat_instrument`, `redcap_repeat_instance`), optional `redcap_data_access_group`
and `redcap_survey_identifier`, checkbox options as `field___code` columns, `<instrument>_complete`
status columns. The data dictionary is REDCap's CSV ("Variable / Field Name", "Form Name",
"Field Type", "Choices, Calculations, OR Slider Labels", ...; the API's snake_case header works too).

One raw dataset per instrument, named by the instrument, holding only the rows where that instrument
has data (a field filled, a checkbox ticked, or a status other than 0 "Incomplete"); the instrument
holding the record id also keeps the first row of every record that has no data in it, so that every
record appears there (as in REDCap's ODM export). Columns: the keys
SubjectKey (the record id), redcap_event_name, redcap_arm (from the `_arm_N` suffix),
redcap_repeat_instrument, redcap_repeat_instance, redcap_data_access_group (the same names as the ODM
reader's REDCap columns), then the instrument's columns in export order, each coded one followed by
`<column>_DECODE` (radio, dropdown, yesno, truefalse, `<instrument>_complete`; a checkbox option
column decodes to its option label when ticked), then `_file` and `_line` (the physical CSV line).

Nothing lost: per instrument, the non-empty cells read equal those handed on plus the unticked
checkboxes (0) and "Incomplete" statuses (0) that REDCap writes on rows where the instrument has no
data; columns the dictionary does not know go to a raw dataset `unassigned` with a warning.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from trialbridge.converters.readers.odm_meta import DECODE_SUFFIX, parse_checkbox_choices
from trialbridge.converters.readers.raw import SOURCE_FILE, SOURCE_LINE, RawRead
from trialbridge.mappings.edc_metadata import (
    CodeList, CodeListTerm, EdcMetadata, FormMeta, ItemGroupMeta, ItemMeta, RawColumn, RawDatasetMeta,
)
from trialbridge.schemas.findings import Finding, finding

KEYS = ("SubjectKey", "redcap_event_name", "redcap_arm", "redcap_repeat_instrument", "redcap_repeat_instance",
        "redcap_data_access_group")
SYSTEM_COLUMNS = ("redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance",
                  "redcap_data_access_group", "redcap_survey_identifier")
UNASSIGNED = "unassigned"
COMPLETE = (("0", "Incomplete"), ("1", "Unverified"), ("2", "Complete"))
FIXED_CHOICES = {"yesno": (("1", "Yes"), ("0", "No")), "truefalse": (("1", "True"), ("0", "False"))}
CODED_TYPES = ("radio", "dropdown", "checkbox", "yesno", "truefalse")
DICTIONARY_HEADERS = {  # REDCap's CSV header (lower case) or the API's field name -> field name used here
    "variable / field name": "field_name", "field_name": "field_name", "form name": "form_name",
    "form_name": "form_name", "field type": "field_type", "field_type": "field_type", "field label": "field_label",
    "field_label": "field_label", "choices, calculations, or slider labels": "choices",
    "select_choices_or_calculations": "choices", "text validation type or show slider number": "validation",
    "text_validation_type_or_show_slider_number": "validation", "field annotation": "annotation",
    "field_annotation": "annotation", "section header": "section", "section_header": "section",
}
DATA_TYPES = {"date_ymd": "date", "date_mdy": "date", "date_dmy": "date", "datetime_ymd": "datetime",
              "datetime_seconds_ymd": "datetime", "integer": "integer", "number": "float", "time": "time"}


def validation_type(validation: str) -> str:
    """The data type of a REDCap text validation by its family: int, float, number_2dp, number_comma_decimal,
    date_dmy, datetime_seconds_mdy, time_hh_mm_ss, ... ("" for others: email, phone, ...)."""
    v = validation.lower()
    for prefix, kind in (("datetime", "datetime"), ("date", "date"), ("time", "time"), ("int", "integer"),
                         ("float", "float"), ("number", "float")):
        if v.startswith(prefix):
            return kind
    return ""


@dataclass(frozen=True)
class Field:
    name: str
    form: str
    type: str
    label: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    validation: str = ""
    annotation: str = ""


class CsvError(Exception):
    def __init__(self, rule: str, location: str, **fields: object) -> None:
        super().__init__(location)
        self.found = finding(rule, location, [], **fields)


def _read_csv(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, rows and each row's physical start line (quoted fields may span lines). Raises CsvError."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise CsvError("REDCAP-CSV", path.name, reason=f"cannot be read: {error.strerror or error}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        raise CsvError("REDCAP-ENCODING", f"{path.name}:{line}", byte=f"0x{raw[error.start]:02x}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, lines, start = [], [], 1
    try:
        for row in reader:
            if row:
                rows.append(row)
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as error:
        raise CsvError("REDCAP-CSV", f"{path.name}:{reader.line_num}", reason=str(error)) from None
    if not rows:
        raise CsvError("REDCAP-CSV", f"{path.name}:1", reason="the file is empty")
    width = len(rows[0])
    for row, line in zip(rows[1:], lines[1:]):
        if len(row) != width:
            raise CsvError("REDCAP-CSV", f"{path.name}:{line}",
                           reason=f"{len(row)} fields where the header has {width}")
    return rows[0], rows[1:], lines[1:]


def choices_of(field_type: str, text: str) -> tuple[tuple[str, str], ...]:
    if field_type in FIXED_CHOICES:
        return FIXED_CHOICES[field_type]
    return parse_checkbox_choices(text) if field_type in ("radio", "dropdown", "checkbox") else ()


def read_dictionary(path: Path) -> list[Field]:
    """The fields of a REDCap data dictionary CSV, in order. Raises CsvError."""
    header, rows, lines = _read_csv(path)
    names = [DICTIONARY_HEADERS.get(h.strip().lower(), "") for h in header]
    missing = [n for n in ("field_name", "form_name", "field_type") if n not in names]
    if missing:
        raise CsvError("REDCAP-DICTIONARY", f"{path.name}:1", missing=", ".join(missing))
    fields = []
    for row, line in zip(rows, lines):
        cells = {name: value.strip() for name, value in zip(names, row) if name}
        if not cells["field_name"]:
            raise CsvError("REDCAP-DICTIONARY-ROW", f"{path.name}:{line}", reason="no field name")
        kind = cells["field_type"].lower()
        fields.append(Field(cells["field_name"], cells["form_name"], kind, cells.get("field_label", ""),
                            choices_of(kind, cells.get("choices", "")), cells.get("validation", ""),
                            cells.get("annotation", "")))
    if not fields:
        raise CsvError("REDCAP-DICTIONARY-ROW", f"{path.name}:2", reason="the dictionary has no fields")
    return fields


def option_column(field: str, code: str) -> str:
    """REDCap's export column of one checkbox option (code lower-cased, other characters as '_')."""
    return f"{field}___{re.sub(r'[^a-z0-9_]', '_', code.lower())}"


@dataclass(frozen=True)
class Column:
    form: str
    decodes: dict[str, str]
    flag: bool = False  # a checkbox option or a status: REDCap writes 0 there on rows without data
    allowed: tuple[str, ...] = ()  # values that are not codes but are expected (a checkbox's 0)


def _columns(fields: list[Field]) -> dict[str, Column]:
    """Export column -> its instrument and decodes, for every column the dictionary explains."""
    known: dict[str, Column] = {}
    for field in fields:
        if field.type == "descriptive":
            continue
        if field.type == "checkbox":
            for code, label in field.choices:
                known[option_column(field.name, code)] = Column(field.form, {"1": label}, True, ("0",))
        else:
            known[field.name] = Column(field.form, dict(field.choices) if field.type in CODED_TYPES else {})
    for form in dict.fromkeys(f.form for f in fields):
        known[f"{form}_complete"] = Column(form, dict(COMPLETE), True)
        known[f"{form}_timestamp"] = Column(form, {})
    return known


def find_dictionary(data: Path) -> Path | None:
    """The one other CSV beside a REDCap export whose header is a data dictionary's."""
    found = []
    for candidate in sorted(data.parent.glob("*.csv")):
        if candidate != data:
            try:
                head = candidate.open(encoding="utf-8-sig", errors="replace").readline().lower()
            except OSError:
                continue
            if head.startswith(('"variable / field name"', "variable / field name", "field_name")):
                found.append(candidate)
    return found[0] if len(found) == 1 else None


def read_redcap(data: str | Path, dictionary: str | Path | None = None) -> RawRead:
    """Read a REDCap flat export with its data dictionary (found beside it when not given)."""
    data = Path(data)
    dictionary = Path(dictionary) if dictionary else find_dictionary(data)
    if dictionary is None:
        return RawRead({}, [finding("REDCAP-DICTIONARY-MISSING", data.name, [], file=data.name)])
    try:
        fields = read_dictionary(dictionary)
        header, rows, lines = _read_csv(data)
    except CsvError as error:
        return RawRead({}, [error.found])
    return _datasets(data.name, fields, header, rows, lines)


def _datasets(file: str, fields: list[Field], header: list[str], rows: list[list[str]], lines: list[int]) -> RawRead:
    record = fields[0].name
    if record not in header:
        return RawRead({}, [finding("REDCAP-RECORD-ID", f"{file}:1", [record], field=record)])
    duplicated = [h for h in dict.fromkeys(header) if header.count(h) > 1]
    if duplicated:
        return RawRead({}, [finding("REDCAP-COLUMN-DUPLICATE", f"{file}:1", duplicated)])
    table = pd.DataFrame(rows, columns=header, dtype=object)
    keys = pd.DataFrame({"SubjectKey": table[record]})
    for column in KEYS[1:]:
        keys[column] = table[column] if column in table.columns else ""
    keys["redcap_arm"] = keys["redcap_event_name"].str.extract(r"_arm_(\d+)$", expand=False).fillna("")
    key_columns = list(KEYS) + (["redcap_survey_identifier"] if "redcap_survey_identifier" in table.columns else [])
    if "redcap_survey_identifier" in table.columns:
        keys["redcap_survey_identifier"] = table["redcap_survey_identifier"]
    findings: list[Finding] = []
    identity = [c for c in ("SubjectKey", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance")]
    twice = keys.duplicated(identity, keep=False)
    if twice.any():
        where = [str(lines[i]) for i in twice.to_numpy().nonzero()[0][:10]]
        findings.append(finding("REDCAP-KEY-DUPLICATE", f"{file}:{where[0]}", where, count=int(twice.sum())))
    known = _columns(fields)
    unknown = [c for c in header if c not in known and c != record and c not in SYSTEM_COLUMNS]
    if unknown:
        findings.append(finding("REDCAP-COLUMN-UNKNOWN", f"{file}:1", unknown, count=len(unknown)))
    forms = list(dict.fromkeys([f.form for f in fields] + ([UNASSIGNED] if unknown else [])))
    datasets: dict[str, pd.DataFrame] = {}
    values: dict[str, int] = {}
    for form in forms:
        columns = ([record] if fields[0].form == form else []) + [
            c for c in header if c not in (record, *SYSTEM_COLUMNS)
            and (known[c].form == form if c in known else form == UNASSIGNED)]
        if not columns:
            continue
        cells = table[columns]
        flags = [c for c in columns if c in known and known[c].flag]
        plain = [c for c in columns if c != record and c not in flags]
        has_data = cells[plain].ne("").any(axis=1) if plain else pd.Series(False, index=table.index)
        for column in flags:
            has_data |= ~cells[column].isin(["", "0"])
        if record in columns:  # every record appears in the record id's instrument (as in REDCap's ODM export)
            has_data |= ~keys["SubjectKey"].isin(keys.loc[has_data, "SubjectKey"]) & ~keys["SubjectKey"].duplicated()
        read = int(cells.drop(columns=[record] if record in columns else []).ne("").to_numpy().sum())
        kept = cells[has_data]
        out = keys[has_data][key_columns].copy()
        for column in columns:
            out[column] = kept[column]
            decodes = known[column].decodes if column in known else {}
            if decodes:
                out[column + DECODE_SUFFIX] = kept[column].map(decodes).fillna("")
                strange = (kept[column] != "") & ~kept[column].isin(list(decodes) + list(known[column].allowed))
                if strange.any():
                    findings.append(finding("REDCAP-CODE-UNKNOWN", f"{file}:{form}:{column}",
                                            sorted(kept.loc[strange, column].unique())[:20],
                                            count=int(strange.sum()), column=column, dataset=form))
        if out.empty:
            findings.append(finding("REDCAP-COUNTS", f"{file}:{form}", [], form=form, read=read, handed=0,
                                    placeholders=read))
            continue
        handed = int(out[[c for c in columns if c != record]].ne("").to_numpy().sum())
        findings.append(finding("REDCAP-COUNTS", f"{file}:{form}", [], form=form, read=read, handed=handed,
                                placeholders=read - handed))
        out[SOURCE_FILE] = file
        out[SOURCE_LINE] = [lines[i] for i in out.index]
        datasets[form] = out.reset_index(drop=True)
        values[form] = int(out.drop(columns=[SOURCE_FILE, SOURCE_LINE]).ne("").to_numpy().sum())
    return RawRead(datasets, findings, values)


# --------------------------------------------------------------------------------------------- metadata
def redcap_metadata(dictionary: str | Path) -> EdcMetadata:
    """A REDCap data dictionary as `EdcMetadata` (instruments, fields, choices). Raises CsvError."""
    dictionary = Path(dictionary)
    fields = read_dictionary(dictionary)
    items: dict[str, ItemMeta] = {}
    codelists: dict[str, CodeList] = {}
    per_form: dict[str, list[str]] = {}
    for field in fields:
        if field.type == "descriptive":
            continue
        if field.choices:
            codelists[f"{field.name}.choices"] = CodeList(f"{field.name}.choices", field.name, "text", tuple(
                CodeListTerm(code, label) for code, label in field.choices))
        data_type = DATA_TYPES.get(field.validation) or validation_type(field.validation) or \
            ("boolean" if field.type in ("yesno", "truefalse") else "text")
        names = [option_column(field.name, c) for c, _ in field.choices] if field.type == "checkbox" else [field.name]
        for name in names:
            items[name] = ItemMeta(name, name, "boolean" if field.type == "checkbox" else data_type,
                                   label=field.label, question=field.label,
                                   codelist=f"{field.name}.choices" if field.choices and field.type != "checkbox" else "",
                                   aliases=(("REDCap Field Annotation", field.annotation),) if field.annotation else (),
                                   field_type=field.type, choices=field.choices if field.type == "checkbox" else ())
            per_form.setdefault(field.form, []).append(name)
    codelists["redcap.complete"] = CodeList("redcap.complete", "complete", "text",
                                            tuple(CodeListTerm(c, d) for c, d in COMPLETE))
    for form in per_form:
        items[f"{form}_complete"] = ItemMeta(f"{form}_complete", f"{form}_complete", "integer",
                                             label="Complete?", codelist="redcap.complete", field_type="dropdown")
        per_form[form].append(f"{form}_complete")
    datasets = {form: RawDatasetMeta(form, form, form, False, "", KEYS, tuple(
        RawColumn(name, name, name + DECODE_SUFFIX if items[name].codelist or items[name].choices else "")
        for name in names)) for form, names in per_form.items()}
    return EdcMetadata(
        source=dictionary.name, system="REDCap",
        forms={f: FormMeta(f, f, False, (f,), f) for f in per_form},
        item_groups={f: ItemGroupMeta(f, f, False, "", f, tuple(n)) for f, n in per_form.items()},
        items=items, codelists=codelists, datasets=datasets)
