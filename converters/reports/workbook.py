"""The report document -> report.xlsx, with the sheets a Pinnacle 21 user looks for first.

Dataset Summary (one row per dataset: records, findings by severity), Issue Summary (one row per grouped
finding), Details (one row per record a finding is about, knock-on records included, naming their cause)
and Rules (every rule that ran: title, citation, status, counts). Text from the input is written as text,
never as a formula, with the control characters a workbook cannot hold removed.
"""
from __future__ import annotations

import re
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

MAX_DETAIL_ROWS = 1_000_000  # an Excel sheet holds 1,048,576 rows; report.json always has every record


def _clean(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))


def _cells(sheet: object, row: Sequence[object]) -> list[object]:
    """One data row; input text starting with "=" stays text (a write-only sheet would take it as a formula)."""
    values = [_clean(v) for v in row]
    if not any(isinstance(v, str) and v.startswith("=") for v in values):
        return values
    cells: list[object] = []
    for value in values:
        if isinstance(value, str) and value.startswith("="):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"  # input text, never a formula
            value = cell
        cells.append(value)
    return cells


def _sheet(book: Workbook, title: str, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A streamed sheet (write-only: rows go straight to the file, so a million rows cost no quadratic time)."""
    sheet = book.create_sheet(title)
    sheet.freeze_panes = "A2"
    for i, header in enumerate(headers, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = max(10, min(60, len(header) + 4))
    bold = Font(bold=True)
    heading = []
    for header in headers:
        cell = WriteOnlyCell(sheet, value=header)
        cell.font = bold
        heading.append(cell)
    sheet.append(heading)
    for row in rows:
        sheet.append(_cells(sheet, row))


def _details(doc: Mapping) -> Iterable[Sequence[object]]:
    count = 0
    for f in doc["findings"]:
        explained = f["explanation"] or {}
        base = (f["id"], f["rule"], f["severity"], f["status"], f["group"], f["variable"])
        records = f["records"] or [{"row": f["row"], "usubjid": f["usubjid"], "seq": f["seq"], "file": f["file"],
                                    "line": f["line"], "location": f["location"], "values": f["values"]}]
        tail = (f["message"], explained.get("justification", ""), "")
        for r in records:
            if count >= MAX_DETAIL_ROWS:
                return
            count += 1
            yield base + (r["row"], r["usubjid"], r["seq"], r["file"], r["line"], r["location"] or f["location"],
                          ", ".join(r["values"])) + tail
        for k in f["knock_on"]:
            for r in k["records"]:
                if count >= MAX_DETAIL_ROWS:
                    return
                count += 1
                yield ((f["id"], k["rule"], f["severity"], f["status"], k["dataset"], k["variable"], r["row"],
                        r["usubjid"], r["seq"], r["file"], r["line"], r["location"], ", ".join(r["values"]),
                        f"knock-on of {f['rule']} ({f['id']}): not reported separately",
                        explained.get("justification", ""), f["id"]))


def write_report_xlsx(doc: Mapping, path: Path) -> None:
    titles = {r["rule"]: r["title"] for r in doc["rules"]}
    book = Workbook(write_only=True)
    _sheet(book, "Dataset Summary", ("Dataset", "Records", "Findings", "Errors", "Warnings", "Notes", "Explained"),
           ((d["dataset"], d["records"], d["findings"], d["errors"], d["warnings"], d["notes"], d["explained"])
            for d in doc["datasets"]))
    _sheet(book, "Issue Summary", ("ID", "Dataset", "Rule", "Title", "Severity", "Message", "Records", "Status",
                                   "Justification"),
           ((f["id"], f["group"], f["rule"], titles.get(f["rule"], ""), f["severity"], f["message"], f["count"],
             f["status"], (f["explanation"] or {}).get("justification", "")) for f in doc["findings"]))
    _sheet(book, "Details", ("ID", "Rule", "Severity", "Status", "Dataset", "Variable", "Record", "USUBJID", "SEQ",
                             "File", "Line", "Location", "Values", "Message", "Justification", "Caused by"),
           _details(doc))
    _sheet(book, "Rules", ("Rule", "Title", "Severity", "Status", "Findings", "Records", "Explained", "Citation",
                           "SDTMIG", "FDA", "CORE", "Fix", "Detail"),
           ((r["rule"], r["title"], r["severity"], r["status"], r["findings"], r["records"], r["explained"],
             r["citation"], ", ".join(r["references"].get("sdtmig", [])), ", ".join(r["references"].get("fda", [])),
             ", ".join(r["references"].get("core", [])), r["hint"], r["detail"]) for r in doc["rules"]))
    created = datetime.fromisoformat(str(doc.get("created") or "2000-01-01T00:00:00")[:19])
    book.properties.created = book.properties.modified = created  # the run's stamp, never the clock
    book.save(path)
    _fix_zip_times(path, created)


def _fix_zip_times(path: Path, stamp: datetime) -> None:
    """Rewrite the workbook's zip entries with one fixed time, so a re-run gives the same bytes."""
    when = (min(max(stamp.year, 1980), 2107), stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)  # zip's range
    with zipfile.ZipFile(path) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in entries:
            if info.filename == "docProps/core.xml":  # openpyxl stamps `modified` with the clock on save
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                              rb"\g<1>" + stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode() + rb"\g<2>", data)
            fixed = zipfile.ZipInfo(info.filename, date_time=when)
            fixed.compress_type, fixed.external_attr = zipfile.ZIP_DEFLATED, info.external_attr
            target.writestr(fixed, data)

