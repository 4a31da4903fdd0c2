"""Waiver file (CSV or YAML) -> Waiver records, or findings saying exactly what is wrong with the file.

CSV: a header row with the columns rule, dataset, variable, pattern, justification, author, date (in any
order; dataset, variable and pattern may be left empty). YAML: a list of mappings with the same keys (or
a mapping whose `waivers` key holds that list). Rule ids must exist in the catalogue (or be `*`), dates
are YYYY-MM-DD. A file with any error gives no waivers: a half-read waiver file would silently change
which findings count.
"""
from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

from trialbridge.schemas.findings import Finding, catalogue, finding
from trialbridge.schemas.waivers import WAIVER_FIELDS, Waiver

REQUIRED = ("rule", "justification", "author", "date")


def _rows(path: Path) -> list[tuple[int, dict[str, object]]]:
    """(line, entry) pairs from a CSV or YAML waiver file; raises ValueError naming what is wrong."""
    if path.exists() and not path.is_file() and not path.is_dir():  # reading a FIFO would wait for ever
        raise ValueError("not a regular file (a FIFO, a device or a socket); expected a CSV or YAML file")
    text = path.read_bytes().decode("utf-8-sig")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ValueError(f"not valid YAML: {error}".replace("\n", " ")) from None
        if isinstance(data, dict) and "waivers" in data:
            data = data["waivers"]
        if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
            raise ValueError("expected a list of waivers, each a mapping with the keys " + ", ".join(WAIVER_FIELDS))
        return [(i, {str(k).strip().lower(): v for k, v in e.items()}) for i, e in enumerate(data, start=1)]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ValueError(f"the header has no column {', '.join(missing)} (expected {', '.join(WAIVER_FIELDS)})")
    rows = []
    for row in reader:
        entry = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
        rows.append((reader.line_num, entry))
    return rows


def read_waivers(path: Path) -> tuple[list[Waiver], list[Finding]]:
    """The waivers of `path`, or no waivers and one WAIVER-FILE error per problem."""
    path = Path(path)
    where = path.name
    try:
        rows = _rows(path)
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as error:
        return [], [finding("WAIVER-FILE", where, (), detail=f"{path}: {error}")]
    rules = catalogue()
    waivers, problems = [], []
    unit = "entry" if path.suffix.lower() in (".yaml", ".yml") else "line"
    for line, entry in rows:
        place = f"{where}:{line}"
        values = {k: "" if entry.get(k) is None else str(entry.get(k)).strip() for k in WAIVER_FIELDS}
        empty = [k for k in REQUIRED if not values[k]]
        if empty:
            problems.append(finding("WAIVER-FILE", place, (), detail=f"{unit} {line}: {', '.join(empty)} is empty"))
            continue
        if values["rule"] != "*" and values["rule"] not in rules:
            problems.append(finding("WAIVER-FILE", place, (values["rule"],),
                                    detail=f"{unit} {line}: rule '{values['rule']}' is not a rule of trialbridge"))
            continue
        try:
            date.fromisoformat(values["date"])
        except ValueError:
            problems.append(finding("WAIVER-FILE", place, (values["date"],),
                                    detail=f"{unit} {line}: date '{values['date']}' is not YYYY-MM-DD"))
            continue
        waivers.append(Waiver(source=place, **values))
    return ([] if problems else waivers), problems
