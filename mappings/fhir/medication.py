"""Medication from SDTM EX: one per study treatment (distinct EXTRT), referenced by every
MedicationAdministration of it.

Rules:
- id: resource_id("Medication", EXTRT) (EXTRT as in EX, e.g. LENALIDOMIDE: the registry's intervention
  name upper-cased is the same key); identifier: EXTRT (SYSTEM_MEDICATION);
- code: the drug codes the study declares for EXTRT (StudyInfo.treatments: RxNorm, ATC, UNII) and EXTRT as
  text. An EXTRT the study gives no code keeps its text (finding);
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
    coding,
    concept,
    describe,
    identifier,
    narrative,
    prune,
    resource_id,
    sdtm_columns,
    system,
    with_text,
)
from trialbridge.mappings.fhir.r4_differences import R4Differences, rename, to_r4
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.sdtm_standards import terminology

DOSE_FORM_CODELIST = "C66726"  # CDISC Pharmaceutical Dosage Form (EXDOSFRM)

UNII = "http://fdasis.nlm.nih.gov"  # FDA UNII (THO NamingSystem fdasis, preferred URI)


def drug_codes(inp: FhirInput, extrt: str) -> tuple[dict, ...]:
    """The codes the study declares for a treatment (StudyInfo.treatments: RxNorm ingredient RxCUI, WHO ATC,
    FDA UNII), in that order; none when the study does not declare the treatment."""
    treatment = inp.study.treatment(extrt) if inp.study is not None else None
    if treatment is None:
        return ()
    return tuple(coding(system_, code) for system_, code in
                 ((RXNORM, treatment.rxnorm), (ATC, treatment.atc), (UNII, treatment.unii)) if code)
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
    """The R5 resources, each with its generated narrative."""
    return [with_text(r, narrative(describe(r))) for r in _resources_r5(inp)]


def _resources_r5(inp: FhirInput) -> list[dict]:
    treatments = _treatments(inp)
    return [
        prune({
            "resourceType": "Medication",
            "id": medication_key(extrt),
            "identifier": [identifier(system(inp, SYSTEM_MEDICATION), extrt)],
            "code": concept(*drug_codes(inp, extrt), text=extrt),
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
        if not drug_codes(inp, extrt):
            found.append(finding("FHIR-MEDICATION-UNCODED", f"{location}.code", [extrt], treatment=extrt))
        if len(forms) > 1:
            found.append(finding("FHIR-MEDICATION-FORMS", f"{location}.{element}", forms,
                                 treatment=extrt, count=len(forms), forms=", ".join(forms)))
    return found
