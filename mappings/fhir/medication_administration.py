"""MedicationAdministration from SDTM EX: one per EX record (one dose period at one dose).

Rules (EX variable -> element):
- id: resource_id("MedicationAdministration", USUBJID, EXSEQ); identifier "<USUBJID>/<EXSEQ>"
  (SYSTEM_EXPOSURE);
- the study: the extension workflow-researchStudy (valueReference -> ResearchStudy). Neither release
  has an element for it: R5 `partOf` may only point to a MedicationAdministration, Procedure or
  MedicationDispense, and R4 `context` to an Encounter or EpisodeOfCare. The extension is defined
  for MedicationAdministration in R4 core (4.0.1) and in the R5 extensions package
  (hl7.fhir.uv.extensions.r5), with the same URL, so both releases carry the same extension;
- status: completed when EXENDTC is given, else in-progress (SDTM leaves EXENDTC empty for an
  ongoing exposure); required binding medication-admin-status (R4 and R5 share these codes);
- medication: the Medication of EXTRT (R5 CodeableReference `medication.reference`, R4
  `medicationReference`); subject: the Patient of USUBJID;
- R5 `occurencePeriod` (spelt so in R5.0.0), R4 `effectivePeriod`: EXSTDTC .. EXENDTC;
- dosage: dose {EXDOSE, EXDOSU in UCUM} (the dose of each administration: QD makes it the daily dose);
  route from EXROUTE (SNOMED CT, e.g. 26643006 Oral route, and the CDISC term's NCI C-code, codelist
  C66729); text "<EXDOSE> <EXDOSU> <EXDOSFRQ> <route>". Never rateRatio (a rate is an infusion speed);
- request: the contained MedicationRequest "#regimen" the period follows (status, intent order, the same
  medication and subject), whose dosageInstruction holds the frequency as FHIR intends it, a Timing:
  repeat {frequency, period, periodUnit} from EXDOSFRQ (FREQUENCIES: QD = 1 per 1 d, BID = 2 per 1 d...)
  and Timing.code (HL7 GTSAbbreviation), with doseAndRate.doseQuantity = the dose. R4 and R5 alike (R4
  renames medication.reference to medicationReference, here too);
- text: a generated narrative "<EXTRT> <dose> <unit> <frequency> <route>, from .. to ..";
- note: the reason for a dose adjustment, EXADJ, as written.
"""
from __future__ import annotations

import pandas as pd

from trialbridge.mappings.fhir.common import (
    EXTENSION_RESEARCH_STUDY,
    NCIT,
    SNOMED,
    SYSTEM_EXPOSURE,
    UCUM,
    FhirInput,
    coding,
    concept,
    json_number,
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
from trialbridge.mappings.fhir.r4_differences import R4Differences, rename, to_r4
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.sdtm_standards import terminology

ROUTE_CODELIST = "C66729"  # CDISC Route of Administration (EXROUTE)
# SNOMED CT routes (descendants of 284009009 Route of administration value: FHIR route-codes).
ROUTES: dict[str, dict] = {
    "ORAL": coding(SNOMED, "26643006", "Oral route"),
    "INTRAVENOUS": coding(SNOMED, "47625008", "Intravenous route"),
    "SUBCUTANEOUS": coding(SNOMED, "34206005", "Subcutaneous route"),
    "TRANSDERMAL": coding(SNOMED, "45890007", "Transdermal route"),
}
# CDISC Unit (EXDOSU) -> UCUM code.
UCUM_UNITS: dict[str, str] = {"mg": "mg", "g": "g", "ug": "ug", "mL": "mL", "L": "L", "mg/kg": "mg/kg",
                              "mg/m2": "mg/m2", "ug/kg": "ug/kg", "mmol": "mmol", "IU": "[iU]"}
# CDISC Frequency (EXDOSFRQ, C71113) -> Timing.repeat (frequency per period of periodUnit, UCUM units-of-time)
# and the HL7 v3 GTSAbbreviation code (Timing.code, the timing-abbreviation value set).
FREQUENCIES: dict[str, tuple[int, int, str, str]] = {
    "QD": (1, 1, "d", "QD"), "Q24H": (1, 24, "h", ""), "BID": (2, 1, "d", "BID"), "Q12H": (1, 12, "h", ""),
    "TID": (3, 1, "d", "TID"), "Q8H": (1, 8, "h", "Q8H"), "QID": (4, 1, "d", "QID"), "Q6H": (1, 6, "h", "Q6H"),
    "QOD": (1, 2, "d", "QOD"), "QW": (1, 1, "wk", "WK"), "QM": (1, 1, "mo", "MO"),
}
GTS = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
# the displays of HL7 Terminology 7.0.1 (Q24H and Q12H are not GTSAbbreviation codes: repeat only)
GTS_NAMES = {"QD": "QD", "BID": "BID", "TID": "TID", "Q8H": "every 8 hours", "QID": "QID", "Q6H": "Q6H",
             "QOD": "QOD", "WK": "weekly", "MO": "monthly"}
REGIMEN_ID = "regimen"

EX_CHAR = ("USUBJID", "EXTRT", "EXDOSU", "EXDOSFRQ", "EXROUTE", "EXADJ", "EXSTDTC", "EXENDTC")
EX_NUM = ("EXSEQ", "EXDOSE")

R4 = R4Differences(
    rename("medication.reference", "medicationReference"),  # R5 CodeableReference; R4 a choice
    rename("contained.medication.reference", "contained.medicationReference"),  # the same in the regimen
    rename("occurencePeriod", "effectivePeriod"),
)


def _number(value: float) -> float | int | None:
    """A JSON number: integral values without '.0'; None for null."""
    if pd.isna(value):
        return None
    return json_number(float(value))


def _quantity(value: float, unit: str) -> dict:
    code = UCUM_UNITS.get(unit, "")
    return {"value": _number(value), "unit": unit, **({"system": UCUM, "code": code} if code else {})}


def exposure_keys(ex: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The resource ids of the EX records and their EXSEQ as text ("3", not "3.0")."""
    seq = ex["EXSEQ"].map(lambda v: "" if pd.isna(v) else f"{v:g}")
    ids = [resource_id("MedicationAdministration", u, s) for u, s in zip(ex["USUBJID"], seq)]
    return pd.Series(ids, index=ex.index, dtype=object), seq


def _route(route: str) -> dict:
    ct = terminology()
    c_code = ct.term_code(ROUTE_CODELIST, route)
    nci = coding(NCIT, c_code, ct.decode(ROUTE_CODELIST, route)) if c_code else None
    return concept(*(c for c in (ROUTES.get(route), nci) if c), text=route)


def _timing(frequency: str) -> dict:
    """Timing of a CDISC EXDOSFRQ: repeat {frequency, period, periodUnit} and the HL7 GTS code when known."""
    known = FREQUENCIES.get(frequency)
    if known is None:
        return {"code": concept(text=frequency)}
    times, period, unit, gts = known
    return {"repeat": {"frequency": times, "period": period, "periodUnit": unit},
            "code": concept(*([coding(GTS, gts, GTS_NAMES[gts])] if gts else []), text=frequency)}


def build_r5(inp: FhirInput) -> list[dict]:
    ex = sdtm_columns(inp, "EX", EX_CHAR, EX_NUM)
    if ex.empty:  # a study without EX (e.g. only concomitant medications) administers nothing
        return []
    ids, seq = exposure_keys(ex)
    start, end = fhir_datetime(ex["EXSTDTC"]), fhir_datetime(ex["EXENDTC"])
    status = end.map(lambda e: "completed" if e else "in-progress")
    dose_text = ex["EXDOSE"].map(lambda v: "" if pd.isna(v) else f"{v:g}")
    label = joined(dose_text, ex["EXDOSU"], ex["EXDOSFRQ"], ex["EXROUTE"].str.lower(), sep=" ")
    text = joined(joined(ex["EXTRT"], label, sep=" "), prefixed("from", ex["EXSTDTC"]), prefixed("to", ex["EXENDTC"]),
                  prefixed("adjusted:", ex["EXADJ"]), sep=", ")
    routes = {route: _route(route) for route in ex["EXROUTE"].unique() if route}
    timings = {frequency: _timing(frequency) for frequency in ex["EXDOSFRQ"].unique() if frequency}
    study = [{"url": EXTENSION_RESEARCH_STUDY, "valueReference": reference("ResearchStudy", inp.studyid)}]
    columns = zip(ids, narratives(text), ex["USUBJID"], seq, status, ex["EXTRT"], start, end, ex["EXDOSE"],
                  ex["EXDOSU"], ex["EXDOSFRQ"], ex["EXROUTE"], label, ex["EXADJ"])
    return [
        prune({
            "resourceType": "MedicationAdministration",
            "id": aid,
            "text": text_of,
            "contained": [{  # the regimen this period follows: its frequency is a Timing, which only a request has
                "resourceType": "MedicationRequest",
                "id": REGIMEN_ID,
                "status": "completed" if state == "completed" else "active",
                "intent": "order",
                "medication": {"reference": reference("Medication", extrt)},
                "subject": reference("Patient", usubjid),
                "dosageInstruction": [{"text": words, "timing": timings.get(frequency),
                                       "route": routes.get(route),
                                       "doseAndRate": [{"doseQuantity": _quantity(dose, unit)}]}],
            }],
            "extension": study,
            "identifier": [identifier(system(inp, SYSTEM_EXPOSURE), f"{usubjid}/{exseq}")],
            "status": state,
            "medication": {"reference": reference("Medication", extrt)},
            "subject": reference("Patient", usubjid),
            "occurencePeriod": {"start": begin, "end": finish},
            "request": {"reference": "#" + REGIMEN_ID},
            "note": [{"text": f"Reason for dose adjustment: {adjusted}"}] if adjusted else None,
            "dosage": {"text": words, "route": routes.get(route), "dose": _quantity(dose, unit)},
        })
        for aid, text_of, usubjid, exseq, state, extrt, begin, finish, dose, unit, frequency, route, words, adjusted
        in columns
    ]


def build(inp: FhirInput, release: str, r5: list[dict] | None = None) -> list[dict]:
    """The resources of `release`; `r5`: this module's R5 resources when already built (R4 derives from them)."""
    resources = build_r5(inp) if r5 is None else r5
    return resources if release == "R5" else [to_r4(r, R4) for r in resources]


def unplaced(inp: FhirInput, release: str) -> list[Finding]:
    """EX facts a MedicationAdministration cannot carry as they are."""
    ex = sdtm_columns(inp, "EX", EX_CHAR, EX_NUM)
    ids, _ = exposure_keys(ex)

    def where(mask: pd.Series, element: str) -> str:  # the first resource concerned
        return f"MedicationAdministration/{ids[mask].iloc[0]}.{element}"

    period = "occurencePeriod" if release == "R5" else "effectivePeriod"
    found: list[Finding] = []
    for unit in sorted(set(ex["EXDOSU"]) - set(UCUM_UNITS) - {""}):
        rows = ex["EXDOSU"] == unit
        found.append(finding("FHIR-MEDADMIN-UNIT", where(rows, "dosage.dose"), [unit], unit=unit,
                             count=int(rows.sum())))
    for frequency in sorted(set(ex["EXDOSFRQ"]) - set(FREQUENCIES) - {""}):
        rows = ex["EXDOSFRQ"] == frequency
        found.append(finding("FHIR-MEDADMIN-NO-RATE", where(rows, "contained[0].dosageInstruction[0].timing"),
                             [frequency], frequency=frequency, count=int(rows.sum())))
    no_start = ex["EXSTDTC"] == ""
    if no_start.any():
        found.append(finding("FHIR-MEDADMIN-NO-START", where(no_start, period), ex.loc[no_start, "USUBJID"],
                             count=int(no_start.sum())))
    for variable, part in (("EXSTDTC", "start"), ("EXENDTC", "end")):
        converted = fhir_datetime(ex[variable])
        cut = shortened(ex[variable], converted)
        if cut.any():
            found.append(finding("FHIR-DATE-SHORTENED", where(cut, f"{period}.{part}"),
                                 [f"{u}: {a} -> {b}" for u, a, b in
                                  zip(ex.loc[cut, "USUBJID"], ex.loc[cut, variable], converted[cut])],
                                 resource="MedicationAdministration", element=f"{period}.{part}",
                                 variable=f"EX.{variable}", count=int(cut.sum())))
    return found
