"""Medication from SDTM EX: one per study treatment (distinct EXTRT), referenced by every
MedicationAdministration of it.

Rules:
- id: resource_id("Medication", EXTRT) (EXTRT as in EX, e.g. LENALIDOMIDE: the registry's intervention
  name upper-cased is the same key); identifier: EXTRT (SYSTEM_MEDICATION);
- code: the drug codes known for EXTRT (MEDICATION_CODES) and EXTRT as text. Lenalidomide: RxNorm
  ingredient RxCUI 342369 and WHO ATC L04AX04. An EXTRT with no known code keeps its text (finding);
- doseForm (R4 `form`) from EXDOSFRM when one form is used: SNOMED CT (DOSE_FORMS; R4's example value
  set medication-form-codes lists 385049006 Capsule) plus the CDISC term's NCI C-code (codelist
  C66726) and EXDOSFRM as text. Several forms for one EXTRT: no doseForm (finding).
R4 renames doseForm to form; nothing else differs for these elements.
"""
from __future__ import annotations

import pandas as pd

from trialbridge.mappings.fhir.common import (
    ATC,
    NCIT,
    RXNORM,
    SNOMED,
    SYSTEM_MEDICATION,
    FhirInput,
    R4Differences,
    coding,
    concept,
    identifier,
    prune,
    rename,
    resource_id,
    sdtm_columns,
    to_r4,
)
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.sdtm_spec import terminology

DOSE_FORM_CODELIST = "C66726"  # CDISC Pharmaceutical Dosage Form (EXDOSFRM)

# Drug codes by EXTRT. RxNorm: ingredient (TTY IN) RxCUI; ATC: WHO ATC/DDD index.
MEDICATION_CODES: dict[str, tuple[dict, ...]] = {
    "LENALIDOMIDE": (coding(RXNORM, "342369", "lenalidomide"), coding(ATC, "L04AX04", "lenalidomide")),
}
# SNOMED CT dose forms by CDISC EXDOSFRM (the codes of the FHIR medication-form-codes examples).
DOSE_FORMS: dict[str, dict] = {
    "CAPSULE": coding(SNOMED, "385049006", "Capsule"),
    "TABLET": coding(SNOMED, "385055001", "Tablet"),
}

R4 = R4Differences(rename("doseForm", "form"))


def medication_key(extrt: str) -> str:
    return resource_id("Medication", extrt)


def _treatments(inp: FhirInput) -> pd.DataFrame:
    """One row per EXTRT (first appearance order): the treatment and its dose forms."""
    ex = sdtm_columns(inp, "EX", ("EXTRT", "EXDOSFRM"))
    given = ex.loc[ex["EXTRT"] != "", ["EXTRT", "EXDOSFRM"]]
    forms = given.loc[given["EXDOSFRM"] != ""].groupby("EXTRT", sort=False)["EXDOSFRM"].unique()
    names = given["EXTRT"].drop_duplicates().tolist()  # a handful of treatments
    return pd.DataFrame({"EXTRT": names, "forms": [tuple(forms.get(name, ())) for name in names]})


def _dose_form(forms: tuple[str, ...]) -> dict | None:
    if len(forms) != 1:
        return None
    form = forms[0]
    c_code = terminology().term_code(DOSE_FORM_CODELIST, form)
    nci = coding(NCIT, c_code, terminology().decode(DOSE_FORM_CODELIST, form)) if c_code else None
    return concept(*(c for c in (DOSE_FORMS.get(form), nci) if c), text=form)


def build_r5(inp: FhirInput) -> list[dict]:
    treatments = _treatments(inp)
    return [
        prune({
            "resourceType": "Medication",
            "id": medication_key(extrt),
            "identifier": [identifier(SYSTEM_MEDICATION, extrt)],
            "code": concept(*MEDICATION_CODES.get(extrt, ()), text=extrt),
            "doseForm": _dose_form(forms),
        })
        for extrt, forms in zip(treatments["EXTRT"], treatments["forms"])
    ]


def build(inp: FhirInput, release: str, r5: list[dict] | None = None) -> list[dict]:
    """The resources of `release`; `r5`: this module's R5 resources when already built (R4 derives from them)."""
    resources = build_r5(inp) if r5 is None else r5
    return resources if release == "R5" else [to_r4(r, R4) for r in resources]


def unplaced(inp: FhirInput, release: str) -> list[Finding]:
    """Treatments without a drug code, and treatments given in several dose forms."""
    found: list[Finding] = []
    element = "doseForm" if release == "R5" else "form"
    treatments = _treatments(inp)
    for extrt, forms in zip(treatments["EXTRT"], treatments["forms"]):
        location = f"Medication/{medication_key(extrt)}"
        if extrt not in MEDICATION_CODES:
            found.append(finding("FHIR-MEDICATION-UNCODED", f"{location}.code", [extrt], treatment=extrt))
        if len(forms) > 1:
            found.append(finding("FHIR-MEDICATION-FORMS", f"{location}.{element}", forms,
                                 treatment=extrt, count=len(forms), forms=", ".join(forms)))
    return found
