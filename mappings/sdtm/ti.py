"""Registry eligibility text (API v2 `eligibilityModule.eligibilityCriteria`) -> TI (SDTMIG 3.4 Trial
Inclusion/Exclusion Criteria): one record per criterion.

The registry holds the criteria as one text: headings ("Inclusion Criteria:", "Key Exclusion Criteria")
followed by list items (markdown `*`/`-` in API v2 records, "1." or "-" with hard-wrapped lines in legacy
XML). `criteria` splits it:
- a heading that names inclusion or exclusion criteria starts that category (IECAT INCLUSION/EXCLUSION), as
  does a short line ending in ":" that names one of them ("Transplant Inclusion:", "Exclusions:");
  text before any heading is INCLUSION (observational records often list only who is included), unless an
  inclusion heading follows: then it is a preamble, no criterion (BMS records open with "For more
  information regarding BMS clinical trial participation, please visit ...");
- an item starts at a list marker ("\u2022" may touch its text); the first item's indentation is the top
  level (numbers right-aligned, "9." above "10.", and shallower items are top-level too); deeper-indented
  items are sub-items of the item above and are joined
  to it with "; " (the criterion is the item with its parts); a line without a marker continues the
  item above, unless it starts a paragraph (after a blank line, not indented under the items: legacy
  records' free sentences between lists) which is a criterion of its own, or a lead-in to the items
  after it when it ends in ":" ("... include the following:"); without any marker in a section, each line
  is a criterion;
- a sub-heading (a line without a list marker, at most eight words, ending in ":", not indented deeper
  than the section's list items: "DISEASE CHARACTERISTICS:", "Hepatic:", "Patients must have:", as the
  NCI PDQ records of oncology trials write them) is no criterion: it heads the criteria that follow it
  until the next sub-heading, each of which starts with it ("Hepatic: Bilirubin less than 1.5 mg/dL"),
  so a criterion such as "Not specified" keeps its meaning; markdown escapes (`\\>=`) are removed.
`criterion_parts` gives the same criteria unjoined: (IECAT, sub-heading, [item, sub-item, ...]) each, so
that a record whose list lost its nesting (classic v1 JSON flattens it) can be compared with one that kept it.
IETESTCD is INCL01, INCL02, ... / EXCL01, ... in the order written. IETEST holds the criterion; a text
over 200 characters keeps its first words and ends in "..." (SDTMIG 3.4 TI assumption 4), and its full
text is returned so that define.xml carries it in the comment of IETEST.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import pandas as pd

from trialbridge.schemas.provenance import SOURCE_FILE, SOURCE_LINE
from trialbridge.mappings.sdtm.algorithms import Mapped, finalize, no_rejects
from trialbridge.mappings.sdtm.te import MAX_TEXT, shorten, with_identity
from trialbridge.schemas.findings import finding
from trialbridge.schemas.sdtm_spec import Dataset

_HEADING = re.compile(r"^\s*[#*_\s]*(?P<words>[^:]{0,60}?\b(?P<kind>inclusion|exclusion)\s+criteri(?:a|on)\b[^:]{0,60}?)"
                      r"[*_\s]*(?::[*_\s]*(?P<rest>.*))?$", re.I)
_MARKER = re.compile(r"^(?P<indent>\s*)(?:(?:[-*+\u2022\u00b7\u25aa\u25cf\u2013o]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)]|"
                     r"\(?(?:i|ii|iii|iv|v|vi|vii|viii|ix|x)[.)])\s+|[\u2022\u25aa\u25cf](?=\S))(?P<text>.*)$")
# a short unmarked line ending in ":" that names one category without the word "criteria" ("Transplant
# Inclusion:", "Exclusions:")
_SHORT_HEADING = re.compile(r"^\s*(?P<words>(?:[\w/()&-]+\s+){0,4}?(?P<kind>inclusion|exclusion)s?)\s*:\s*$", re.I)
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # a markdown escape: a backslash before ASCII punctuation
CATEGORIES = {"inclusion": "INCLUSION", "exclusion": "EXCLUSION"}
PREFIX = {"INCLUSION": "INCL", "EXCLUSION": "EXCL"}


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", _ESCAPE.sub(r"\1", text)).strip()


def _heading(line: str) -> tuple[str, str] | None:
    """(category, text after the heading) when the line is an inclusion/exclusion heading."""
    found = _HEADING.match(line) or _SHORT_HEADING.match(line)
    if not found or _MARKER.match(line) and len(found.group("words")) > 40:
        return None
    words = found.group("words").lower()
    if "inclusion" in words and "exclusion" in words:
        return None  # "see inclusion and exclusion criteria below": prose, not a heading
    return CATEGORIES[found.group("kind").lower()], found.groupdict().get("rest") or ""


Item = tuple[str, list[str]]  # (sub-heading or "", [item text, sub-item text, ...])
# Legacy records right-align their numbers ("  9." above " 10."): an item one column deeper than the first
# is still a top-level item; a sub-item is indented at least two columns deeper (markdown) or five.
ALIGN = 1
MAX_HEADING_WORDS = 8


def _is_subheading(line: str, marked: bool, top: int | None) -> bool:
    """An unmarked short line ending in ":" that is not indented deeper than the list items (a hard-wrapped
    item's last line, "combinations:", is indented under its item's text)."""
    text = _clean(line)
    indent = len(line) - len(line.lstrip())
    return (not marked and text.endswith(":") and len(text.split()) <= MAX_HEADING_WORDS
            and (top is None or indent <= top))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _section_items(lines: list[str]) -> list[Item]:
    """The criteria of one section: list items with their sub-items and continuation lines, each under
    the sub-heading before it."""
    marked = [_MARKER.match(line) for line in lines]
    top = next((len(m.group("indent")) for m in marked if m), None)  # the first item is a top-level one
    items: list[tuple[str, list[str]]] = []
    heading, lead, leads = "", [], set()
    blank = False
    for line, mark in zip(lines, marked):
        if not line.strip():
            blank = True
            continue
        paragraph, blank = blank and not mark and top is not None and _indent(line) <= top and bool(items), False
        if paragraph:  # a paragraph after the list, not indented under an item: a criterion of its own
            lead = []
        if _is_subheading(line, bool(mark), top):
            heading, lead = _clean(line), []
        elif top is None:  # no list markers: every line is a criterion (the registry keeps one per line)
            items.append((heading, [line.strip()]))
        elif mark and len(mark.group("indent")) <= top + ALIGN:
            items.append((heading, [mark.group("text")]))
        elif mark and items:
            items[-1][1].append("; " + mark.group("text"))
        elif items and items[-1][0] == heading and not paragraph and not lead:
            items[-1][1][-1] += " " + line.strip()
        else:  # text before an item: a criterion, unless it is a lead-in ("... the following:")
            lead.append(line.strip())
            if len(lead) == 1:
                items.append((heading, [""]))
                leads.add(len(items) - 1)
            items[-1][1][0] = " ".join(lead)
    found = [(head, [_clean(p.removeprefix("; ")) for p in parts]) for head, parts in items]
    return [(head, parts) for n, (head, parts) in enumerate(found)
            if parts[0] and not (n in leads and parts[0].endswith(":"))]


def criterion_parts(text: str) -> list[tuple[str, str, list[str]]]:
    """(IECAT, sub-heading or "", [item, sub-item, ...]) for every criterion, in the order written."""
    sections: list[tuple[str, list[str]]] = [("INCLUSION", [])]
    for line in str(text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        heading = _heading(line)
        if heading:
            sections.append((heading[0], [heading[1]] if heading[1].strip() else []))
        else:
            sections[-1][1].append(line.rstrip())
    if any(category == "INCLUSION" for category, _ in sections[1:]):
        sections = sections[1:]  # text before an explicit inclusion heading is a preamble ("For more information ...")
    return [(category, head, parts) for category, lines in sections for head, parts in _section_items(lines)]


def criteria(text: str) -> list[tuple[str, str]]:
    """(IECAT, criterion text) for every criterion of a registry eligibility text, in the order written:
    the sub-heading, the item, its sub-items joined with "; "."""
    return [(category, " ".join(filter(None, [head, "; ".join(parts)])))
            for category, head, parts in criterion_parts(text)]


def criteria_rows(registry: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(IETESTCD, IETEST, IECAT, full text) per criterion."""
    eligibility = ((registry.get("protocolSection") or {}).get("eligibilityModule") or {})
    counts = {"INCLUSION": 0, "EXCLUSION": 0}
    rows = []
    for category, text in criteria(eligibility.get("eligibilityCriteria", "")):
        counts[category] += 1
        rows.append((f"{PREFIX[category]}{counts[category]:02d}", shorten(text, MAX_TEXT), category, text))
    return rows


def shortened_criteria(registry: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(IETESTCD, IETEST, full text) of every criterion whose text did not fit IETEST as written."""
    return [(code, test, full) for code, test, _, full in criteria_rows(registry)
            if test != re.sub(r"\s+", " ", full).strip()]


def map_ti(registry: Mapping[str, Any], dataset: Dataset, source: str) -> tuple[Mapped, list[tuple[str, str, str]]]:
    """TI, and (IETESTCD, IETEST, full text) of every criterion whose text was shortened."""
    rows = criteria_rows(registry)
    if not rows:
        empty = pd.DataFrame(columns=[*dataset.names, SOURCE_FILE, SOURCE_LINE])
        return Mapped(table=empty, supp=None, findings=[finding("TI-NO-CRITERIA", source, [])], rejected=no_rejects()), []
    src = pd.DataFrame(rows, columns=["IETESTCD", "IETEST", "IECAT", "FULL"], dtype=object)
    ti = with_identity(src, registry, "TI", source)
    long_texts = shortened_criteria(registry)
    findings = [finding("TI-IETEST-SHORTENED", "ti:IETEST", [code for code, _, _ in long_texts],
                        count=len(long_texts), codes=", ".join(code for code, _, _ in long_texts[:10]))] if long_texts else []
    return Mapped(table=finalize(ti, dataset), supp=None, findings=findings, rejected=no_rejects()), long_texts
