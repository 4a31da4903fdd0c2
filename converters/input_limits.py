"""An input folder -> findings for what is over the documented size limits, before anything is parsed.

The limits (README, "Limits") protect the run from input no study produces and that would make it
run for hours or exhaust memory: a 10 MB registry title split into 50,000 TSVAL columns, a 100 KB
"verbatim term". Each is an error naming the file, the line and column (or the JSON path), the
size found and the limit, quoting at most a short excerpt:

    MAX_FILE_BYTES       4 GiB    any data file of the folder (CSV, JSON, XML)
    MAX_REGISTRY_BYTES  16 MiB    registry.json (ClinicalTrials.gov records are a few hundred KB)
    MAX_FIELD_CHARS     10,000    one CSV cell (SDTM text is at most 200 bytes per variable; longer text
                                  is split into continuation variables, which 10,000 characters keeps
                                  under 50)
    MAX_REGISTRY_TEXT   32,000    one text value of the registry record (ClinicalTrials.gov's own
                                  maximum, the detailed description's; 160 TSVAL continuations)

Long CSV lines are found with whole-array arithmetic over the file's bytes (memory-mapped); only a
line over MAX_FIELD_CHARS bytes is parsed to name the cell.
"""
from __future__ import annotations

import csv
import io
import json
import mmap
from pathlib import Path
from typing import Iterator

import numpy as np

from trialbridge.schemas.findings import Finding, finding

MAX_FILE_BYTES = 4 * 1024 ** 3
MAX_REGISTRY_BYTES = 16 * 1024 ** 2
MAX_FIELD_CHARS = 10_000
MAX_REGISTRY_TEXT = 32_000
REGISTRY = "registry.json"
DATA_SUFFIXES = (".csv", ".json", ".xml")
SHOWN = 20  # cells reported per file at most (all are counted)


def _excerpt(text: str, keep: int = 40) -> str:
    return text if len(text) <= keep else text[:keep] + "..."


def _long_lines(data: bytes | mmap.mmap) -> list[tuple[int, int, int]]:
    """(line number, start, end) of every line longer than MAX_FIELD_CHARS bytes (lines end with LF, or with
    a lone CR in a file that has no LF at all, as the CSV reader reads them)."""
    newline = 0x0A if data.find(b"\n") >= 0 or data.find(b"\r") < 0 else 0x0D
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == newline)
    ends = np.append(ends, len(data)) if not len(ends) or ends[-1] != len(data) - 1 else ends
    starts = np.concatenate([[0], ends[:-1] + 1])
    long = np.flatnonzero(ends - starts > MAX_FIELD_CHARS)
    return [(int(i) + 1, int(starts[i]), int(ends[i])) for i in long]


def _first_row(text: str) -> list[str]:
    """The first CSV record of `text`, whatever ends its lines; [] when it is not CSV (the reader reports that)."""
    try:
        return next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error:
        return []


def _long_cells(path: Path) -> Iterator[Finding]:
    with open(path, "rb") as handle:
        if path.stat().st_size == 0:
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            lines = _long_lines(data)
            if not lines:
                return
            header_end = data.find(b"\n")
            header = _first_row(data[:header_end if header_end >= 0 else len(data)].decode("utf-8-sig", "replace"))
            found = 0
            for number, start, end in lines:
                row = _first_row(data[start:end].decode("utf-8", "replace"))
                for index, cell in enumerate(row):
                    if len(cell) <= MAX_FIELD_CHARS:
                        continue
                    found += 1
                    if found > SHOWN:
                        continue
                    column = header[index] if index < len(header) else f"field {index + 1}"
                    yield finding("LIMIT-FIELD", f"{path.name}:{number}:{column}", [_excerpt(cell)],
                                  file=path.name, line=number, column=column, length=len(cell),
                                  limit=MAX_FIELD_CHARS, excerpt=_excerpt(cell))


def _long_texts(value: object, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        if len(value) > MAX_REGISTRY_TEXT:
            yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _long_texts(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _long_texts(item, f"{path}[{index}]")


def _registry_findings(path: Path) -> list[Finding]:
    try:
        record = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return []  # not JSON: the reader reports it, with its line and column
    return [finding("LIMIT-REGISTRY-TEXT", f"{path.name}:{where}", [_excerpt(text)], file=path.name, path=where,
                    length=len(text), limit=MAX_REGISTRY_TEXT, excerpt=_excerpt(text))
            for where, text in _long_texts(record)]


def check_input_limits(folder: Path) -> list[Finding]:
    """Every limit above, over the data files directly in `folder` ([] when it is not a folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    findings: list[Finding] = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES):
        size = path.stat().st_size
        limit = MAX_REGISTRY_BYTES if path.name == REGISTRY else MAX_FILE_BYTES
        if size > limit:
            findings.append(finding("LIMIT-FILE-SIZE", path.name, [str(size)], file=path.name, size=f"{size:,}",
                                    limit=f"{limit:,}"))
            continue
        if path.suffix.lower() == ".csv":
            findings += list(_long_cells(path))
        elif path.name == REGISTRY:
            findings += _registry_findings(path)
    return findings
