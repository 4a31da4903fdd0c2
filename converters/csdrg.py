"""Written SDTM package + its findings -> the reviewer's guide skeleton `csdrg.md` and `csdrg.html` beside it.

The sections are those of the PHUSE Clinical Study Data Reviewer's Guide (cSDRG) template, as the CDISC
SDTM-MSG v2.0 sample fills them: 1 Introduction (purpose, acronyms, standards and dictionary inventory),
2 Protocol Description (number and title, design, trial design datasets), 3 Subject Data Description
(overview, traceability, annotated CRFs, SDTM subject domains with their SUPP-- qualifiers and
sponsor-defined terms), 4 Data Conformance Summary (inputs, issues with their explanations), Appendix I
(inclusion/exclusion criteria). Everything the tool knows is filled in from the files and the findings
(TS, the specification, define.xml's facts, the conformance results); what only the sponsor knows is
marked `[Sponsor to complete: ...]`, so the skeleton is ready to finish and never pretends.
A section is a title plus blocks (paragraphs and tables); Markdown and HTML are two renderings of the
same blocks, so they cannot disagree. Deterministic: no clock, sorted tables.
"""
from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Union

import pandas as pd

from trialbridge.schemas.findings import Finding
from trialbridge.schemas.sdtm_spec import StudySpec
from trialbridge.schemas.sdtm_standards import CT_VERSION, SDTMIG_VERSION

GUIDE_MD, GUIDE_HTML = "csdrg.md", "csdrg.html"
TODO = "[Sponsor to complete: {}]"
DESIGN_DATASETS = ("TA", "TE", "TV", "TI", "TS")
SUBJECT_LEVEL_DESIGN = ("SE", "SV")


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


Block = Union[str, Table]


@dataclass(frozen=True)
class Section:
    number: str  # "1", "1.3", "" for an appendix
    title: str
    blocks: tuple[Block, ...] = ()


@dataclass(frozen=True)
class GuideFacts:
    """What the guide is written from."""

    spec: StudySpec
    records: Mapping[str, int]  # dataset -> records written
    ts: pd.DataFrame  # the written TS ("" where null)
    findings: tuple[Finding, ...]
    registry: Mapping[str, Any]
    dictionaries: Mapping[str, str] = field(default_factory=dict)  # MedDRA / CTCAE / ... -> version
    extra_files: tuple[str, ...] = ()  # other files of the package (define.xml, Dataset-JSON, ...)


# --------------------------------------------------------------------------------------------- facts
def ts_values(ts: pd.DataFrame, parmcd: str) -> list[str]:
    """The TSVAL values of one parameter (a null value shows its TSVALNF in brackets)."""
    rows = ts[ts["TSPARMCD"] == parmcd]
    return [v if v else f"({nf or 'null'})" for v, nf in zip(rows["TSVAL"], rows.get("TSVALNF", [""] * len(rows)))]


def ts_value(ts: pd.DataFrame, parmcd: str, default: str = "") -> str:
    values = ts_values(ts, parmcd)
    return ", ".join(values) if values else default


# ------------------------------------------------------------------------------------------ sections
def introduction(facts: GuideFacts) -> list[Section]:
    inventory = [("SDTM", "2.0"), ("SDTMIG", SDTMIG_VERSION), ("Controlled Terminology (CDISC/NCI SDTM)", CT_VERSION),
                 ("Define-XML", "2.1")]
    inventory += [(name, version) for name, version in sorted(facts.dictionaries.items())]
    if any(name.endswith((".json", ".ndjson")) for name in facts.extra_files):
        inventory.append(("Dataset-JSON", "1.1"))
    return [
        Section("1", "Introduction"),
        Section("1.1", "Purpose", (
            "This document provides context for the tabulation datasets and terminology that benefit from "
            "explanation beyond the Define-XML document (define.xml), and a summary of the SDTM conformance "
            "findings.",)),
        Section("1.2", "Acronyms", (Table(("Acronym", "Translation"), (
            ("CRF", "Case Report Form"), ("CTCAE", "Common Terminology Criteria for Adverse Events"),
            ("MedDRA", "Medical Dictionary for Regulatory Activities"),
            ("SDTM", "Study Data Tabulation Model"), ("SUPP--", "Supplemental Qualifiers dataset"),
        )), TODO.format("acronyms used in this study's data and this guide"))),
        Section("1.3", "Study Data Standards and Dictionary Inventory",
                (Table(("Standard or Dictionary", "Versions Used"), tuple(inventory)),)),
    ]


def protocol(facts: GuideFacts) -> list[Section]:
    ts = facts.ts
    number = ts_value(ts, "SPREFID") or ts_value(ts, "REGID", TODO.format("protocol number"))
    design = "; ".join(f"{label}: {ts_value(ts, code)}" for code, label in (
        ("STYPE", "study type"), ("TPHASE", "phase"), ("INTMODEL", "intervention model"),
        ("TBLIND", "blinding"), ("RANDOM", "randomised"), ("TCNTRL", "control"), ("NARMS", "planned arms"),
        ("TRT", "investigational treatment"), ("DOSE", "planned doses"), ("DOSU", "dose unit"),
        ("DOSFRQ", "frequency"), ("ROUTE", "route"), ("INDIC", "indication"),
        ("ACTSUB", "subjects enrolled")) if ts_value(ts, code))
    present = [name for name in DESIGN_DATASETS + SUBJECT_LEVEL_DESIGN if name in facts.records]
    unknown = sorted(set(ts.loc[(ts["TSVAL"] == "") & (ts.get("TSVALNF", "") != ""), "TSPARMCD"]))
    design_blocks: list[Block] = [
        "Are Trial Design datasets included in the submission? "
        + ("Yes: " + ", ".join(present) + "." if present else "No."),
    ]
    missing = [name for name in DESIGN_DATASETS if name not in facts.records]
    if missing:
        design_blocks.append(f"Not included: {', '.join(missing)}. " + TODO.format("why, or add them"))
    if unknown:
        design_blocks.append("TS parameters whose value the source records do not give are submitted with TSVALNF "
                             f"(null flavor) instead of a value: {', '.join(unknown)}. "
                             + TODO.format("the protocol values, through the study specification"))
    return [
        Section("2", "Protocol Description"),
        Section("2.1", "Protocol Number and Title", (
            f"Protocol Number: {number}", f"Registry identifier: {ts_value(ts, 'REGID', '(none)')}",
            f"Protocol Title: {ts_value(ts, 'TITLE', TODO.format('protocol title'))}",
            "Protocol Versions: " + TODO.format("original protocol and amendments, with dates"))),
        Section("2.2", "Protocol Design", (design + "." if design else TODO.format("protocol design"),
                                           TODO.format("epochs, elements and visits in words"))),
        Section("2.3", "Trial Design Datasets", tuple(design_blocks)),
    ]


def _qualifiers(facts: GuideFacts, supp: str) -> Table:
    return Table(("QNAM", "Description", "Origin"),
                 tuple((q.where_value, q.label, q.origin) for q in facts.spec.qualifiers(supp)))


def _sponsor_terms(findings: Iterable[Finding]) -> Table:
    """Values the checks found outside extensible CDISC codelists (SD-CT-EXT): the sponsor-defined terms."""
    rows = sorted({(f.location.split(":")[0].upper(), f.location.split(":")[1], f.values[0] if f.values else "")
                   for f in findings if f.rule == "SD-CT-EXT" and f.location.count(":") >= 1})
    return Table(("Dataset", "Variable", "Sponsor-defined term"), tuple(rows))


def subject_data(facts: GuideFacts) -> list[Section]:
    spec, records = facts.spec, facts.records
    ongoing = ts_value(facts.ts, "ONGOSIND")
    supp_of = {parent: supp for supp, parent in spec.parents.items() if supp in records}
    domains = [(name, d) for name, d in spec.datasets.items()
               if name in records and name not in spec.parents and name not in DESIGN_DATASETS]
    rows = tuple((f"{name} - {d.label}", d.cls, f"{records[name]:,}", "X" if name in supp_of else "",
                  "") for name, d in domains)
    sections = [
        Section("3", "Subject Data Description"),
        Section("3.1", "Overview", (
            "Are the submitted data taken from an ongoing study? "
            + {"Y": "Yes.", "N": "No."}.get(ongoing, TODO.format("ongoing or not")),
            "Do the submission datasets include screen failures? " + TODO.format("yes/no, and where"),
            "Are the submitted data a subset of collected data? " + TODO.format("yes/no"),
            "Were any domains planned, but not submitted because no data were collected? "
            + TODO.format("list, or no"))),
        Section("3.2", "Traceability Flow Diagram", (
            "The SDTM datasets were produced by trialbridge directly from the native CRF exports and the "
            "ClinicalTrials.gov registry record, through the study mapping specification; every input row is "
            "accounted for (written or rejected with its reason) in findings.json. No intermediate datasets.",)),
        Section("3.3", "Annotated CRFs", (
            "Collected variables name their CRF form and column in define.xml (def:Origin); "
            + ("annotated CRF pages are referenced in acrf.pdf." if "acrf.pdf" in facts.extra_files
               else "no annotated CRF is part of this package. " + TODO.format("acrf.pdf and its page references")),)),
        Section("3.4", "SDTM Subject Domains", (Table(("Dataset - Dataset Label", "Class", "Records", "SUPP--",
                                                       "Related Using RELREC"), rows),)),
    ]
    for n, (name, dataset) in enumerate(domains, start=1):
        blocks: list[Block] = []
        if name in supp_of:
            blocks += [f"The following variables are represented in the {supp_of[name]} dataset.",
                       _qualifiers(facts, supp_of[name])]
        blocks.append(TODO.format(f"anything about {name} a reviewer needs beyond define.xml"))
        sections.append(Section(f"3.4.{n}", f"{name} - {dataset.label}", tuple(blocks)))
    terms = _sponsor_terms(facts.findings)
    if terms.rows:
        sections.append(Section(f"3.4.{len(domains) + 1}", "Sponsor-Defined Terms", (
            "Terms added to extensible CDISC codelists (listed as extended values in define.xml):", terms)))
    return sections


def conformance(facts: GuideFacts) -> list[Section]:
    issues = [f for f in facts.findings if f.severity in ("error", "warning")]
    counts = Counter((f.rule, f.severity, f.location.split(":")[0].upper(), f.explanation.justification
                      if f.explanation is not None else "") for f in issues)
    rows = tuple((dataset, rule, severity, f"{count:,}", reason or TODO.format("explanation"))
                 for (rule, severity, dataset, reason), count in sorted(counts.items()))
    return [
        Section("4", "Data Conformance Summary"),
        Section("4.1", "Conformance Inputs", (
            "Were validation checks performed to evaluate conformance? Yes: the trialbridge SDTM, Define-XML and "
            f"Dataset-JSON checks (SDTMIG {SDTMIG_VERSION}, CDISC CT {CT_VERSION}, the official Define-XML 2.1 "
            "schema) on the files as written; each rule's result is in findings.json.",
            "Were the SDTM datasets evaluated in relation to define.xml? Yes.",
            "Was define.xml evaluated? Yes, against the Define-XML 2.1 schema and against the data.",
            TODO.format("other validators run (CDISC CORE, Pinnacle 21), with versions"))),
        Section("4.2", "Issues Summary", (Table(("Dataset", "Check ID", "Severity", "Count", "Explanation"), rows)
                                          if rows else "No errors or warnings.",)),
        Section("4.3", "Additional Conformance Details", (TODO.format("or: not applicable"),)),
    ]


def appendix(facts: GuideFacts) -> list[Section]:
    criteria = str(facts.registry.get("protocolSection", {}).get("eligibilityModule", {})
                   .get("eligibilityCriteria", "")).strip()
    lines = [line.strip().lstrip("*").strip().replace("\\", "") for line in criteria.splitlines() if line.strip()]
    return [Section("", "Appendix I: Inclusion/Exclusion Criteria",
                    tuple(lines) if lines else (TODO.format("inclusion and exclusion criteria"),))]


def guide_sections(facts: GuideFacts) -> list[Section]:
    return introduction(facts) + protocol(facts) + subject_data(facts) + conformance(facts) + appendix(facts)


# ----------------------------------------------------------------------------------------- rendering
def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(title: str, sections: list[Section]) -> str:
    out = [f"# {title}", ""]
    for section in sections:
        depth = 2 + section.number.count(".") if section.number else 2
        out += [f"{'#' * depth} {section.number} {section.title}".replace("#  ", "# ").rstrip(), ""]
        for block in section.blocks:
            if isinstance(block, Table):
                out.append("| " + " | ".join(map(_md_cell, block.header)) + " |")
                out.append("|" + "---|" * len(block.header))
                out += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in block.rows]
            else:
                out.append(block)
            out.append("")
    return "\n".join(out)


def to_html(title: str, sections: list[Section]) -> str:
    e = html.escape
    out = ['<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">', f"<title>{e(title)}</title>",
           "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
           "td,th{border:1px solid #999;padding:.2em .5em;text-align:left}.todo{background:#ffc}</style>",
           "</head>", "<body>", f"<h1>{e(title)}</h1>", '<nav id="contents"><ul>']
    out += [f'<li><a href="#s{e(s.number or "appendix")}">{e((s.number + " " + s.title).strip())}</a></li>'
            for s in sections]
    out.append("</ul></nav>")
    for section in sections:
        depth = min(2 + section.number.count("."), 6) if section.number else 2
        anchor = e(section.number or "appendix")
        out.append(f'<section id="s{anchor}"><h{depth}>{e((section.number + " " + section.title).strip())}</h{depth}>')
        for block in section.blocks:
            if isinstance(block, Table):
                out.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in block.header) + "</tr></thead><tbody>")
                out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in block.rows]
                out.append("</tbody></table>")
            else:
                css = ' class="todo"' if "[Sponsor to complete" in block else ""
                out.append(f"<p{css}>{e(block)}</p>")
        out.append("</section>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def write_reviewers_guide(sdtm_dir: Path, facts: GuideFacts, study_id: str) -> list[Path]:
    """Write csdrg.md and csdrg.html into `sdtm_dir`; return their paths."""
    title = f"{study_id} Clinical Study Data Reviewer's Guide (skeleton)"
    sections = guide_sections(facts)
    md, page = Path(sdtm_dir) / GUIDE_MD, Path(sdtm_dir) / GUIDE_HTML
    md.write_text(to_markdown(title, sections), encoding="utf-8")
    page.write_text(to_html(title, sections), encoding="utf-8")
    return [md, page]
