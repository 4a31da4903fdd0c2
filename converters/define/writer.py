"""Define-XML 2.1 for the SDTM package: StudySpec + facts of the written datasets -> define.xml, define.html.

One specification drives the XPT files and this file, so they cannot disagree: every dataset written gets
an ItemGroupDef (class, structure, keys, `def:leaf` to its XPT file), every variable an ItemDef whose
DataType, Length and SignificantDigits come from what was written (`facts`), whose label, role and
origin come from SDTMIG and the study specification. CodeLists list the CDISC terms actually used with
their NCI C-codes; MedDRA and CTCAE are external dictionaries; LB results are described per LBTESTCD
and SUPP-- QVAL per QNAM (value-level metadata with WhereClauseDefs); derivations are MethodDefs and
the notes a reviewer needs are CommentDefs.

This module writes the files; the work is done in `study` (study facts), `plan` (what
define.xml says, on the records of `model`) and `document` (the rendering).

Element order follows the Define-XML 2.1 / ODM 1.3.2 schema, datasets and variables follow the declared
order of the specification, codelists and dictionaries their OIDs: the same inputs give the same bytes.
`define.html` is the page the official stylesheet (`define2-1.xsl`, copied beside) renders, produced
ahead of time with lxml because current browsers no longer apply XSLT to local files.
"""
from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Iterable, Mapping

from lxml import etree

from trialbridge.converters.define.facts import DatasetFacts, XptReader, facts_from_package
from trialbridge.converters.define.model import GroupPlan, Plan
from trialbridge.converters.define.plan import plan_define
from trialbridge.converters.define.study import StudyInfo, planned_kinds, study_info, trial_study_info
from trialbridge.converters.define.document import build_define, define_bytes, define_oids, tool_version
from trialbridge.mappings.trial import Trial
from trialbridge.schemas.define_schema import DEFINE_FILE, STYLESHEET_NAME, no_network_parser, stylesheet_path
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.sdtm_spec import StudySpec

__all__ = [  # what callers import from here; the planning, rendering and study modules hold the rest
    "DEFINE_FILE", "HTML_FILE", "GroupPlan", "Plan", "StudyInfo", "build_define", "define_bytes", "define_oids",
    "package_facts", "plan_define", "planned_kinds", "render_define_html", "study_info", "tool_version",
    "trial_study_info", "write_define", "write_define_package",
]

HTML_FILE = "define.html"
# Stylesheet parameters: show Length / SignificantDigits (what the cross-checks compare) and the comments table.
HTML_PARAMETERS = {"displayLengthDFormatSD": "1", "displayCommentsTable": "1"}


# -------------------------------------------------------------------------------------------- HTML
def render_define_html(define_path: Path, html_path: Path) -> list[Finding]:
    """`define.html`: define.xml rendered with the official stylesheet, no file or network access."""
    try:
        document = etree.parse(str(define_path), no_network_parser())
        access = etree.XSLTAccessControl.DENY_ALL
        transform = etree.XSLT(etree.parse(str(stylesheet_path()), no_network_parser()), access_control=access)
        result = transform(document, **HTML_PARAMETERS)
    except (etree.XMLSyntaxError, etree.XSLTError) as error:
        return [finding("DEFINE-HTML", html_path.name, (), detail=str(error))]
    html_path.write_bytes(bytes(result))
    return []


# ------------------------------------------------------------------------------------------ writer
def write_define(spec: StudySpec, datasets: Mapping[str, DatasetFacts], out_dir: Path, created: datetime,
                 study: StudyInfo, reviewers_guide: str = "") -> list[Finding]:
    """Write define.xml, the stylesheet beside it and define.html into `out_dir`; return the findings."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = plan_define(spec, datasets, study, reviewers_guide)
    define_path = out_dir / DEFINE_FILE
    define_path.write_bytes(define_bytes(build_define(plan, created, study)))
    shutil.copyfile(stylesheet_path(), out_dir / STYLESHEET_NAME)
    findings = list(plan.findings) + render_define_html(define_path, out_dir / HTML_FILE)
    n_values = sum(len(refs) for refs in plan.value_lists.values())
    findings.append(finding(
        "DEFINE-WRITTEN", DEFINE_FILE, [g.dataset.name for g in plan.groups],
        datasets=len(plan.groups), variables=sum(len(g.refs) for g in plan.groups),
        codelists=len(plan.codelists), value_level=n_values, methods=len(plan.methods), comments=len(plan.comments),
    ))
    return findings


def write_define_package(sdtm_dir: Path, spec: StudySpec, trial: Trial, created: datetime,
                         xpt_findings: Iterable[Finding] = (), read: XptReader | None = None,
                         reviewers_guide: str = "") -> list[Finding]:
    """define.xml (+ stylesheet, define.html) for the XPT files already written in `sdtm_dir`.

    The facts come from the files themselves, as `read` (default `xpt.read_xpt`) reads them; `xpt_findings`
    (the XPT writer's) say which variables were transliterated to ASCII; the study facts come from the
    registry record and the AE form.
    """
    facts, info = package_facts(sdtm_dir, spec, trial, xpt_findings, read)
    return write_define(spec, facts, sdtm_dir, created, info, reviewers_guide)


def package_facts(sdtm_dir: Path, spec: StudySpec, trial: Trial, xpt_findings: Iterable[Finding] = (),
                  read: XptReader | None = None) -> tuple[dict[str, DatasetFacts], StudyInfo]:
    """The facts of the XPT files written in `sdtm_dir` and the study facts define.xml states."""
    facts = facts_from_package(sdtm_dir, spec, xpt_findings, read)
    return facts, trial_study_info(trial)
