"""A native record folder + its spec -> checked `Trial` + findings: the registry record and the CSV datasets.

The spec's sources table names the datasets (format `native`: RFC 4180 CSV in UTF-8, comma-separated)
and, for each, the JSON Schema of its rows (`schema`); `read_native` reads every one of them, checks it
against its schema (`schemas.native_checks`: header, cells, conditional requirements, keys, units, dates),
checks the datasets against each other (subjects enrolled, at their site, dates after enrolment: the
`enrols` dataset of the sources table), and reads the registry record the spec names. Tables of other
formats that have a schema (read by `readers.tabular`) get the same checks when given.

`read_native` never raises on bad input: a missing or empty file, bytes that are not UTF-8, a CSV line
with the wrong number of fields, an unknown column, a bad cell, JSON that does not parse, each becomes a
finding with its place (`file:line:column` for a cell, `file:line` for a row, `file` for a file, the JSON
path in the registry record), and every problem of every file is reported in the same run. The `Trial`
comes back only when no error was found.

CSV files are read as RFC 4180 text with pandas' C parser, every cell a string kept verbatim ("" when
empty; `NA` stays `NA`); where each record is comes from `csv_records`. A dataset without a schema keeps
the columns of its header line.
"""
from __future__ import annotations

import io
import json
import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import pandas as pd

from trialbridge.converters.csv_records import (
    BOM, bad_utf8, decode_utf8, encoding_findings, field_count_findings, parse_error, scan_records,
)
from trialbridge.mappings.spec.model import Source, StudyMapping
from trialbridge.mappings.trial import SOURCE_FILE, SOURCE_LINE, Trial
from trialbridge.schemas.findings import Finding, finding, has_errors
from trialbridge.schemas.native import FormSchema
from trialbridge.schemas.native_checks import (
    SubjectColumns, check_cross_forms, check_form, check_header, check_registry,
)

_DATA_SUFFIXES = frozenset({".csv", ".json"})  # files that look like records (a README is not warned about)


def _read_bytes(path: Path, expected: str, files: str) -> tuple[bytes | None, list[Finding]]:
    """The file's bytes, or a finding saying why there are none (missing, a folder, unreadable, empty)."""
    where = dict(folder=str(path.parent), files=files)
    if not path.exists():
        return None, [finding("NATIVE-FILE-MISSING", path.name, (path.name,), file=path.name, problem="is missing",
                              **where)]
    if not path.is_file():
        return None, [finding("NATIVE-FILE-MISSING", path.name, (path.name,), file=path.name,
                              problem="is not a regular file", **where)]
    try:
        data = path.read_bytes()
    except OSError as error:
        return None, [finding("NATIVE-FILE-MISSING", path.name, (path.name,), file=path.name,
                              problem=f"cannot be read ({error.strerror})", **where)]
    blank = data.removeprefix(BOM).strip(b" \t\r\n")
    if not blank:
        detail = "0 bytes" if not data else "no header line, only blank space"
        return None, [finding("NATIVE-FILE-EMPTY", path.name, (), file=path.name, detail=detail, expected=expected)]
    return data, []


# --- one CSV dataset ----------------------------------------------------------------------------------

def read_form(path: Path, form: FormSchema | None, files: str = "") -> tuple[pd.DataFrame | None, list[Finding]]:
    """One CSV dataset -> table of its schema columns (strings) + `_file`, `_line`, and the file's findings.

    The table holds the well-formed records only (a record with the wrong field count is an error of
    its own); None when the file cannot be read at all. Without a schema, the header line's columns
    (the first of duplicated names). `files` lists the files the folder should hold (for messages).
    """
    file = path.name
    columns = form.columns if form is not None else []
    expected = f"a header line with the columns {', '.join(columns)}" if columns else "a header line"
    data, findings = _read_bytes(path, expected=expected, files=files)
    if data is None:
        return None, findings
    bad = bad_utf8(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lines with too many fields: reported from the scan below
            raw = pd.read_csv(io.BytesIO(data), header=None, dtype=str, keep_default_na=False, na_filter=False,
                              on_bad_lines="warn", encoding="utf-8-sig", encoding_errors="replace", engine="c")
    except pd.errors.EmptyDataError:
        return None, [finding("NATIVE-FILE-EMPTY", file, (), file=file, detail="no header line", expected=expected)]
    except (pd.errors.ParserError, ValueError) as error:
        return None, [parse_error(error, data, file)]
    header = [str(name) for name in raw.iloc[0]]
    records = scan_records(data)
    findings += encoding_findings(data, bad, records, header, file)
    if form is not None:
        findings += check_header(form, header)
    else:
        columns = list(dict.fromkeys(header))
    if records is None:
        findings.append(finding("NATIVE-CSV-PARSE", file, (), place=file, found="the records cannot be told apart",
                                expected="RFC 4180 CSV"))
        return None, findings
    findings += [finding("NATIVE-BLANK-LINE", f"{file}:{line}", (), file=file, line=line)
                 for line in records.lines[records.blank]]
    lines, fields = records.lines[~records.blank][1:], records.fields[~records.blank][1:]
    width = len(header)
    parsed = fields <= width  # the C parser drops longer records; shorter ones it pads with "" (dropped below)
    if int(parsed.sum()) != len(raw) - 1:
        findings.append(finding("NATIVE-CSV-PARSE", file, (), place=file,
                                found=f"{len(raw) - 1} rows read but {int(parsed.sum())} records found",
                                expected="RFC 4180 CSV with regular quoting"))
        return None, findings
    findings += field_count_findings(file, lines, fields, width)
    body = raw.iloc[1:].set_axis(range(len(raw) - 1))
    keep = (fields[parsed] == width)
    positions = {name: i for i, name in reversed(list(enumerate(header)))}  # first of duplicated names
    cells = {c: pd.array(body[positions[c]].to_numpy()[keep], dtype="str") for c in columns if c in positions}
    table = pd.DataFrame(cells, index=pd.RangeIndex(int(keep.sum())))
    table[SOURCE_FILE] = file
    table[SOURCE_LINE] = lines[parsed][keep]
    return table, findings



# --- the registry record ------------------------------------------------------------------------------

def read_registry(path: Path, files: str = "") -> tuple[dict[str, Any] | None, list[Finding]]:
    """registry.json -> the record (a dict) and its findings: encoding, JSON syntax, registry schema."""
    file = path.name
    data, findings = _read_bytes(path, expected="a JSON object (ClinicalTrials.gov API v2 study record)",
                                 files=files or file)
    if data is None:
        return None, findings
    text, bad = decode_utf8(data)
    findings += encoding_findings(data, bad, None, [], file)
    try:
        record = json.loads(text, object_pairs_hook=_keep_duplicates, parse_constant=_NotANumber, parse_int=_integer)
    except json.JSONDecodeError as error:
        near = json.dumps(text[error.pos: error.pos + 20], ensure_ascii=False)[1:-1]  # escaped line breaks
        findings.append(finding("NATIVE-JSON", f"{file}:{error.lineno}:{error.colno}", (near,), file=file,
                                detail=error.msg, line=error.lineno, column=error.colno, near=near))
        return None, findings
    except RecursionError:
        findings.append(finding("NATIVE-JSON", f"{file}:1:1", (), file=file, detail="nesting too deep to read",
                                line=1, column=1, near=text[:20]))
        return None, findings
    ambiguous = _ambiguous_json(record, file)
    if ambiguous:
        return None, findings + ambiguous
    findings += check_registry(record, file)
    return (record if isinstance(record, dict) else None), findings


_DUPLICATED = "\x00duplicated keys"  # a key no registry record has (it starts with NUL)


def _keep_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    counts = Counter(key for key, _ in pairs)
    return {**dict(pairs), **({_DUPLICATED: sorted(k for k, n in counts.items() if n > 1)}
                              if len(counts) < len(pairs) else {})}


def _json_problems(value: Any, path: str) -> Iterator[tuple[str, str, str]]:
    """(JSON path, offending text, what is wrong) for each duplicated key and each lone surrogate escape."""
    if isinstance(value, dict):
        for key in value.get(_DUPLICATED, ()):
            yield path, key, f"the key '{key}' appears more than once in one object (which one counts is undefined)"
        for key, item in value.items():
            if key != _DUPLICATED:
                yield from _json_problems(key, f"{path} (key)")
                yield from _json_problems(item, f"{path}.{_escaped(key)}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_problems(item, f"{path}[{index}]")
    elif isinstance(value, _NotANumber):
        yield path, value.name, f"{value.name} is no JSON number (JSON has no NaN or Infinity)"
    elif isinstance(value, _TooLong):
        yield path, value.digits[:20] + "...", (f"a number of {len(value.digits):,} digits is more than can be read "
                                                f"(at most {MAX_INT_DIGITS:,})")
    elif isinstance(value, str) and _SURROGATE.search(value):
        yield path, _escaped(value)[:40], "a \\uD800-\\uDFFF escape without its pair is no Unicode character"


_SURROGATE = re.compile("[\ud800-\udfff]")


MAX_INT_DIGITS = 4300  # Python's own bound on converting digits to an int (sys.get_int_max_str_digits())


class _TooLong:
    """An integer too long to convert (a denial of service guard in Python; no registry field is so long)."""

    def __init__(self, digits: str):
        self.digits = digits


def _integer(digits: str) -> int | _TooLong:
    return int(digits) if len(digits.lstrip("-")) <= MAX_INT_DIGITS else _TooLong(digits)


class _NotANumber:
    """What the lenient Python parser reads for NaN, Infinity, -Infinity (not JSON: RFC 8259 section 6)."""

    def __init__(self, name: str):
        self.name = name


def _escaped(text: str) -> str:
    """`text` with each lone surrogate written as its escape (\\udXXX), so that it can be printed."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _ambiguous_json(record: Any, file: str) -> list[Finding]:
    """What Python's parser accepts but JSON leaves undefined or forbids (RFC 8259 sections 4, 6, 8.2): duplicated
    keys, NaN/Infinity, lone surrogate escapes; and integers too long to read; each an error naming its JSON path.
    `record` is parsed with the markers of this module (`_keep_duplicates`, `_NotANumber`, `_integer`): without
    any finding it is the record `json.loads` gives."""
    return [finding("NATIVE-JSON-AMBIGUOUS", f"{file}:{path}", (shown,), file=file, path=path, detail=detail)
            for path, shown, detail in _json_problems(record, "$")]


# --- the folder ---------------------------------------------------------------------------------------

def _expected(mapping: StudyMapping) -> list[str]:
    """The files a native record folder holds: the registry record, then every native dataset's CSV."""
    native = [Path(s.file).name for s in mapping.sources if s.format == "native"]
    return [Path(mapping.registry).name, *native] if mapping.registry else native


def _folder_findings(folder: Path, mapping: StudyMapping) -> list[Finding]:
    """An unknown record file beside the declared ones (a warning: it is not read)."""
    files = ", ".join(_expected(mapping))
    expected = {Path(s.file).name for s in mapping.sources} | {Path(mapping.registry).name}
    return [
        finding("NATIVE-FILE-UNKNOWN", entry.name, (entry.name,), file=entry.name, files=files)
        for entry in sorted(folder.iterdir())
        if entry.is_file() and entry.name not in expected and entry.suffix.lower() in _DATA_SUFFIXES
    ]


def _reading_order(findings: list[Finding], forms: Sequence[FormSchema], registry: str) -> list[Finding]:
    """Findings in the order a person reads the folder: file by file, line by line, column by column."""
    files = {name: i for i, name in enumerate([*(f.file for f in forms), registry])}
    columns = {f.file: {c: i for i, c in enumerate(f.columns)} for f in forms}

    def key(f: Finding) -> tuple[int, int, int, str, str]:
        file, _, rest = f.location.partition(":")
        line, _, column = rest.partition(":")
        if not line.isdigit():
            return files.get(file, -1), 0, 0, rest, f.rule
        return files.get(file, -1), int(line), columns.get(file, {}).get(column, -1), column, f.rule

    return sorted(findings, key=key)


def _subjects(source: Source) -> SubjectColumns:
    return SubjectColumns(name=source.name, file=Path(source.file).name, subject=source.subject, site=source.site,
                          enrols=source.enrols, form=source.form)


def _own_mapping(folder: Path) -> tuple[StudyMapping | None, list[Finding]]:
    """The spec inside a native record folder (`spec/` or `spec.xlsx`), for a folder read on its own."""
    from trialbridge.converters.readers.spec_files import find_spec, read_spec

    location = find_spec(folder)
    if location is None:
        return None, [finding("SPEC-NOT-FOUND", str(folder), [str(folder)], folder=str(folder))]
    return read_spec(location)


def read_native(folder: Path, mapping: StudyMapping | None = None,
                others: Mapping[str, pd.DataFrame] | None = None) -> tuple[Trial | None, list[Finding]]:
    """Read and check a native record folder as its spec declares it: the `Trial` when no error was found.

    `mapping` is the study's spec (default: the one inside the folder); `others` are the datasets of the
    other formats already read (`readers.tabular`): those with a schema are checked as well, and all take
    part in the checks across datasets. The Trial holds the native datasets only.
    """
    folder = Path(folder)
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "does not exist"
        files = ", ".join(_expected(mapping)) if mapping else "the files its spec names"
        return None, [finding("NATIVE-FOLDER", str(folder), (str(folder),), path=str(folder), problem=problem,
                              files=files)]
    findings: list[Finding] = []
    if mapping is None:
        mapping, findings = _own_mapping(folder)
        if mapping is None:
            return None, findings
    native = [s for s in mapping.sources if s.format == "native"]
    files = ", ".join(_expected(mapping))
    if native:
        findings += _folder_findings(folder, mapping)
    tables: dict[str, pd.DataFrame | None] = dict(others or {})
    for source in mapping.sources:
        if source.format == "native":
            table, problems = read_form(folder / source.file, source.form, files)
            findings += problems
            tables[source.name] = table
        elif source.form is not None and tables.get(source.name) is not None:
            read = tables[source.name]
            findings += check_header(source.form, [c for c in read.columns if c not in (SOURCE_FILE, SOURCE_LINE)])
        if source.form is not None and tables.get(source.name) is not None:
            findings += check_form(source.form, tables[source.name])
    findings += check_cross_forms(tables, [_subjects(s) for s in mapping.sources])
    findings = _reading_order(findings, [s.form for s in mapping.sources if s.form is not None],
                              Path(mapping.registry).name)
    registry: dict[str, Any] | None = {}
    if mapping.registry:
        registry, problems = read_registry(folder / mapping.registry, files)
        findings += problems
    if has_errors(findings) or registry is None or any(tables.get(s.name) is None for s in native):
        return None, findings
    forms = {s.name: _kept(tables[s.name], s.form) for s in native}
    return Trial(source=folder, registry=registry, forms=forms, mapping=mapping), findings


def _kept(table: pd.DataFrame | None, form: FormSchema | None) -> pd.DataFrame:
    assert table is not None
    return table[[*form.columns, SOURCE_FILE, SOURCE_LINE]] if form is not None else table
