"""Registry eligibility text (API v2 `eligibilityModule.eligibilityCriteria`) -> TI (SDTMIG 3.4 Trial
Inclusion/Exclusion Criteria): one record per criterion.

The registry holds the criteria as one text: headings ("Inclusion Criteria:", "Key Exclusion Criteria")
followed by list items (markdown `*`/`-` in API v2 records, "1." or "-" with hard-wrapped lines in legacy
XML). `criteria` splits it:
- a heading that names inclusion or exclusion criteria starts that category (IECAT INCLUSION/EXCLUSION);
  text before any heading is INCLUSION (observational records often list only who is included);
- an item starts at a list marker; deeper-indented items are sub-items of the item above and are joined
  to it with "; " (the criterion is the item with its parts); a line without a marker continues the
  item above; without any marker in a section, each line is a criterion;
- a lead-in line ending in ":" before the first item ("Patients must have:") is kept as the start of
  the first item's text only when it is not a heading; markdown escapes (`\\>=`) are removed.
IETESTCD is INCL01, INCL02, ... / EXCL01, ... in the order written. IETEST holds the criterion; a text
over 200 characters keeps its first words and ends in "..." (SDTMIG 3.4 TI assumption 4), and its full
text is returned so that define.xml carries it in the comment of IETEST.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import pandas as pd

from trialbridge.schemas.provenance import SOURCE_FILE, SOURCE_LINE
from trialbridge.mappings.sdtm.algorithms import Mapped, finalize, hardcode_no_ct, no_rejects
from trialbridge.mappings.sdtm.te import MAX_TEXT, shorten
from trialbridge.mappings.studyid import registry_study_identifier
from trialbridge.schemas.findings import finding
from trialbridge.schemas.sdtm_spec import Dataset

_HEADING = re.compile(r"^\s*[#*_\s]*(?P<words>[^:]{0,60}?\b(?P<kind>inclusion|exclusion)\s+criteri(?:a|on)\b[^:]{0,60}?)"
                      r"[*_\s]*(?::[*_\s]*(?P<rest>.*))?$", re.I)
_MARKER = re.compile(r"^(?P<indent>\s*)(?:[-*+\u2022\u00b7\u25aa\u25cf\u2013o]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)]|"
                     r"\(?(?:i|ii|iii|iv|v|vi|vii|viii|ix|x)[.)])\s+(?P<text>.*)$")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>~|=])")
CATEGORIES = {"inclusion": "INCLUSION", "exclusion": "EXCLUSION"}
PREFIX = {"INCLUSION": "INCL", "EXCLUSION": "EXCL"}


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", _ESCAPE.sub(r"\1", text)).strip()


def _heading(line: str) -> tuple[str, str] | None:
    """(category, text after the heading) when the line is an inclusion/exclusion heading."""
    found = _HEADING.match(line)
    if not found or _MARKER.match(line) and len(found.group("words")) > 40:
        return None
    words = found.group("words").lower()
    if "inclusion" in words and "exclusion" in words:
        return None  # "see inclusion and exclusion criteria below": prose, not a heading
    return CATEGORIES[found.group("kind").lower()], found.group("rest") or ""


def _section_items(lines: list[str]) -> list[str]:
    """The criteria of one section: list items with their sub-items and continuation lines."""
    marked = [_MARKER.match(line) for line in lines]
    if not any(marked):  # no list markers: every line is a criterion (the registry keeps one per line)
        return [c for c in (_clean(line) for line in lines) if c]
    top = min(len(m.group("indent")) for m in marked if m)
    items: list[list[str]] = []
    lead: list[str] = []
    for line, mark in zip(lines, marked):
        if not line.strip():
            continue
        if mark and len(mark.group("indent")) <= top:
            items.append([mark.group("text")])
        elif mark and items:
            items[-1].append("; " + mark.group("text"))
        elif items:
            items[-1].append(" " + line.strip())
        else:
            lead.append(line.strip())
    found = [_clean("".join(parts)).replace(" ; ", "; ") for parts in items]
    intro = _clean(" ".join(lead))
    if intro and not intro.endswith(":"):
        found.insert(0, intro)
    return [c for c in found if c]


def criteria(text: str) -> list[tuple[str, str]]:
    """(IECAT, criterion text) for every criterion of a registry eligibility text, in the order written."""
    sections: list[tuple[str, list[str]]] = [("INCLUSION", [])]
    for line in str(text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        heading = _heading(line)
        if heading:
            sections.append((heading[0], [heading[1]] if heading[1].strip() else []))
        else:
            sections[-1][1].append(line.rstrip())
    return [(category, item) for category, lines in sections for item in _section_items(lines)]


def criteria_rows(registry: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(IETESTCD, IETEST, IECAT, full text) per criterion."""
    eligibility = ((registry.get("protocolSection") or {}).get("eligibilityModule") or {})
    counts = {"INCLUSION": 0, "EXCLUSION": 0}
    rows = []
    for category, text in criteria(eligibility.get("eligibilityCriteria", "")):
        counts[category] += 1
        rows.append((f"{PREFIX[category]}{counts[category]:02d}", shorten(text, MAX_TEXT), category, text))
    return rows


def map_ti(registry: Mapping[str, Any], dataset: Dataset, source: str) -> tuple[Mapped, list[tuple[str, str, str]]]:
    """TI, and (IETESTCD, IETEST, full text) of every criterion whose text was shortened."""
    rows = criteria_rows(registry)
    if not rows:
        empty = pd.DataFrame(columns=[*dataset.names, SOURCE_FILE, SOURCE_LINE])
        return Mapped(table=empty, supp=None, findings=[finding("TI-NO-CRITERIA", source, [])], rejected=no_rejects()), []
    src = pd.DataFrame(rows, columns=["IETESTCD", "IETEST", "IECAT", "FULL"], dtype=object)
    src[SOURCE_FILE], src[SOURCE_LINE] = source, 0
    ti = src.copy()
    # STUDYID: the registry STUDYID rule; DOMAIN: "TI"
    ti["STUDYID"] = hardcode_no_ct(src, registry_study_identifier(registry))
    ti["DOMAIN"] = hardcode_no_ct(src, "TI")
    long_texts = [(code, test, full) for code, test, _, full in rows if test != re.sub(r"\s+", " ", full).strip()]
    findings = [finding("TI-IETEST-SHORTENED", f"ti:IETEST", [code for code, _, _ in long_texts],
                        count=len(long_texts), codes=", ".join(code for code, _, _ in long_texts[:10]))] if long_texts else []
    return Mapped(table=finalize(ti, dataset), supp=None, findings=findings, rejected=no_rejects()), long_texts
