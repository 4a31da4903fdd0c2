"""The Trial Summary building blocks: the registry record as the parameters read it, and the value shapes.

A parameter value is `(TSVAL, TSVALCD, TSVCDREF, TSVCDVER, TSVALNF)`; the helpers below build each kind
(text, a CDISC CT term with its C-code and release, an external code with its dictionary and version,
an ISO 8601 value, a null flavor). `Record` remembers which registry paths the parameters read (the rest
is reported as unplaced), gives the study's constants (`StudyInfo`) and DM, and collects findings.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from trialbridge.mappings.study import StudyInfo
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.native import REGISTRY_FILE
from trialbridge.schemas.sdtm_standards import CT_VERSION, terminology

SDTM_VERSION = "2.0"  # the SDTM model version SDTMIG 3.4 implements
TSPARMCD_CODELIST, TSPARM_CODELIST = "C66738", "C67152"
CDISC_CT, ISO_8601, ISO_3166 = "CDISC CT", "ISO 8601", "ISO 3166"
UNII_REF, SNOMED_REF, MESH_REF, MEDRT_REF = "UNII", "SNOMED", "MeSH", "MED-RT"
UNKNOWN = "UNK"  # ISO 21090 null flavor: a value applies but the inputs do not give it
# CDISC CT codelists of the treatment parameters (TSVAL of DOSU, DOSFRQ, ROUTE, DOSFRM) and of TTYPE.
UNIT, FREQUENCY, ROUTE, DOSE_FORM, TRIAL_TYPE = "C71620", "C71113", "C66729", "C66726", "C66739"
SPEC_SEPARATOR = "|"
AGE_UNITS = {"Year": "P{}Y", "Month": "P{}M", "Week": "P{}W", "Day": "P{}D", "Hour": "PT{}H", "Minute": "PT{}M"}
YES_NO = "C66742"


# ------------------------------------------------------------------------------------ the record
@dataclass
class Record:
    """The registry record, remembering which `module.field` paths the parameters read."""

    data: dict[str, Any]
    study: StudyInfo | None = None
    dm: pd.DataFrame | None = None
    used: set[str] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)
    not_given: list[str] = field(default_factory=list)

    def get(self, path: str, default: Any = None) -> Any:
        """The value at a dotted path under protocolSection / derivedSection (e.g. `designModule.phases`)."""
        section = "derivedSection" if path.split(".")[0].endswith("BrowseModule") else "protocolSection"
        node: Any = self.data.get(section, {})
        for key in path.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            self.used.add(".".join(path.split(".")[:2]))
        return default if node is None else node

    def unmapped(self, path: str, value: str, parmcd: str, codelist: str) -> None:
        self.findings.append(finding("TS-VALUE-UNMAPPED", f"{REGISTRY_FILE}:{path}", [value], path=path,
                                     value=value, parmcd=parmcd, codelist=codelist))

    def spec(self, key: str) -> str:
        """A study-level value of the specification (`StudyInfo.extra`), "" when not given."""
        return str(self.study.extra.get(key, "")).strip() if self.study is not None else ""

    def spec_values(self, parmcd: str) -> list[str]:
        """The values of `TS.<parmcd>` in the specification ("|" separates several)."""
        return [v.strip() for v in self.spec(f"TS.{parmcd}").split(SPEC_SEPARATOR) if v.strip()]

    def version(self, reference: str) -> str:
        """The version of an external dictionary the study states (`VERSION.<reference>`)."""
        return self.spec(f"VERSION.{reference}")

    def unknown(self, parmcd: str) -> list[Value]:
        """An expected parameter no input gives: TSVAL null, TSVALNF UNK (reported, never invented)."""
        self.not_given.append(parmcd)
        return [null_flavor(UNKNOWN)]

    def no_code(self, parmcd: str, value: str, reference: str) -> None:
        self.findings.append(finding("TS-CODE-UNKNOWN", f"{REGISTRY_FILE}:{parmcd}", [value], parmcd=parmcd,
                                     value=value, reference=reference))


# A parameter value: TSVAL, TSVALCD, TSVCDREF, TSVCDVER, TSVALNF.
Value = tuple[str, str, str, str, str]


def text(value: str) -> Value:
    return (value, "", "", "", "")


def ct(value: str, codelist: str) -> Value:
    """A CDISC CT term with its NCI C-code."""
    return (value, terminology().term_code(codelist, value), CDISC_CT, CT_VERSION, "")


def coded(value: str, code: str, reference: str, version: str = "") -> Value:
    return (value, code, reference if code else "", version if code else "", "")


def iso8601(value: str) -> Value:
    return (value, "", ISO_8601, "", "")


def null_flavor(flavor: str) -> Value:
    return ("", "", "", "", flavor)


def yes_no(flag: bool) -> Value:
    return ct("Y" if flag else "N", YES_NO)


def iso_duration(age: str) -> str:
    """A registry age ("18 Years", "6 Months") as an ISO 8601 duration (P18Y, P6M)."""
    number, unit = age.split()
    return AGE_UNITS[unit.rstrip("s")].format(number)
