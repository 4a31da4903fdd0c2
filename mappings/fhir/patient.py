"""Patient from SDTM DM: one per subject (DM row), the same in R4 and R5.

Rules (DM variable -> Patient element):
- id: resource_id("Patient", USUBJID); identifier: USUBJID (SYSTEM_USUBJID, use official), then the
  site's subject id SUBJID (SYSTEM_SUBJID, assigned by the site Organization);
- gender from SEX through the required `administrative-gender` binding: M male, F female, U unknown,
  UNDIFFERENTIATED other; SEX empty: no gender; any other value: no gender and a finding;
- birthDate from BRTHDTC as precise as collected (FHIR `date` allows YYYY and YYYY-MM; a date with a
  missing month, "1958---15", keeps its year and is reported);
- deceasedDateTime from DTHDTC (a time without a zone keeps its date, reported); deceasedBoolean true
  when DTHFL = Y without a date; nothing when the subject is not known to have died;
- managingOrganization: the site, resource_id("Organization", "site", SITEID) (built by the
  ResearchStudy mappings from the registry record).
R4 and R5 have the same Patient elements here, so `R4` declares no difference.
"""
from __future__ import annotations

import pandas as pd

from trialbridge.mappings.fhir.common import (
    SYSTEM_SUBJID,
    SYSTEM_USUBJID,
    FhirInput,
    fhir_date,
    fhir_datetime,
    identifier,
    joined,
    narratives,
    prefixed,
    prune,
    reference,
    resource_id,
    sdtm_columns,
    shortened,
    system,
)
from trialbridge.mappings.fhir.r4_differences import R4Differences, to_r4
from trialbridge.schemas.findings import Finding, finding

DM_CHAR = ("USUBJID", "SUBJID", "SITEID", "SEX", "BRTHDTC", "DTHDTC", "DTHFL")
GENDER: dict[str, str] = {"M": "male", "F": "female", "U": "unknown", "UNDIFFERENTIATED": "other"}
R4 = R4Differences()  # Patient: no difference for the elements mapped here


def patient_ids(dm: pd.DataFrame) -> pd.Series:
    return dm["USUBJID"].map(lambda usubjid: resource_id("Patient", usubjid))


SEX_WORDS = {"F": "female", "M": "male", "U": "sex unknown", "UNDIFFERENTIATED": "undifferentiated"}


def build_r5(inp: FhirInput) -> list[dict]:
    dm = sdtm_columns(inp, "DM", DM_CHAR)
    gender = dm["SEX"].map(GENDER).fillna("")
    death = fhir_datetime(dm["DTHDTC"])
    died_undated = (dm["DTHFL"] == "Y") & (death == "")
    text = joined(prefixed("Subject", dm["USUBJID"]), dm["SEX"].map(SEX_WORDS).fillna(dm["SEX"]),
                  prefixed("born", dm["BRTHDTC"]), prefixed("died", dm["DTHDTC"]), prefixed("site", dm["SITEID"]),
                  sep=", ")
    columns = zip(patient_ids(dm), narratives(text), dm["USUBJID"], dm["SUBJID"], dm["SITEID"], gender,
                  fhir_date(dm["BRTHDTC"]), death, died_undated)
    return [
        prune({
            "resourceType": "Patient",
            "id": pid,
            "text": text_of,
            "identifier": [
                identifier(system(inp, SYSTEM_USUBJID), usubjid, use="official"),
                identifier(system(inp, SYSTEM_SUBJID), subjid, assigner=reference("Organization", "site", siteid))
                if subjid else None,
            ],
            "gender": sex,
            "birthDate": birth,
            "deceasedBoolean": True if undated else None,
            "deceasedDateTime": died,
            "managingOrganization": reference("Organization", "site", siteid) if siteid else None,
        })
        for pid, text_of, usubjid, subjid, siteid, sex, birth, died, undated in columns
    ]


def build(inp: FhirInput, release: str, r5: list[dict] | None = None) -> list[dict]:
    """The resources of `release`; `r5`: this module's R5 resources when already built (R4 derives from them)."""
    resources = build_r5(inp) if r5 is None else r5
    return resources if release == "R5" else [to_r4(r, R4) for r in resources]


def unplaced(inp: FhirInput, release: str) -> list[Finding]:
    """What DM holds that Patient cannot carry as it is: unmapped SEX, dates cut to FHIR precision."""
    dm = sdtm_columns(inp, "DM", DM_CHAR)
    ids = patient_ids(dm)
    found: list[Finding] = []
    unmapped = (dm["SEX"] != "") & ~dm["SEX"].isin(list(GENDER))
    for value in sorted(set(dm.loc[unmapped, "SEX"])):
        rows = unmapped & (dm["SEX"] == value)
        found.append(finding("FHIR-PATIENT-GENDER", f"Patient/{ids[rows].iloc[0]}.gender",
                             dm.loc[rows, "USUBJID"], value=value, count=int(rows.sum())))
    for variable, element, converted in (("BRTHDTC", "birthDate", fhir_date(dm["BRTHDTC"])),
                                         ("DTHDTC", "deceasedDateTime", fhir_datetime(dm["DTHDTC"]))):
        cut = shortened(dm[variable], converted)
        if cut.any():
            found.append(finding(
                "FHIR-DATE-SHORTENED", f"Patient/{ids[cut].iloc[0]}.{element}",
                [f"{u}: {a} -> {b}" for u, a, b in zip(dm.loc[cut, "USUBJID"], dm.loc[cut, variable], converted[cut])],
                resource="Patient", element=element, variable=f"DM.{variable}", count=int(cut.sum()),
            ))
    return found
