"""The bad-input corpus: altered copies of examples/revallo, each with what trialbridge must answer.

A case is (id, mutation, expected exit code, expected rule, text the finding's location must contain,
text its message or values must contain). Mutations work on the copied folder's bytes and CSV cells;
line numbers are the CSV's (header = line 1).
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


def cells(folder: Path, name: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO((folder / name).read_text(encoding="utf-8"))))
    return rows[0], rows[1:]


def write_cells(folder: Path, name: str, header: list[str], rows: list[list[str]]) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    (folder / name).write_text(out.getvalue(), encoding="utf-8")


def set_cell(name: str, line: int, column: str, value: str) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        header, rows = cells(folder, name)
        rows[line - 2][header.index(column)] = value
        write_cells(folder, name, header, rows)
    return mutate


def replace_line(name: str, line: int, text: str) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        lines = (folder / name).read_bytes().split(b"\n")
        lines[line - 1] = text.encode("utf-8") if isinstance(text, str) else text
        (folder / name).write_bytes(b"\n".join(lines))
    return mutate


def write_bytes(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes(data)


def delete(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


def registry(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        record = json.loads((folder / "registry.json").read_text(encoding="utf-8"))
        change(record)
        (folder / "registry.json").write_text(json.dumps(record), encoding="utf-8")
    return mutate


def registry_text(old: str, new: str) -> Callable[[Path], None]:
    """registry.json with `old` (text of the file, once) replaced: for what json.dumps cannot write."""
    def mutate(folder: Path) -> None:
        text = (folder / "registry.json").read_text(encoding="utf-8")
        assert old in text
        (folder / "registry.json").write_text(text.replace(old, new, 1), encoding="utf-8")
    return mutate


def drop_column(name: str, column: str) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        header, rows = cells(folder, name)
        i = header.index(column)
        write_cells(folder, name, header[:i] + header[i + 1:], [r[:i] + r[i + 1:] for r in rows])
    return mutate


def add_column(name: str, column: str) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        header, rows = cells(folder, name)
        write_cells(folder, name, header + [column], [r + ["x"] for r in rows])
    return mutate


def duplicate_line(name: str, line: int) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        lines = (folder / name).read_bytes().split(b"\n")
        lines.insert(line, lines[line - 1])
        (folder / name).write_bytes(b"\n".join(lines))
    return mutate


def ident(change: dict) -> Callable[[dict], None]:
    return lambda record: record["protocolSection"]["identificationModule"].update(change)


@dataclass(frozen=True)
class Case:
    id: str
    mutate: Callable[[Path], None]
    exit_code: int
    rule: str
    location: str     # contained in the finding's location
    text: str         # contained in the finding's message or one of its values


E = "enrolment.csv"
D = "dosing.csv"
A = "adverse_events.csv"
R = "response.csv"
L = "laboratory.csv"
S = "end_of_study.csv"
LONG = "1" * 400

CASES: tuple[Case, ...] = (
    # --- files and folder
    Case("enrolment-missing", delete(E), 2, "NATIVE-FILE-MISSING", "enrolment.csv", "enrolment.csv"),
    Case("registry-missing", delete("registry.json"), 2, "NATIVE-FILE-MISSING", "registry.json", "registry.json"),
    Case("dosing-empty", write_bytes(D, b""), 2, "NATIVE-FILE-EMPTY", "dosing.csv", "empty"),
    Case("lab-binary", write_bytes(L, bytes(range(256)) * 8), 2, "NATIVE-COLUMN-MISSING", "laboratory.csv:1", "LBCODE"),
    Case("enrolment-utf16", lambda f: (f / E).write_bytes((f / E).read_text(encoding="utf-8").encode("utf-16")), 2, "NATIVE-COLUMN-MISSING", "enrolment.csv:1", "SUBJID"),
    Case("registry-not-json", write_bytes("registry.json", b'{"protocolSection": '), 2, "NATIVE-JSON", "registry.json:1:21", ""),
    Case("registry-a-list", write_bytes("registry.json", b"[]"), 2, "NATIVE-REGISTRY-SCHEMA", "registry.json:$", ""),
    Case("registry-empty", write_bytes("registry.json", b""), 2, "NATIVE-FILE-EMPTY", "registry.json", ""),
    Case("registry-html", write_bytes("registry.json", b"<html><body>Not found</body></html>"), 2, "NATIVE-JSON", "registry.json:1:1", ""),
    Case("enrolment-is-a-folder", lambda f: ((f / E).unlink(), (f / E).mkdir()), 2, "NATIVE-FILE-MISSING", "enrolment.csv", ""),
    # --- CSV structure
    Case("lab-column-missing", drop_column(L, "LBCODE"), 2, "NATIVE-COLUMN-MISSING", "laboratory.csv:1", "LBCODE"),
    Case("dosing-column-unknown", add_column(D, "EXTRA"), 2, "NATIVE-COLUMN-UNKNOWN", "dosing.csv:1:EXTRA", "EXTRA"),
    Case("dosing-too-many-fields", replace_line(D, 3, "01,002,1,2011-12-17,2012-02-14,5,mg/j,START,oops"), 2, "NATIVE-CSV-PARSE", "dosing.csv:3", ""),
    Case("dosing-too-few-fields", replace_line(D, 3, "01,002,1,2011-12-17"), 2, "NATIVE-CSV-PARSE", "dosing.csv:3", ""),
    Case("ae-unclosed-quote", replace_line(A, 3, '01,001,2,"GVH aigue'), 2, "NATIVE-CSV-PARSE", "adverse_events.csv:3", ""),
    Case("ae-latin1-byte", replace_line(A, 2, "01,001,1,GVH aigu\xe9".encode("latin-1") + b" h,17.0"), 2, "NATIVE-CSV-PARSE", "adverse_events.csv:2", ""),
    Case("dosing-nul-byte", replace_line(D, 2, b"01,001,1,2011-10-15,2011-12-11,5\x00,mg/j,START"), 2, "NATIVE-PATTERN", "dosing.csv:2:DOSE", ""),
    Case("enrolment-duplicate-subject", duplicate_line(E, 2), 2, "NATIVE-KEY-DUPLICATE", "enrolment.csv:2", "001"),
    Case("enrolment-duplicate-header-column", replace_line(E, 1, "SITEID,SITEID,SITECTRY,SUBJID,CONSDAT,BRTHDAT,AGE,SEX,TXDAT,DONOR,HLAMATCH,CONDIT,DISSTAT,RESPLINE,PRLEN,PRLENMO,LENREFR"), 2, "NATIVE-COLUMN-DUPLICATE", "enrolment.csv:1:SITEID", "SITE"),
    # --- values
    Case("dose-not-a-number", set_cell(D, 2, "DOSE", "five"), 2, "NATIVE-PATTERN", "dosing.csv:2:DOSE", "five"),
    Case("dose-negative", set_cell(D, 2, "DOSE", "-5"), 2, "NATIVE-RANGE", "dosing.csv:2:DOSE", "-5"),
    Case("dose-infinity", set_cell(D, 2, "DOSE", "Infinity"), 2, "NATIVE-PATTERN", "dosing.csv:2:DOSE", "Infinity"),
    Case("dose-nan", set_cell(D, 2, "DOSE", "NaN"), 2, "NATIVE-PATTERN", "dosing.csv:2:DOSE", "NaN"),
    Case("dose-1e999", set_cell(D, 2, "DOSE", "1e999"), 2, "NATIVE-PATTERN", "dosing.csv:2:DOSE", "1e999"),
    Case("dose-unit-wrong", set_cell(D, 2, "DOSEU", "g/j"), 2, "NATIVE-CODE", "dosing.csv:2:DOSEU", "g/j"),
    Case("dose-start-feb-30", set_cell(D, 2, "EXSTDAT", "2011-02-30"), 2, "NATIVE-DATE", "dosing.csv:2:EXSTDAT", "2011-02-30"),
    Case("dose-start-french-format", set_cell(D, 2, "EXSTDAT", "15/10/2011"), 2, "NATIVE-PATTERN", "dosing.csv:2:EXSTDAT", "15/10/2011"),
    Case("dose-change-reason-unknown", set_cell(D, 2, "CHGREAS", "WHIM"), 2, "NATIVE-CODE", "dosing.csv:2:CHGREAS", "WHIM"),
    Case("sex-unknown-code", set_cell(E, 2, "SEX", "X"), 2, "NATIVE-CODE", "enrolment.csv:2:SEX", "X"),
    Case("age-not-a-number", set_cell(E, 2, "AGE", "abc"), 2, "NATIVE-PATTERN", "enrolment.csv:2:AGE", "abc"),
    Case("age-negative", set_cell(E, 2, "AGE", "-3"), 2, "NATIVE-PATTERN", "enrolment.csv:2:AGE", "-3"),
    Case("consent-month-13", set_cell(E, 2, "CONSDAT", "2011-13-05"), 2, "NATIVE-DATE", "enrolment.csv:2:CONSDAT", "2011-13-05"),
    Case("consent-missing", set_cell(E, 2, "CONSDAT", ""), 2, "NATIVE-REQUIRED", "enrolment.csv:2:CONSDAT", ""),
    Case("subject-id-empty", set_cell(E, 2, "SUBJID", ""), 2, "NATIVE-REQUIRED", "enrolment.csv:2:SUBJID", ""),
    Case("dosing-subject-not-enrolled", set_cell(D, 2, "SUBJID", "999"), 2, "NATIVE-NOT-ENROLLED", "dosing.csv:2:SUBJID", "999"),
    Case("ae-grade-7", set_cell(A, 2, "AEGRADE", "7"), 2, "NATIVE-CODE", "adverse_events.csv:2:AEGRADE", "7"),
    Case("ae-serious-maybe", set_cell(A, 2, "AESER", "maybe"), 2, "NATIVE-CODE", "adverse_events.csv:2:AESER", "maybe"),
    Case("ae-start-not-a-date", set_cell(A, 2, "AESTDAT", "yesterday"), 2, "NATIVE-PATTERN", "adverse_events.csv:2:AESTDAT", "yesterday"),
    Case("ae-outcome-unknown", set_cell(A, 2, "AEOUT", "BETTER"), 2, "NATIVE-CODE", "adverse_events.csv:2:AEOUT", "BETTER"),
    Case("response-unknown", set_cell(R, 2, "RESP", "great"), 2, "NATIVE-CODE", "response.csv:2:RESP", "great"),
    Case("response-visit-unknown", set_cell(R, 2, "VISIT", "M99X"), 2, "NATIVE-PATTERN", "response.csv:2:VISIT", "M99X"),
    Case("lab-code-unknown", set_cell(L, 2, "LBCODE", "ZZZ"), 2, "NATIVE-CODE", "laboratory.csv:2:LBCODE", "ZZZ"),
    Case("lab-unit-unknown", set_cell(L, 2, "LBUNIT", "furlongs"), 2, "NATIVE-CODE", "laboratory.csv:2:LBUNIT", "furlongs"),
    Case("end-status-unknown", set_cell(S, 2, "EOSSTAT", "GONE"), 2, "NATIVE-CODE", "end_of_study.csv:2:EOSSTAT", "GONE"),
    Case("end-treatment-reason-unknown", set_cell(S, 2, "EOTREAS", "BORED"), 2, "NATIVE-CODE", "end_of_study.csv:2:EOTREAS", "BORED"),
    # --- what the package cannot hold: stopped whole
    Case("ae-term-emoji-cjk", set_cell(A, 2, "AETERM", "Fièvre 🤒 発熱"), 2, "XPT-ASCII-UNMAPPED", "ae:AETERM:1", "U+1F912"),
    Case("ae-term-nul", set_cell(A, 2, "AETERM", "GVH\x00aigue"), 2, "XPT-ASCII-UNMAPPED", "ae:AETERM:1", "U+0000"),
    Case("ae-term-escape-sequence", set_cell(A, 2, "AETERM", "GVH \x1b[2J aigue"), 2, "XPT-ASCII-UNMAPPED", "ae:AETERM:1", "x1b"),
    Case("lab-result-400-digits", set_cell(L, 2, "LBRES", LONG), 2, "XPT-TEXT-LENGTH", "lb:LBORRES:1", "laboratory.csv:2"),
    Case("lab-result-infinity", set_cell(L, 2, "LBRES", "Infinity"), 2, "NATIVE-PATTERN", "laboratory.csv:2:LBRES", "Infinity"),
    # --- limits
    Case("ae-term-100k", set_cell(A, 2, "AETERM", "GVH " + "x" * 100_000), 2, "LIMIT-FIELD", "adverse_events.csv:2:AETERM", "100,004"),
    Case("registry-title-10m", registry(ident({"officialTitle": "T" * 10_000_000})), 2, "LIMIT-REGISTRY-TEXT", "registry.json:protocolSection.identificationModule.officialTitle", "10,000,000"),
    Case("registry-17-mb", lambda f: (f / "registry.json").write_bytes((f / "registry.json").read_bytes() + b" " * 17_000_000), 2, "LIMIT-FILE-SIZE", "registry.json", "16,777,216"),
    Case("registry-title-40k", registry(ident({"officialTitle": "T" * 40_000})), 2, "LIMIT-REGISTRY-TEXT", "registry.json:protocolSection.identificationModule.officialTitle", "40,000"),
    # --- more values
    Case("birth-feb-29-non-leap", set_cell(E, 2, "BRTHDAT", "1959-02-29"), 2, "NATIVE-DATE", "enrolment.csv:2:BRTHDAT", "1959-02-29"),
    Case("lab-date-day-00", set_cell(L, 2, "LBDAT", "2011-10-00"), 2, "NATIVE-DATE", "laboratory.csv:2:LBDAT", "2011-10-00"),
    Case("response-date-slashes", set_cell(R, 2, "RSDAT", "2011/10/08"), 2, "NATIVE-PATTERN", "response.csv:2:RSDAT", "2011/10/08"),
    Case("death-date-not-a-date", set_cell(S, 2, "DTHDAT", "soon"), 2, "NATIVE-PATTERN", "end_of_study.csv:2:DTHDAT", "soon"),
    Case("lab-low-not-a-number", set_cell(L, 2, "LBLOW", "abc"), 2, "NATIVE-PATTERN", "laboratory.csv:2:LBLOW", "abc"),
    Case("ae-spid-not-a-number", set_cell(A, 2, "AESPID", "x"), 2, "NATIVE-PATTERN", "adverse_events.csv:2:AESPID", "x"),
    Case("site-country-not-iso", set_cell(E, 2, "SITECTRY", "FRANCE"), 2, "NATIVE-PATTERN", "enrolment.csv:2:SITECTRY", "FRANCE"),
    # --- JSON that parses but means nothing definite (the hidden-corpus campaign, issue 10)
    Case("registry-duplicate-key", registry_text('"acronym": "REVALLO"', '"acronym": "REVALLO", "acronym": "OTHER"'), 2, "NATIVE-JSON-AMBIGUOUS", "registry.json:$.protocolSection.identificationModule", "acronym"),
    Case("registry-lone-surrogate", registry_text('"acronym": "REVALLO"', '"acronym": "REV\\ud800ALLO"'), 2, "NATIVE-JSON-AMBIGUOUS", "registry.json:$.protocolSection.identificationModule.acronym", "REV\\ud800ALLO"),
    Case("registry-nan", registry_text('"acronym": "REVALLO"', '"acronym": "REVALLO", "x": NaN'), 2, "NATIVE-JSON-AMBIGUOUS", "registry.json:$.protocolSection.identificationModule.x", "NaN"),
    Case("spec-header-column-twice", lambda f: (f / "spec" / "variables.csv").write_bytes((f / "spec" / "variables.csv").read_bytes().replace(b"codelist\n", b"codelist,dataset\n", 1)), 2, "SPEC-UNREADABLE", "variables.csv", "column 'dataset' appears 2 times"),
    Case("spec-row-short", lambda f: (f / "spec" / "variables.csv").write_bytes((f / "spec" / "variables.csv").read_bytes().replace(b"SUPPQUAL,STUDYID,Protocol,,,,", b"SUPPQUAL,STUDYID,Protocol", 1)), 2, "SPEC-UNREADABLE", "variables.csv", "line 2 has 3 fields; expected 7"),
    Case("registry-5000-digit-number", registry_text('"acronym": "REVALLO"', '"acronym": "REVALLO", "x": ' + "9" * 5000), 2, "NATIVE-JSON-AMBIGUOUS", "registry.json:$.protocolSection.identificationModule.x", "5,000 digits"),
    Case("hla-match-unknown", set_cell(E, 2, "HLAMATCH", "8/10"), 2, "NATIVE-CODE", "enrolment.csv:2:HLAMATCH", "8/10"),
)
