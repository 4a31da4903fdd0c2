"""Findings: the one record every check, reader and writer reports problems with.

A finding is a small frozen record (rule id, severity, location, message, hint, values). Titles,
message templates, severities and citations come from one catalogue (`catalogue.json` beside this
module), never from scattered strings.

Besides the `location` string a finding carries its place as separate fields (dataset, variable, row,
USUBJID, --SEQ, file, line, FHIR path); `Finding.where()` fills the ones a check did not set from the
location string. After grouping (`schemas/triage.py`) one finding stands for many records: `count`
and `records` list them, `knock_on` the findings it caused, `explanation` the waiver that explains it.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Iterable, Literal

Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Rule:
    """One catalogue entry: what must hold, how bad it is when it does not, and where that is written."""

    id: str
    severity: Severity
    title: str
    message: str  # str.format template over the keyword arguments given to `finding`
    hint: str = ""
    citation: str = ""
    # how findings of this rule are grouped (schemas/triage.py): "value" one finding per distinct value,
    # "pattern" per value shape (12/03/2011 -> 99/99/9999), "all" one per dataset and variable
    group: str = "value"

    def references(self) -> dict[str, list[str]]:
        """The citation split into SDTMIG sections, FDA validator rule ids and CDISC CORE ids."""
        return citation_references(self.citation)


_SDTMIG = re.compile(r"SDTMIG (?:v?[\d.]+ )?sections? ([\d.]+(?:[-\u2013][\d.]+)?(?:(?:,| and) [\d.]+)*)")
_FDA = re.compile(r"\b((?:SD|CT|DD|TS|AD)\d{4})\b")
_CORE = re.compile(r"\bCORE-\d{6}\b")


def citation_references(citation: str) -> dict[str, list[str]]:
    """SDTMIG sections, FDA validator ids (SD0002, CT2001) and CDISC CORE ids named in a citation text."""
    sections = [part.strip() for m in _SDTMIG.finditer(citation)
                for part in re.split(r",| and ", m.group(1)) if part.strip()]
    return {
        "sdtmig": list(dict.fromkeys(sections)),
        "fda": list(dict.fromkeys(_FDA.findall(citation))),
        "core": list(dict.fromkeys(_CORE.findall(citation))),
    }


@dataclass(frozen=True)
class Record:
    """One record a (grouped) finding is about: its row in the dataset, subject, --SEQ, source file and
    line, its place when it is not a row (a FHIR path), and the values shown for it."""

    row: int | None = None
    usubjid: str = ""
    seq: str = ""
    file: str = ""
    line: int | None = None
    location: str = ""
    values: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"row": self.row, "usubjid": self.usubjid, "seq": self.seq, "file": self.file,
                "line": self.line, "location": self.location, "values": list(self.values)}


@dataclass(frozen=True)
class KnockOn:
    """Findings of another rule that follow from this one (a study day that cannot be computed because
    its date is bad): counted and listed here instead of reported again."""

    rule: str
    dataset: str
    variable: str
    count: int
    records: tuple[Record, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"rule": self.rule, "dataset": self.dataset, "variable": self.variable, "count": self.count,
                "records": [r.as_dict() for r in self.records]}


@dataclass(frozen=True)
class Explanation:
    """Why a finding is accepted: one line of a waiver file."""

    justification: str
    author: str
    date: str
    source: str  # the waiver file and line that matched

    def as_dict(self) -> dict[str, str]:
        return {"justification": self.justification, "author": self.author, "date": self.date,
                "source": self.source}


WHERE_FIELDS = ("dataset", "variable", "row", "usubjid", "seq", "file", "line", "fhir_path", "path")


@dataclass(frozen=True)
class Finding:
    """One problem (or one reported change) at one place, or, once grouped, at `count` records."""

    rule: str
    severity: Severity
    location: str
    message: str
    hint: str = ""
    values: tuple[str, ...] = field(default_factory=tuple)
    dataset: str = ""  # upper-case dataset name (AE, SUPPAE)
    variable: str = ""  # dataset variable, or the column of an input file
    row: int | None = None  # 1-based record number in the dataset
    usubjid: str = ""
    seq: str = ""  # the record's --SEQ
    file: str = ""
    line: int | None = None  # line in `file` (CSV: the header is line 1)
    fhir_path: str = ""  # Bundle.entry[3].resource.status, Patient/123.gender
    path: str = ""  # a JSON path or XML element inside `file`
    count: int = 1
    records: tuple[Record, ...] = ()
    knock_on: tuple[KnockOn, ...] = ()
    explanation: Explanation | None = None

    @property
    def status(self) -> str:
        """"explained" when a waiver accounts for the finding, else "open"."""
        return "explained" if self.explanation is not None else "open"

    def where(self) -> dict[str, object]:
        """The structured location: the fields the check set, the rest read from `location`."""
        parsed = parse_location(self.location)
        return {name: getattr(self, name) if getattr(self, name) not in ("", None) else parsed.get(name, None
                if name in ("row", "line") else "") for name in WHERE_FIELDS}

    def as_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "location": self.location,
            "message": self.message,
            "hint": self.hint,
            "values": list(self.values),
            **self.where(),
            "count": self.count,
            "records": [r.as_dict() for r in self.records],
            "knock_on": [k.as_dict() for k in self.knock_on],
            "status": self.status,
            "explanation": self.explanation.as_dict() if self.explanation else None,
        }


_FILE = re.compile(r"[^:/\\]+\.(?:csv|json|ndjson|xml|xpt|xlsx|py|html|txt|yaml|yml)", re.IGNORECASE)
_FHIR = re.compile(r"(?:Bundle[.\[]|[A-Z][A-Za-z]+/[^/.:]+[.\[]|[A-Z][A-Za-z]+\.[a-z])")
_DATASET = re.compile(r"[a-z][a-z0-9]{0,7}")


def parse_location(location: str) -> dict[str, object]:
    """The structured fields a location string holds, in each of its shapes:
    `file.csv:line:COLUMN`, `file.json:$.path`, `define.xml:line`, `dataset:VARIABLE:record`,
    `dataset:VARIABLE`, `dataset`, a FHIR path (`Bundle.entry[3].resource.status`, `Patient/1.gender`)."""
    parts = location.split(":")
    head = parts[0]
    if _FILE.fullmatch(head):
        found: dict[str, object] = {"file": head}
        rest = parts[1:]
        if rest and rest[0].isdigit():
            found["line"] = int(rest[0])
            rest = rest[1:]
        if rest:
            text = ":".join(rest)
            if re.fullmatch(r"[A-Z][A-Z0-9_]{0,31}", text):
                found["variable"] = text
            elif not text.isdigit():
                found["path"] = text
        if head.lower().endswith(".xpt"):
            found["dataset"] = head.rsplit(".", 1)[0].upper()
        return found
    if _FHIR.match(location):
        return {"fhir_path": location}
    if _DATASET.fullmatch(head) and len(parts) <= 3:
        found = {"dataset": head.upper()}
        if len(parts) > 1 and parts[1]:
            found["variable"] = parts[1]
        if len(parts) > 2 and parts[2].isdigit():
            found["row"] = int(parts[2])
        return found
    return {}


@lru_cache(maxsize=1)
def catalogue() -> dict[str, Rule]:
    """All rules, keyed by id, from `catalogue.json`."""
    text = resources.files("trialbridge.schemas").joinpath("catalogue.json").read_text(encoding="utf-8")
    return {entry["id"]: Rule(**entry) for entry in json.loads(text)["rules"]}


EXCERPT_OVER = 1_000  # a text field or value longer than this is quoted as an excerpt
EXCERPT_KEEP = 200    # characters kept from its start
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def excerpt(text: str) -> str:
    """At most an excerpt of a long value, with its full length."""
    return text if len(text) <= EXCERPT_OVER else f"{text[:EXCERPT_KEEP]}... [{len(text):,} characters]"


def quoted(text: str) -> str:
    """A text as a message may quote it: an `excerpt`, control characters (ESC, NUL, C1, ...) escaped as
    `\\xNN`, so no terminal ever receives them."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", excerpt(text))


def finding(rule_id: str, location: str, values: Iterable[object] = (), **fields: object) -> Finding:
    """Build a finding from its catalogue entry; `fields` fill the message and hint templates (text
    fields pass through `quoted`; values keep their characters, as an `excerpt`: the table prints them
    with repr, JSON escapes them)."""
    rule = catalogue()[rule_id]
    fields = {k: quoted(v) if isinstance(v, str) else v for k, v in fields.items()}
    return Finding(
        rule=rule.id,
        severity=rule.severity,
        location=quoted(location),
        message=rule.message.format(**fields),
        hint=rule.hint.format(**fields) if rule.hint else "",
        values=tuple(excerpt(str(v)) for v in values),
    )


def has_errors(findings: Iterable[Finding]) -> bool:
    """An error no waiver explains (explained findings stay in the reports but set no exit code)."""
    return any(f.severity == "error" and f.explanation is None for f in findings)


def natural_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """Numbers inside a text compare as numbers: `ae:AESEQ:9` before `ae:AESEQ:10`."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", text) if part)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Stable, deterministic order: severity, then rule, then location (numbers in it as numbers)."""
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.rule, natural_key(f.location), f.message))
