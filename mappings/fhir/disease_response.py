"""Observation from SDTM RS: one per RS record, the disease response assessment (e.g. IMWG overall response).

Rules (RS variable -> element):
- id: resource_id("Observation", "RS", USUBJID, RSSEQ); identifier "<USUBJID>/<RSSEQ>" (SYSTEM_RESPONSE, in
  the sponsor's namespace);
- text: a generated narrative "<RSTEST>: <RSSTRESC> on <RSDTC> (<RSCAT>, <RSEVAL>)";
- status: final; category: RSCAT as text (the response criteria, e.g. DURIE MULTIPLE MYELOMA 2006);
- code: RSTESTCD as its CDISC NCI C-code (codelist C96782 Oncology Response Assessment Test Code), text RSTEST;
- subject: the Patient of USUBJID; effectiveDateTime: RSDTC as precise as collected; the study: the
  workflow-researchStudy extension, as for laboratory results;
- valueCodeableConcept: RSSTRESC as its NCI C-code (codelist C96785 Oncology Response Assessment Result),
  text RSORRES as collected;
- performer is not set (RSEVAL names a role, INVESTIGATOR, not a person): it stays in the narrative.
Built only when the SDTM hub has an RS table (generic: no study constant). R4 and R5 Observation have the
same elements for these, so `R4` declares no difference.
"""
from __future__ import annotations

import pandas as pd

from trialbridge.mappings.fhir.common import (
    EXTENSION_RESEARCH_STUDY,
    NCIT,
    FhirInput,
    coding,
    concept,
    fhir_datetime,
    joined,
    narratives,
    prefixed,
    prune,
    reference,
    resource_id,
    sdtm_columns,
    system,
)
from trialbridge.mappings.fhir.observation import number_text
from trialbridge.mappings.fhir.r4_differences import R4Differences
from trialbridge.mappings.fhir.research_study import study_key
from trialbridge.schemas.sdtm_standards import terminology

SYSTEM_RESPONSE = "urn:trialbridge:disease-response"  # one RS record: "<USUBJID>/<RSSEQ>"
TEST_CODELIST, RESULT_CODELIST = "C96782", "C96785"  # CDISC Oncology Response Assessment Test Code / Result
RS_CHAR = ("USUBJID", "RSTESTCD", "RSTEST", "RSCAT", "RSORRES", "RSSTRESC", "RSEVAL", "RSDTC")
RS_NUM = ("RSSEQ",)
R4 = R4Differences()  # Observation: no difference for the elements mapped here


def _coded(codelist: str, value: str, text: str) -> dict:
    ct = terminology()
    c_code = ct.term_code(codelist, value) if value else ""
    return concept(*([coding(NCIT, c_code, ct.decode(codelist, value))] if c_code else []), text=text or value)


def response_text(rs: pd.DataFrame) -> pd.Series:
    head = joined(joined(rs["RSTEST"], rs["RSSTRESC"], sep=": "), prefixed("on", rs["RSDTC"]), sep=" ")
    return joined(head, joined(rs["RSCAT"], rs["RSEVAL"], sep=", ").map(lambda t: f"({t})" if t else ""), sep=" ")


def build_r5(inp: FhirInput) -> list[dict]:
    if inp.sdtm.get("RS") is None:
        return []
    rs = sdtm_columns(inp, "RS", RS_CHAR, RS_NUM)
    seq = number_text(rs["RSSEQ"])
    tests = {(c, t): _coded(TEST_CODELIST, c, t) for c, t in zip(rs["RSTESTCD"], rs["RSTEST"])}
    results = {(c, t): _coded(RESULT_CODELIST, c, t) for c, t in zip(rs["RSSTRESC"], rs["RSORRES"]) if c or t}
    categories = {cat: [concept(text=cat)] for cat in rs["RSCAT"].unique() if cat}
    study = [{"url": EXTENSION_RESEARCH_STUDY, "valueReference": reference("ResearchStudy", *study_key(inp))}]
    identifier_system = system(inp, SYSTEM_RESPONSE)
    columns = zip(narratives(response_text(rs)), rs["USUBJID"], seq, rs["RSCAT"], rs["RSTESTCD"], rs["RSTEST"],
                  fhir_datetime(rs["RSDTC"]), rs["RSSTRESC"], rs["RSORRES"])
    return [
        prune({
            "resourceType": "Observation",
            "id": resource_id("Observation", "RS", usubjid, rsseq),
            "text": text,
            "extension": study,
            "identifier": [{"system": identifier_system, "value": f"{usubjid}/{rsseq}"}],
            "status": "final",
            "category": categories.get(cat),
            "code": tests[(testcd, test)],
            "subject": reference("Patient", usubjid),
            "effectiveDateTime": when,
            "valueCodeableConcept": results.get((result, collected)),
        })
        for text, usubjid, rsseq, cat, testcd, test, when, result, collected in columns
    ]


def build(inp: FhirInput, release: str, r5: list[dict] | None = None) -> list[dict]:
    """The resources of `release`; `r5`: this module's R5 resources when already built (R4 shares them)."""
    return build_r5(inp) if r5 is None else r5
