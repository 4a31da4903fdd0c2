"""Procedure from SDTM PR: one per PR record (e.g. a stem cell transplant), R5 and R4.

Rules (PR variable -> element), generic: built from the PR columns whenever the SDTM hub has PR:
- id: resource_id("Procedure", USUBJID, PRSEQ); identifier "<USUBJID>/<PRSEQ>" (SYSTEM_PROCEDURE, in the
  sponsor's namespace);
- status: completed; not-done when PRSTAT is NOT DONE or PROCCUR is N, with PRREASND as statusReason text;
- category: PRCAT as text (R5 0..*, R4 0..1: the one category); code: PRTRT as text (PRDECOD when given,
  its text then PRTRT as collected is in the narrative);
- subject: the Patient of USUBJID; occurrence: PRSTDTC (else PRDTC) to PRENDTC as occurrencePeriod, or
  occurrenceDateTime when there is no end (R4: performedPeriod / performedDateTime), as precise as collected;
- reason: PRINDC as a CodeableReference concept text (R4: reasonCode); bodySite: PRLOC as text;
- text: a generated narrative "<PRTRT> (<PRCAT>): completed on <start> to <end>; for <PRINDC>".
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from trialbridge.mappings.fhir.common import (
    FhirInput,
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
from trialbridge.mappings.fhir.r4_differences import R4Differences, drop, recast, rename, to_r4
from trialbridge.mappings.fhir.registry import in_order

SYSTEM_PROCEDURE = "urn:trialbridge:procedure"  # one PR record: "<USUBJID>/<PRSEQ>"
NOT_DONE = "NOT DONE"
PR_CHAR = ("USUBJID", "PRTRT", "PRDECOD", "PRCAT", "PROCCUR", "PRSTAT", "PRREASND", "PRINDC", "PRLOC", "PRSTDTC",
           "PRENDTC", "PRDTC")
PR_NUM = ("PRSEQ",)
ELEMENTS_R4 = ("resourceType", "id", "meta", "text", "contained", "extension", "identifier", "status",
               "statusReason", "category", "code", "subject", "performedDateTime", "performedPeriod",
               "reasonCode", "bodySite", "note")

R4 = R4Differences(
    recast("category", lambda procedure, _: (procedure.get("category") or [None])[0]),  # R4: 0..1
    recast("reasonCode", lambda procedure, _: [r["concept"] for r in procedure.get("reason", []) if "concept" in r]
           or None),
    drop("reason", "R4 reasonCode (the concept of each reason)"),
    rename("occurrenceDateTime", "performedDateTime"),
    rename("occurrencePeriod", "performedPeriod"),
)


def procedure_text(pr: pd.DataFrame, done: np.ndarray, start: pd.Series, end: pd.Series) -> pd.Series:
    """The narrative of each procedure: "<PRTRT> (<PRCAT>): completed on <start> to <end>; for <PRINDC>"."""
    name = joined(pr["PRTRT"], pr["PRCAT"].map(lambda c: f"({c})" if c else ""), sep=" ")
    state = pd.Series(np.where(done, "completed", "not done"), index=pr.index, dtype=object)
    state = joined(state, pd.Series(np.where(done, "", pr["PRREASND"]), index=pr.index), sep=": ")
    when = joined(prefixed("on", start), prefixed("to", end), sep=" ")
    return joined(joined(name, joined(state, when, sep=" "), sep=": "), prefixed("for", pr["PRINDC"]))


def build_r5(inp: FhirInput) -> list[dict]:
    if inp.sdtm.get("PR") is None:
        return []
    pr = sdtm_columns(inp, "PR", PR_CHAR, PR_NUM)
    seq = number_text(pr["PRSEQ"])
    done = ~((pr["PRSTAT"] == NOT_DONE) | (pr["PROCCUR"] == "N")).to_numpy()
    start = fhir_datetime(pr["PRSTDTC"].where(pr["PRSTDTC"] != "", pr["PRDTC"]))
    end = fhir_datetime(pr["PRENDTC"])
    identifier_system = system(inp, SYSTEM_PROCEDURE)
    columns = zip(narratives(procedure_text(pr, done, start, end)), pr["USUBJID"], seq, done, pr["PRREASND"],
                  pr["PRCAT"], pr["PRTRT"], pr["PRDECOD"], start, end, pr["PRINDC"], pr["PRLOC"])
    return [
        prune({
            "resourceType": "Procedure",
            "id": resource_id("Procedure", usubjid, prseq),
            "text": text,
            "identifier": [{"system": identifier_system, "value": f"{usubjid}/{prseq}"}],
            "status": "completed" if ok else "not-done",
            "statusReason": None if ok else concept(text=reason),
            "category": [concept(text=category)],
            "code": concept(text=decod or name),
            "subject": reference("Patient", usubjid),
            "occurrenceDateTime": begin if not finish else None,
            "occurrencePeriod": {"start": begin, "end": finish} if finish else None,
            "reason": [{"concept": concept(text=indication)}] if indication else None,
            "bodySite": [concept(text=site)],
        })
        for text, usubjid, prseq, ok, reason, category, name, decod, begin, finish, indication, site in columns
    ]


def build(inp: FhirInput, release: str, r5: list[dict] | None = None) -> list[dict]:
    """The resources of `release`; `r5`: this module's R5 resources when already built (R4 derives from them)."""
    resources = build_r5(inp) if r5 is None else r5
    return resources if release == "R5" else [in_order(to_r4(r, R4), ELEMENTS_R4) for r in resources]
