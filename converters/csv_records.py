"""CSV bytes -> where each record is, and the findings about its bytes: UTF-8, quoting, field counts.

The physical line of each record and its field count come from one vectorised scan of the bytes
(newlines and commas outside double quotes, chunk by chunk with bounded memory), so a quoted value
spanning two lines does not shift the line numbers and a short row is not silently padded. Files whose
quoting the scan cannot follow (a quote inside an unquoted value, lines ended by a lone CR) are scanned
with the `csv` module instead. Bytes that are not UTF-8 are found chunk by chunk and reported per cell.
"""
from __future__ import annotations

import codecs
import csv
import io
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

from trialbridge.schemas.findings import Finding, finding

BOM = codecs.BOM_UTF8
_NEWLINE, _CR, _QUOTE, _COMMA = 0x0A, 0x0D, 0x22, 0x2C
_QUOTE_EDGE = np.array([_COMMA, _NEWLINE, _CR, _QUOTE], dtype=np.uint8)  # bytes a quote may touch
_CHUNK = 1 << 24  # bytes scanned at a time

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


# --- findings about the bytes ----------------------------------------------------------------------

def encoding_findings(data: bytes, bad: list[tuple[int, int]], records: Records | None, header: list[str],
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


def parse_error(error: Exception, data: bytes, file: str) -> Finding:
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


def field_count_findings(file: str, lines: np.ndarray, fields: np.ndarray, width: int) -> list[Finding]:
    wrong = fields != width
    return [
        finding("NATIVE-CSV-PARSE", f"{file}:{line}", (str(n),), place=f"{file} line {line}", found=f"{n} fields",
                expected=f"{width} fields, as many as the header line")
        for line, n in zip(lines[wrong], fields[wrong])
    ]
