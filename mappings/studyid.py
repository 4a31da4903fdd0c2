"""Registry record -> SDTM STUDYID: the one rule every place that takes STUDYID from the registry uses.

The rule, in order, first candidate that still holds a character once sanitised:
1. the registry acronym (`identificationModule.acronym`, e.g. REVALLO);
2. the sponsor's own study id (`identificationModule.orgStudyIdInfo.id`, e.g. CHUBX 2010/01);
3. the NCT number (`identificationModule.nctId`, e.g. NCT01421927);
4. `STUDY` (a record with none of the three: never an empty STUDYID).

Sanitised to what an SDTM submission holds (SAS transport v5, SDTMIG 3.4 section 4.1.2): ASCII only (accents
dropped: "ÉTUDE" -> "ETUDE"; a character with no ASCII form removed), no control characters, runs of white
space as one space, no leading or trailing blank, at most 200 characters (the XPT text limit; cut at
the end). A candidate left empty by that (an acronym in Greek letters only) passes to the next one.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any, Mapping

FALLBACK = "STUDY"
MAX_LENGTH = 200
SOURCES = (("acronym", "identificationModule.acronym"), ("orgStudyIdInfo", "identificationModule.orgStudyIdInfo.id"),
           ("nctId", "identificationModule.nctId"))
_SPACES = re.compile(r"\s+")
_NOT_ASCII_PRINTABLE = re.compile(r"[^\x20-\x7e]")


def sanitise(value: Any) -> str:
    """`value` as a STUDYID can hold it: ASCII printable, one space between words, at most 200 characters."""
    text = unicodedata.normalize("NFKD", str(value or ""))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = _NOT_ASCII_PRINTABLE.sub(" ", _SPACES.sub(" ", text))
    return _SPACES.sub(" ", text).strip()[:MAX_LENGTH].strip()


def _candidates(registry: Mapping[str, Any]) -> list[tuple[str, Any]]:
    ident = (registry.get("protocolSection") or {}).get("identificationModule") or {}
    org = ident.get("orgStudyIdInfo") or {}
    return [(SOURCES[0][1], ident.get("acronym")), (SOURCES[1][1], org.get("id") if isinstance(org, dict) else None),
            (SOURCES[2][1], ident.get("nctId"))]


def study_identifier_source(registry: Mapping[str, Any]) -> tuple[str, str]:
    """(STUDYID, the registry path it came from); ("STUDY", "") when the record names none."""
    for path, value in _candidates(registry):
        clean = sanitise(value)
        if clean:
            return clean, path
    return FALLBACK, ""


def registry_study_identifier(registry: Mapping[str, Any]) -> str:
    """STUDYID of a registry record (the rule above); never empty."""
    return study_identifier_source(registry)[0]
