"""A folder of XPT files someone else made -> SDTM tables, ADaM tables, and what reading them took.

Files are found whatever the case of their extension (`dm.xpt`, `DM.XPT`), v5 or v8. Text is read as
UTF-8 when it is UTF-8; otherwise as Windows-1252, then Latin-1 (which decodes any byte), and the
encoding used is a finding: a non-UTF-8 byte never makes a dataset unreadable. Numbers stay numbers
whatever their SAS date, time or datetime format (`read_xpt`). A version 8 file (long names, labels and
values) is read whole and said (PACKAGE-XPT-VERSION: FDA takes version 5). ADaM datasets (AD*) are read and counted
but not checked against SDTMIG. A file that cannot be read at all is a finding about that file, and the
summary says how many datasets were read.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pandas as pd

from trialbridge.converters.progress import WIDTH
from trialbridge.converters.xpt.files import XptMeta, read_xpt
from trialbridge.schemas.findings import Finding, finding

ENCODINGS = ("UTF-8", "WINDOWS-1252", "LATIN1")  # iconv names, tried in this order
ADAM = re.compile(r"AD[A-Z0-9_]*")  # ADSL, ADAE, ADLBC ... (SAS names may hold "_": ADRS_ONCO)
V8_HEADER = b"HEADER RECORD*******LIBV8"  # the first record of a SAS transport version 8 (or 9) file


@dataclass(frozen=True)
class ReadDataset:
    """One dataset as read: its table, the file's metadata and the text encoding that decoded it."""

    name: str
    path: Path
    table: pd.DataFrame
    meta: XptMeta
    encoding: str
    version: int = 5  # SAS transport version: 5, or 8 (long names, labels and values)


@dataclass
class PackageRead:
    """Every XPT file of a folder, split into SDTM and ADaM, with the findings reading them gave."""

    folder: Path
    sdtm: dict[str, ReadDataset] = field(default_factory=dict)
    adam: dict[str, ReadDataset] = field(default_factory=dict)
    unreadable: list[Path] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def files(self) -> int:
        return len(self.sdtm) + len(self.adam) + len(self.unreadable)

    def records(self) -> dict[str, int]:
        return {name: d.meta.rows for name, d in {**self.sdtm, **self.adam}.items()}


def xpt_files(folder: Path) -> list[Path]:
    """The XPT files directly in `folder`, any case of `.xpt`, sorted by name."""
    return sorted((p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() == ".xpt"),
                  key=lambda p: p.name.lower())


def _is_encoding_error(error: Exception) -> bool:
    text = str(error).lower()
    return isinstance(error, UnicodeError) or "codec" in text or "encoding" in text or "iconv" in text


def read_any_encoding(path: Path) -> tuple[pd.DataFrame, XptMeta, str]:
    """Read with the first encoding of ENCODINGS that decodes every value; other errors are raised."""
    last: Exception | None = None
    for encoding in ENCODINGS:
        try:
            table, meta = read_xpt(path, encoding=encoding)
            return table, meta, encoding
        except Exception as error:  # noqa: BLE001 - only encoding failures are retried, see below
            if not _is_encoding_error(error):
                raise
            last = error
    raise last if last is not None else ValueError("no encoding")


def transport_version(path: Path) -> int:
    """8 when the file starts with the version 8 library header, else 5."""
    with open(path, "rb") as handle:
        return 8 if handle.read(len(V8_HEADER)) == V8_HEADER else 5


def _non_ascii_example(table: pd.DataFrame) -> str:
    """The first text value holding a character outside ASCII, as 'VARIABLE: value'."""
    for column in table.columns:
        if table[column].dtype == object:
            values = table[column].astype(str)
            hit = values[~values.map(str.isascii)]
            if len(hit):
                return f"{column}: {hit.iloc[0][:60]}"
    return ""


def read_package(folder: Path, only: Sequence[Path] = ()) -> PackageRead:
    """Read every XPT file of `folder`, or just the files `only` (see the module doc)."""
    package = PackageRead(folder=Path(folder))
    for path in (list(only) or xpt_files(folder)):
        try:
            table, meta, encoding = read_any_encoding(path)
        except Exception as error:  # a damaged file is a finding about that file; the others are still read
            package.unreadable.append(path)
            package.findings.append(finding("PACKAGE-XPT-UNREADABLE", path.name, [path.name], file=path.name,
                                            error=f"{type(error).__name__}: {error}"))
            continue
        name = (meta.dataset or path.stem).upper()
        if name != path.stem.upper():
            package.findings.append(finding("PACKAGE-XPT-MEMBER", path.name, (name,), file=path.name, member=name,
                                            stem=path.stem.upper()))
            name = path.stem.upper()
        if path.suffix != ".xpt" or path.stem != path.stem.lower():
            package.findings.append(finding("PACKAGE-XPT-CASE", path.name, (path.name,), file=path.name,
                                            expected=path.stem.lower() + ".xpt"))
        if encoding != "UTF-8":
            package.findings.append(finding("PACKAGE-XPT-ENCODING", path.name, (encoding,), file=path.name,
                                            encoding=encoding, example=_non_ascii_example(table)))
        version = transport_version(path)
        if version != 5:
            package.findings.append(finding("PACKAGE-XPT-VERSION", path.name, (f"v{version}",), file=path.name,
                                            version=version))
        read = ReadDataset(name, path, table, meta, encoding, version)
        (package.adam if ADAM.fullmatch(name) else package.sdtm)[name] = read
    return package


def _lines(head: str, items: Sequence[str]) -> list[str]:
    """`head` then the items, comma-separated, on lines of at most 80 columns broken between items."""
    lines, line = [], head
    for i, item in enumerate(items):
        text = item + ("," if i < len(items) - 1 else "")
        if len(line) + 1 + len(text) > WIDTH and line.strip() != head.strip():
            lines.append(line)
            line = "    " + text
        else:
            line += " " + text
    return lines + [line]


def describe_package(package: PackageRead) -> str:
    """`read 12 of 13 XPT files: SDTM AE (1,191), DM (306), ...; ADaM ADSL (254); unreadable: xx.xpt`, in lines
    of at most 80 columns."""
    def listed(datasets: dict[str, ReadDataset]) -> list[str]:
        return [f"{n} ({d.meta.rows:,})" for n, d in sorted(datasets.items())]

    lines = [f"read {len(package.sdtm) + len(package.adam)} of {package.files} XPT file(s) in {package.folder}"]
    if package.sdtm:
        lines += _lines("  SDTM:", listed(package.sdtm))
    if package.adam:
        lines += _lines("  ADaM (read, not checked against SDTMIG):", listed(package.adam))
    if package.unreadable:
        lines += _lines("  unreadable:", [p.name for p in package.unreadable])
    return "\n".join(lines)
