"""Native record folder -> checked `Trial` + findings: reads registry.json and the six CRF form CSVs.

`read_native` never raises on bad input: a missing or empty file, bytes that are not UTF-8, a CSV line
with the wrong number of fields, an unknown column, a bad cell, JSON that does not parse, each becomes a
finding with its place (`file:line:column` for a cell, `file:line` for a row, `file` for a file, the JSON
path in registry.json), and every problem of every file is reported in the same run. The `Trial` comes
back only when no error was found.

CSV files are read as RFC 4180 text with pandas' C parser, every cell a string kept verbatim ("" when
empty; `NA` stays `NA`). The physical line of each row and the field count of each record come from one
vectorised scan of the bytes (newlines and commas outside double quotes), so a quoted value spanning two
lines does not shift the line numbers and a short row is not silently padded. Files whose quoting the
scan cannot follow (a quote inside an unquoted value) are scanned with the `csv` module instead.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import warnings
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trialbridge.mappings.trial import SOURCE_FILE, SOURCE_LINE, Trial
from trialbridge.schemas.findings import Finding, finding, has_errors
from trialbridge.schemas.native import FORM_NAMES, REGISTRY_FILE, form_columns, form_file
from trialbridge.schemas.native_checks import check_cross_forms, check_form, check_header, check_registry

BOM = codecs.BOM_UTF8
_NEWLINE, _CR, _QUOTE, _COMMA = 0x0A, 0x0D, 0x22, 0x2C
_QUOTE_EDGE = np.array([_COMMA, _NEWLINE, _CR, _QUOTE], dtype=np.uint8)  # bytes a quote may touch
_CHUNK = 1 << 24  # bytes scanned at a time
_DATA_SUFFIXES = frozenset({".csv", ".json"})  # files that look like records (a README is not warned about)

# --- bytes ------------------------------------------------------------------------------------------

_BAD_BYTES: ContextVar[list[tuple[int, int]]] = ContextVar("_BAD_BYTES")


def _note_bad_bytes(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    _BAD_BYTES.get().append((error.start, error.end))
    return "\ufffd", error.end


codecs.register_error("trialbridge-note-bad-bytes", _note_bad_bytes)


def decode_utf8(data: bytes) -> tuple[str, list[tuple[int, int]]]:
    """The text (a leading BOM dropped, bad bytes as U+FFFD) and the (start, end) byte offsets of bad bytes."""
    token = _BAD_BYTES.set([])
    try:
        text = data.decode("utf-8", errors="trialbridge-note-bad-bytes")
        bad = _BAD_BYTES.get()
    finally:
        _BAD_BYTES.reset(token)
    return (text[1:] if text.startswith("\ufeff") else text), bad


def bad_utf8(data: bytes) -> list[tuple[int, int]]:
    """(start, end) byte offsets of every sequence that is not UTF-8, decoded chunk by chunk (bounded memory).

    Chunks end on a character boundary (never before a continuation byte), so a character split by a
    chunk edge is decoded whole in the next chunk.
    """
    bad: list[tuple[int, int]] = []
    start = 0
    while start < len(data):
        end = min(start + _CHUNK, len(data))
        while start < end < len(data) and end > start + _CHUNK - 4 and 0x80 <= data[end] <= 0xBF:
            end -= 1
        bad += [(start + a, start + b) for a, b in decode_utf8(data[start:end])[1]]
        start = end
    return bad


def _read_bytes(path: Path, expected: str) -> tuple[bytes | None, list[Finding]]:
    """The file's bytes, or a finding saying why there are none (missing, a folder, unreadable, empty)."""
    where = dict(folder=str(path.parent), files=_expected_files())
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


def _expected_files() -> str:
    return ", ".join([REGISTRY_FILE, *(form_file(f) for f in FORM_NAMES)])


# --- where the records of a CSV file are ------------------------------------------------------------

@dataclass(frozen=True)
class Records:
    """Each CSV record of a file: byte offset, physical line of its first byte, field count, blank or not.

    `starts` is empty when the records were found by the `csv` module (no byte offsets then).
    """

    lines: np.ndarray
    fields: np.ndarray
    blank: np.ndarray
    starts: np.ndarray


def _quotes_regular(arr: np.ndarray, quotes: np.ndarray, quotes_before: int) -> bool:
    """Each double quote opens a value at its start, or closes one before a separator, or is doubled.

    `quotes` are positions in `arr`, `quotes_before` how many quotes come before the first of them.
    """
    if quotes.size == 0:
        return True
    opening = (quotes_before + np.arange(quotes.size)) % 2 == 0
    first = len(BOM) if arr[: len(BOM)].tobytes() == BOM else 0
    before = arr[np.maximum(quotes - 1, 0)]
    after = arr[np.minimum(quotes + 1, arr.size - 1)]
    opens_ok = (quotes == first) | np.isin(before, _QUOTE_EDGE)  # a quote before: the pair "" in a value
    closes_ok = (quotes == arr.size - 1) | np.isin(after, _QUOTE_EDGE)
    return bool(np.where(opening, opens_ok, closes_ok).all())


def scan_records(data: bytes) -> Records | None:
    """Records of RFC 4180 CSV bytes, vectorised: newlines and commas count only outside double quotes.

    The bytes are scanned in chunks (bounded memory), carrying the number of quotes, separators and
    newlines seen so far. Falls back to the `csv` module when the quoting is irregular (a quote inside an
    unquoted value) or a lone CR ends lines; None when even that cannot read the file.
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    ends, separators_before, newlines_before = [], [], []
    quotes_seen = separators_seen = newlines_seen = 0
    for offset in range(0, arr.size, _CHUNK):
        chunk = arr[offset: offset + _CHUNK]
        crs = np.flatnonzero(chunk == _CR) + offset
        if crs.size and (crs[-1] == arr.size - 1 or (arr[crs + 1] != _NEWLINE).any()):
            return _records_by_csv_module(data)  # lines ended by a lone CR
        quotes = np.flatnonzero(chunk == _QUOTE) + offset
        if not _quotes_regular(arr, quotes, quotes_seen):
            return _records_by_csv_module(data)
        newlines = np.flatnonzero(chunk == _NEWLINE) + offset
        terminators = newlines[(quotes_seen + np.searchsorted(quotes, newlines)) % 2 == 0]
        commas = np.flatnonzero(chunk == _COMMA) + offset
        separators = commas[(quotes_seen + np.searchsorted(quotes, commas)) % 2 == 0]
        ends.append(terminators)
        separators_before.append(separators_seen + np.searchsorted(separators, terminators))
        newlines_before.append(newlines_seen + np.searchsorted(newlines, terminators))
        quotes_seen, separators_seen = quotes_seen + quotes.size, separators_seen + separators.size
        newlines_seen += newlines.size
    if quotes_seen % 2:
        return _records_by_csv_module(data)
    end = np.concatenate([np.array([], dtype=np.int64), *ends])
    before = np.concatenate([np.array([], dtype=np.int64), *separators_before])
    lines_before = np.concatenate([np.array([], dtype=np.int64), *newlines_before])
    if end.size == 0 or end[-1] != arr.size - 1:  # a last record without a final newline
        end = np.append(end, arr.size)
        before = np.append(before, separators_seen)
        lines_before = np.append(lines_before, newlines_seen)
    starts = np.concatenate(([0], end[:-1] + 1)).astype(np.int64)
    fields = np.diff(before, prepend=0) + 1
    lines = np.concatenate(([1], lines_before[:-1] + 2)).astype(np.int64)
    blank = np.zeros(starts.size, dtype=bool)
    for i in np.flatnonzero(fields == 1):  # few: a valid form row has several fields
        blank[i] = not data[starts[i]: end[i]].removeprefix(BOM if starts[i] == 0 else b"").strip(b" \t\r")
    return Records(lines=lines, fields=fields, blank=blank, starts=starts)


def _records_by_csv_module(data: bytes) -> Records | None:
    text, _ = decode_utf8(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    lines, fields, blank = [], [], []
    try:
        previous = 0
        for row in reader:  # only for files with irregular quoting or old Mac line ends
            lines.append(previous + 1)
            previous = reader.line_num
            fields.append(max(len(row), 1))
            blank.append(not row or (len(row) == 1 and not row[0].strip(" \t\r")))
    except csv.Error:
        return None
    return Records(np.array(lines, dtype=np.int64), np.array(fields, dtype=np.int64), np.array(blank, dtype=bool),
                   np.array([], dtype=np.int64))


# --- one form ---------------------------------------------------------------------------------------

def _encoding_findings(data: bytes, bad: list[tuple[int, int]], records: Records | None, header: list[str],
                       file: str) -> list[Finding]:
    """One finding per cell holding bytes that are not UTF-8, at its line (and column when known)."""
    if not bad:
        return []
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == _NEWLINE)
    cells: dict[str, tuple[int, int, int, list[int]]] = {}
    for start, end in bad:  # the bad bytes only
        line = int(np.searchsorted(newlines, start)) + 1
        column = ""
        if records is not None and records.starts.size:
            record = int(np.searchsorted(records.starts, start, side="right")) - 1
            prefix = data[records.starts[record]: start].decode("utf-8", errors="replace")
            position = len(next(csv.reader(io.StringIO(prefix, newline="")), [""])) - 1 if prefix else 0
            column = header[position] if position < len(header) else f"field {position + 1}"
        place = f"{file}:{line}:{column}" if column else f"{file}:{line}"
        cells.setdefault(place, (line, start, end, []))[3].extend(data[start:end])
    out = []
    for place, (line, start, end, byte_values) in cells.items():
        line_start = int(newlines[line - 2]) + 1 if line > 1 else 0
        line_end = int(newlines[line - 1]) if line - 1 < newlines.size else len(data)
        around = data[max(line_start, start - 20): min(line_end, end + 20)]
        snippet = around.decode("utf-8", errors="backslashreplace")
        shown = " ".join(f"0x{b:02X}" for b in byte_values)
        out.append(finding("NATIVE-ENCODING", place, (shown,), file=file, line=line, byte=shown, offset=start,
                           text=snippet.rstrip("\r")))
    return out


def _parse_error(error: Exception, data: bytes, file: str) -> Finding:
    """A CSV the C parser refuses (an unclosed quote): the line of the last opening quote when there is one."""
    arr = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(arr == _QUOTE)
    detail = str(error).strip().splitlines()[-1].removeprefix("Error tokenizing data. ")
    if quotes.size % 2:
        line = int(np.count_nonzero(arr[: quotes[-1]] == _NEWLINE)) + 1
        return finding("NATIVE-CSV-PARSE", f"{file}:{line}", (detail,), place=f"{file} line {line}",
                       found="a double quote opens a value here and is never closed",
                       expected="every quoted value closed by a double quote before the end of the file")
    return finding("NATIVE-CSV-PARSE", file, (detail,), place=file, found=f"the parser stopped ({detail})",
                   expected="RFC 4180 CSV")


def _field_count_findings(file: str, lines: np.ndarray, fields: np.ndarray, width: int) -> list[Finding]:
    wrong = fields != width
    return [
        finding("NATIVE-CSV-PARSE", f"{file}:{line}", (str(n),), place=f"{file} line {line}", found=f"{n} fields",
                expected=f"{width} fields, as many as the header line")
        for line, n in zip(lines[wrong], fields[wrong])
    ]


def read_form(path: Path, form: str) -> tuple[pd.DataFrame | None, list[Finding]]:
    """One form CSV -> table of its schema columns (strings) + `_file`, `_line`, and the file's findings.

    The table holds the well-formed records only (a record with the wrong field count is an error of
    its own); None when the file cannot be read at all.
    """
    file = path.name
    columns = form_columns(form)
    data, findings = _read_bytes(path, expected=f"a header line with the columns {', '.join(columns)}")
    if data is None:
        return None, findings
    bad = bad_utf8(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lines with too many fields: reported from the scan below
            raw = pd.read_csv(io.BytesIO(data), header=None, dtype=str, keep_default_na=False, na_filter=False,
                              on_bad_lines="warn", encoding="utf-8-sig", encoding_errors="replace", engine="c")
    except pd.errors.EmptyDataError:
        return None, [finding("NATIVE-FILE-EMPTY", file, (), file=file, detail="no header line",
                              expected=f"a header line with the columns {', '.join(columns)}")]
    except (pd.errors.ParserError, ValueError) as error:
        return None, [_parse_error(error, data, file)]
    header = [str(name) for name in raw.iloc[0]]
    records = scan_records(data)
    findings += _encoding_findings(data, bad, records, header, file)
    findings += check_header(form, header)
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
    findings += _field_count_findings(file, lines, fields, width)
    body = raw.iloc[1:].set_axis(range(len(raw) - 1))
    keep = (fields[parsed] == width)
    positions = {name: i for i, name in reversed(list(enumerate(header)))}  # first of duplicated names
    cells = {c: pd.array(body[positions[c]].to_numpy()[keep], dtype="str") for c in columns if c in positions}
    table = pd.DataFrame(cells, index=pd.RangeIndex(int(keep.sum())))
    table[SOURCE_FILE] = file
    table[SOURCE_LINE] = lines[parsed][keep]
    return table, findings


# --- registry.json ------------------------------------------------------------------------------------

def read_registry(path: Path) -> tuple[dict[str, Any] | None, list[Finding]]:
    """registry.json -> the record (a dict) and its findings: encoding, JSON syntax, registry schema."""
    file = path.name
    data, findings = _read_bytes(path, expected="a JSON object (ClinicalTrials.gov API v2 study record)")
    if data is None:
        return None, findings
    text, bad = decode_utf8(data)
    findings += _encoding_findings(data, bad, None, [], file)
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        near = json.dumps(text[error.pos: error.pos + 20], ensure_ascii=False)[1:-1]  # escaped line breaks
        findings.append(finding("NATIVE-JSON", f"{file}:{error.lineno}:{error.colno}", (near,), file=file,
                                detail=error.msg, line=error.lineno, column=error.colno, near=near))
        return None, findings
    except RecursionError:
        findings.append(finding("NATIVE-JSON", f"{file}:1:1", (), file=file, detail="nesting too deep to read",
                                line=1, column=1, near=text[:20]))
        return None, findings
    findings += check_registry(record, file)
    return (record if isinstance(record, dict) else None), findings


# --- the folder ---------------------------------------------------------------------------------------

def _folder_findings(folder: Path) -> list[Finding]:
    files = _expected_files()
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "does not exist"
        return [finding("NATIVE-FOLDER", str(folder), (str(folder),), path=str(folder), problem=problem, files=files)]
    expected = {REGISTRY_FILE, *(form_file(f) for f in FORM_NAMES)}
    return [
        finding("NATIVE-FILE-UNKNOWN", entry.name, (entry.name,), file=entry.name, files=files)
        for entry in sorted(folder.iterdir())
        if entry.is_file() and entry.name not in expected and entry.suffix.lower() in _DATA_SUFFIXES
    ]


def _reading_order(findings: list[Finding]) -> list[Finding]:
    """Findings in the order a person reads the folder: file by file, line by line, column by column."""
    files = {name: i for i, name in enumerate([*(form_file(f) for f in FORM_NAMES), REGISTRY_FILE])}
    columns = {form_file(f): {c: i for i, c in enumerate(form_columns(f))} for f in FORM_NAMES}

    def key(f: Finding) -> tuple[int, int, int, str, str]:
        file, _, rest = f.location.partition(":")
        line, _, column = rest.partition(":")
        if not line.isdigit():
            return files.get(file, -1), 0, 0, rest, f.rule
        return files.get(file, -1), int(line), columns.get(file, {}).get(column, -1), column, f.rule

    return sorted(findings, key=key)


def read_native(folder: Path) -> tuple[Trial | None, list[Finding]]:
    """Read and check a native record folder: the `Trial` when no error was found, and every finding."""
    folder = Path(folder)
    findings = _folder_findings(folder)
    if has_errors(findings):
        return None, findings
    tables: dict[str, pd.DataFrame | None] = {}
    for form in FORM_NAMES:
        table, problems = read_form(folder / form_file(form), form)
        findings += problems
        if table is not None:
            findings += check_form(form, table)
        tables[form] = table
    findings += check_cross_forms(tables)
    registry, problems = read_registry(folder / REGISTRY_FILE)
    findings += problems
    findings = _reading_order(findings)
    if has_errors(findings) or registry is None or any(t is None for t in tables.values()):
        return None, findings
    forms = {form: table[[*form_columns(form), SOURCE_FILE, SOURCE_LINE]]
             for form, table in tables.items() if table is not None}
    return Trial(source=folder, registry=registry, forms=forms), findings
