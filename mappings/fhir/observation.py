"""Observation from SDTM LB and CP: one per LB or CP record (a laboratory or cell phenotyping result, or a
test not done), R5 and R4. CP records are read as LB records (CPTESTCD as LBTESTCD, ...); their resource id
and identifier name the domain: resource_id("Observation", USUBJID, "CP", CPSEQ), "<USUBJID>/CP/<CPSEQ>".

Rules (LB variable -> element; codes and where they come from):
- id: resource_id("Observation", USUBJID, LBSEQ); identifier "<USUBJID>/<LBSEQ>" (SYSTEM_LAB_RESULT);
- the study: the extension workflow-researchStudy (valueReference -> ResearchStudy), as for
  MedicationAdministration; it is defined for Observation in R4 core and in the R5 extensions package;
- status: final; a test not done (LBSTAT = NOT DONE) is kept as status cancelled with dataAbsentReason
  not-performed (THO data-absent-reason) and LBREASND as its text, so every LB record has its resource;
  a record with neither a result nor LBSTAT gets dataAbsentReason unknown (finding);
- category: laboratory (THO observation-category), then LBCAT as text;
- code: the LOINC code LBLOINC (http://loinc.org; display: the LOINC name of the study's lab test catalogue
  `schemas/sdtm/lab-tests.json`), the CDISC test code LBTESTCD as its NCI C-code (codelist C65047 Laboratory
  Test Code, else C181173 Cell Phenotyping Test Code; HL7 names the NCI Thesaurus
  http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl) or, for a sponsor-defined test code, LBTESTCD under
  SYSTEM_LBTESTCD (finding); text: LBTEST;
- subject: the Patient of USUBJID; effectiveDateTime: LBDTC as precise as collected;
- value: valueQuantity {LBSTRESN, LBSTRESU as unit and its UCUM code (UCUM_UNITS)}; a result beyond the
  measurable range ("<1", ">95" in LBSTRESC, LBSTRESN empty) is a Quantity with its comparator (FHIR
  Quantity.comparator, required binding quantity-comparator), so the bound keeps its unit; any other
  text result is valueString;
- interpretation: LBNRIND -> v3 ObservationInterpretation (LOW L, HIGH H, NORMAL N, ABNORMAL A), text LBNRIND;
- note: the CTCAE toxicity grade LBTOXGR with its term LBTOX, when graded;
- method: LBMETHOD as its NCI C-code (C85492), text LBMETHOD;
- specimen: LBSPEC as a contained Specimen (type: NCI C-code of codelist C78734, text LBSPEC), referenced
  "#specimen" (the extension observation-specimenCode is retired in favour of exactly this);
- referenceRange: low LBSTNRLO, high LBSTNRHI in LBSTRESU, text LBSTNRC.
Not carried, each kept in SDTM: LBORRES/LBORRESU/LBORNRLO/LBORNRHI (the same result in the collected unit;
LBSTRESN = LBORRES x the catalogue's factor), VISITNUM/VISIT, EPOCH, LBDY, LBBLFL, LBLOBXFL.
R4 and R5 Observation have the same elements for all of this (and the same code systems), so `R4`
declares no difference.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from trialbridge.mappings.fhir.common import (
    EXACT_INTEGERS,
    EXTENSION_RESEARCH_STUDY,
    NCIT,
    UCUM,
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
    shortened,
    system,
)
from trialbridge.mappings.fhir.r4_differences import R4Differences, to_r4
from trialbridge.mappings.fhir.research_study import study_key
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.sdtm_standards import terminology

SYSTEM_LAB_RESULT = "urn:trialbridge:lab-result"  # one LB record: "<USUBJID>/<LBSEQ>"
SYSTEM_LBTESTCD = "urn:trialbridge:lbtestcd"  # a sponsor-defined LBTESTCD (no NCI C-code)
LOINC = "http://loinc.org"
THO = "http://terminology.hl7.org/CodeSystem/"
TEST_CODELISTS = ("C65047", "C181173")  # CDISC Laboratory Test Code; Cell Phenotyping Test Code
METHOD_CODELIST, SPECIMEN_CODELIST = "C85492", "C78734"  # CDISC Method; Specimen Type
NOT_DONE = "NOT DONE"
SPECIMEN_ID = "specimen"

LABORATORY = coding(THO + "observation-category", "laboratory", "Laboratory")
NOT_PERFORMED = coding(THO + "data-absent-reason", "not-performed", "Not Performed")
UNKNOWN = coding(THO + "data-absent-reason", "unknown", "Unknown")
# LBNRIND (CDISC C78736 Reference Range Indicator) -> v3 ObservationInterpretation.
INTERPRETATIONS: dict[str, dict] = {
    "LOW": coding(THO + "v3-ObservationInterpretation", "L", "Low"),
    "HIGH": coding(THO + "v3-ObservationInterpretation", "H", "High"),
    "NORMAL": coding(THO + "v3-ObservationInterpretation", "N", "Normal"),
    "ABNORMAL": coding(THO + "v3-ObservationInterpretation", "A", "Abnormal"),
}
# CDISC Unit (C71620 submission value) -> UCUM code (case-sensitive UCUM: 10^9/L is 10*9/L).
UCUM_UNITS: dict[str, str] = {
    "10^9/L": "10*9/L", "10^6/L": "10*6/L", "10^12/L": "10*12/L", "10^3/uL": "10*3/uL", "10^6/uL": "10*6/uL",
    "g/L": "g/L", "g/dL": "g/dL", "mg/L": "mg/L", "mg/dL": "mg/dL", "ug/L": "ug/L", "ng/mL": "ng/mL",
    "umol/L": "umol/L", "mmol/L": "mmol/L", "U/L": "U/L", "IU/L": "[iU]/L", "%": "%", "fL": "fL", "pg": "pg",
    "/mm3": "/mm3", "/uL": "/uL", "/L": "/L",
}
_BOUND = re.compile(r"^\s*(<=|>=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+))\s*$")

LB_CHAR = ("USUBJID", "LBTESTCD", "LBTEST", "LBCAT", "LBSTRESC", "LBSTRESU", "LBSTNRC", "LBNRIND", "LBSTAT",
           "LBREASND", "LBLOINC", "LBSPEC", "LBMETHOD", "LBTOX", "LBTOXGR", "LBDTC")
LB_NUM = ("LBSEQ", "LBSTRESN", "LBSTNRLO", "LBSTNRHI")

R4 = R4Differences()  # Observation: no difference for the elements mapped here


# ------------------------------------------------------------------------------------------ keys
def number_text(values: pd.Series) -> pd.Series:
    """A Num column as text: 3.0 -> "3", 10018651.0 -> "10018651", NaN -> ""."""
    return values.map(lambda v: "" if pd.isna(v) else f"{v:.15g}").astype(object)


def lab_results(inp: FhirInput) -> pd.DataFrame:
    """The LB records, then the CP records under LB's names; `_domain` says which (keys of the resources)."""
    lb = sdtm_columns(inp, "LB", LB_CHAR, LB_NUM).assign(_domain="LB")
    if inp.sdtm.get("CP") is None:
        return lb
    as_cp = [f"CP{name[2:]}" if name.startswith("LB") else name for name in (*LB_CHAR, *LB_NUM)]
    cp = sdtm_columns(inp, "CP", as_cp[:len(LB_CHAR)], as_cp[len(LB_CHAR):])
    cp = cp.set_axis([*LB_CHAR, *LB_NUM], axis=1).assign(_domain="CP")
    return pd.concat([lb, cp], ignore_index=True)


def result_keys(lb: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The resource ids of the LB (and CP) records and their identifier after USUBJID: LBSEQ, or CP/CPSEQ."""
    seq = number_text(lb["LBSEQ"])
    domain = lb["_domain"] if "_domain" in lb.columns else pd.Series("LB", index=lb.index)
    ids = [resource_id("Observation", u, s) if d == "LB" else resource_id("Observation", u, d, s)
           for u, s, d in zip(lb["USUBJID"], seq, domain)]
    keys = seq.where(domain == "LB", domain + "/" + seq)
    return pd.Series(ids, index=lb.index, dtype=object), keys


# ------------------------------------------------------------------------------------------ lookups
def _nci(codelists: tuple[str, ...], value: str) -> dict | None:
    ct = terminology()
    for codelist in codelists:
        c_code = ct.term_code(codelist, value) if value else ""
        if c_code:
            return coding(NCIT, c_code, ct.decode(codelist, value))
    return None


def _test_codes(lb: pd.DataFrame, names: dict[str, str]) -> tuple[pd.Series, dict[tuple[str, str, str], dict]]:
    """The key of each row's test (LBTESTCD, LBTEST, LBLOINC) and the Observation.code of each key."""
    keys = pd.Series(list(zip(lb["LBTESTCD"], lb["LBTEST"], lb["LBLOINC"])), index=lb.index, dtype=object)
    codes = {}
    for testcd, test, loinc in keys.unique():
        cdisc = _nci(TEST_CODELISTS, testcd) or (coding(SYSTEM_LBTESTCD, testcd, test) if testcd else None)
        codes[(testcd, test, loinc)] = concept(
            *(c for c in (coding(LOINC, loinc, names.get(loinc, "")) if loinc else None, cdisc) if c), text=test)
    return keys, codes


def _coded(values: pd.Series, codelist: str) -> dict[str, dict]:
    return {value: concept(*(c for c in (_nci((codelist,), value),) if c), text=value)
            for value in values.unique() if value}


def _numbers(values: np.ndarray) -> list[int | float]:
    """JSON numbers: integral values without '.0' (124, not 124.0; `common.json_number`); NaN stays NaN (never
    used)."""
    whole = np.isfinite(values) & (values == np.floor(values)) & (np.abs(values) < EXACT_INTEGERS)
    return [int(v) if w else float(v) for v, w in zip(values.tolist(), whole.tolist())]


def _unit(unit: str) -> dict:
    """The unit part of a Quantity: the unit as given and, when known, its UCUM code."""
    code = UCUM_UNITS.get(unit, "")
    return {**({"unit": unit} if unit else {}), **({"system": UCUM, "code": code} if code else {})}


def _quantities(values: np.ndarray, units: pd.Series, comparators: np.ndarray | None = None) -> list[dict | None]:
    """Quantity per row ({value, comparator?, unit, system, code}); None where the value is NaN."""
    parts = {unit: _unit(unit) for unit in units.unique()}
    signs = comparators if comparators is not None else np.full(len(values), None, dtype=object)
    return [None if v != v else {"value": v, "comparator": op, **parts[u]} if isinstance(op, str)
            else {"value": v, **parts[u]} for v, u, op in zip(_numbers(values), units, signs)]


def _values(lb: pd.DataFrame) -> tuple[list[dict | None], list[str | None]]:
    """valueQuantity (a number, or a bound with its comparator) and valueString, one of them per row."""
    bound = lb["LBSTRESC"].str.extract(_BOUND)
    numeric = lb["LBSTRESN"].notna().to_numpy()
    bounded = (~numeric) & bound[0].notna().to_numpy()
    value = np.where(numeric, lb["LBSTRESN"].to_numpy(dtype=float),
                     pd.to_numeric(bound[1], errors="coerce").to_numpy(dtype=float))
    comparator = np.where(bounded, bound[0].to_numpy(dtype=object), None)
    text = lb["LBSTRESC"].where(~(numeric | bounded) & (lb["LBSTRESC"] != ""))
    return _quantities(value, lb["LBSTRESU"], comparator), text.astype(object).where(text.notna(), None).tolist()


def _ranges(lb: pd.DataFrame) -> list[list[dict] | None]:
    """referenceRange per row: low LBSTNRLO, high LBSTNRHI (in LBSTRESU), text LBSTNRC; None when none."""
    lows = _quantities(lb["LBSTNRLO"].to_numpy(dtype=float), lb["LBSTRESU"])
    highs = _quantities(lb["LBSTNRHI"].to_numpy(dtype=float), lb["LBSTRESU"])
    return [
        [{**({"low": low} if low else {}), **({"high": high} if high else {}), **({"text": text} if text else {})}]
        if (low or high or text) else None
        for low, high, text in zip(lows, highs, lb["LBSTNRC"])
    ]


def _absent(lb: pd.DataFrame, has_value: np.ndarray) -> list[dict | None]:
    not_done = (lb["LBSTAT"] == NOT_DONE).to_numpy()
    return [None if valued else concept(NOT_PERFORMED, text=reason) if skipped else concept(UNKNOWN)
            for skipped, valued, reason in zip(not_done, has_value, lb["LBREASND"])]


def present(resource: dict) -> dict:
    """The resource without its absent (None) elements; every other part is built without empty values."""
    return {name: value for name, value in resource.items() if value is not None}


def result_text(lb: pd.DataFrame) -> pd.Series:
    """The narrative of each result: "Platelets: 182 10^9/L on 2012-03-04; LOW; CTCAE grade 1 (...)"."""
    done = lb["LBSTAT"] != NOT_DONE
    value = (lb["LBSTRESC"] + " " + lb["LBSTRESU"]).str.strip()
    value = value.where(done, joined(pd.Series("not done", index=lb.index), lb["LBREASND"], sep=": "))
    return joined(joined(joined(lb["LBTEST"], value, sep=": "), prefixed("on", lb["LBDTC"]), sep=" "),
                  lb["LBNRIND"], prefixed("CTCAE grade", lb["LBTOXGR"]))


# ------------------------------------------------------------------------------------------ R5
def build_r5(inp: FhirInput) -> list[dict]:
    """One Observation per LB row. Per-row parts are built without empty values; the parts many rows
    share (code, category, interpretation, method, specimen, study) are built (and pruned) once per
    distinct value and shared, read-only, by the resources that use them: 1 million results hold one
    copy of each test's code, not a million."""
    lb = lab_results(inp)
    ids, seq = result_keys(lb)
    keys, codes = _test_codes(lb, inp.loinc_names)
    codes = {key: prune(code) for key, code in codes.items()}
    quantities, strings = _values(lb)
    has_value = np.array([q is not None or s is not None for q, s in zip(quantities, strings)], dtype=bool)
    status = np.where(lb["LBSTAT"] == NOT_DONE, "cancelled", "final").tolist()
    categories = {cat: prune([concept(LABORATORY), concept(text=cat)]) for cat in lb["LBCAT"].unique()}
    interpretations = {v: [concept(*([INTERPRETATIONS[v]] if v in INTERPRETATIONS else []), text=v)]
                       for v in lb["LBNRIND"].unique() if v}
    methods = _coded(lb["LBMETHOD"], METHOD_CODELIST)
    contained = {spec: [{"resourceType": "Specimen", "id": SPECIMEN_ID, "type": kind}]
                 for spec, kind in _coded(lb["LBSPEC"], SPECIMEN_CODELIST).items()}
    graded = (lb["LBTOXGR"] != "").to_numpy()
    notes = np.where(graded, "CTCAE grade " + lb["LBTOXGR"] + " (" + lb["LBTOX"] + ")", "").tolist()
    when = fhir_datetime(lb["LBDTC"])
    subjects = {u: reference("Patient", u) for u in lb["USUBJID"].unique()}
    study = [{"url": EXTENSION_RESEARCH_STUDY, "valueReference": reference("ResearchStudy", *study_key(inp))}]
    specimen = {"reference": "#" + SPECIMEN_ID}
    columns = zip(ids, narratives(result_text(lb)), lb["USUBJID"], seq, status, keys, lb["LBCAT"], when,
                  quantities, strings, _absent(lb, has_value), lb["LBNRIND"], notes, lb["LBMETHOD"], lb["LBSPEC"],
                  _ranges(lb))
    return [
        present({
            "resourceType": "Observation",
            "id": oid,
            "text": text_of,
            "contained": contained.get(spec),
            "extension": study,
            "identifier": [{"system": system(inp, SYSTEM_LAB_RESULT), "value": f"{usubjid}/{lbseq}"}],  # = identifier(...)
            "status": state,
            "category": categories[cat],
            "code": codes[key],
            "subject": subjects[usubjid],
            "effectiveDateTime": date or None,
            "valueQuantity": quantity,
            "valueString": text,
            "dataAbsentReason": absent,
            "interpretation": interpretations.get(nrind),
            "note": [{"text": note}] if note else None,
            "method": methods.get(method),
            "specimen": specimen if spec else None,
            "referenceRange": ranges,
        })
        for (oid, text_of, usubjid, lbseq, state, key, cat, date, quantity, text, absent, nrind, note, method, spec,
             ranges) in columns
    ]


def build(inp: FhirInput, release: str, r5: list[dict] | None = None) -> list[dict]:
    """The resources of `release`; `r5`: this module's R5 resources when already built (R4 derives from them)."""
    resources = build_r5(inp) if r5 is None else r5
    if release == "R5" or not R4.steps:  # no difference declared: the R5 dicts are the R4 ones
        return resources
    return [to_r4(r, R4) for r in resources]


# ------------------------------------------------------------------------------------------ findings
def unplaced(inp: FhirInput, release: str) -> list[Finding]:
    """LB facts an Observation cannot carry as they are, and the records kept as tests not done."""
    lb = lab_results(inp)
    if lb.empty:
        return []

    def where(mask: pd.Series, element: str) -> str:  # the first resource concerned (its id alone is computed)
        first = lb.loc[mask].iloc[:1]
        rid = result_keys(first)[0].iloc[0]
        return f"Observation/{rid}.{element}"

    found: list[Finding] = []
    not_done = lb["LBSTAT"] == NOT_DONE
    if not_done.any():
        found.append(finding("FHIR-OBSERVATION-NOT-DONE", where(not_done, "status"),
                             lb.loc[not_done, "USUBJID"] + " " + lb.loc[not_done, "LBTESTCD"] + " "
                             + lb.loc[not_done, "LBDTC"], count=int(not_done.sum())))
    bounded = lb["LBSTRESC"].str.match(_BOUND)  # a value, a bound or a text: what _values would place
    empty = lb["LBSTRESN"].isna() & ~bounded & (lb["LBSTRESC"] == "") & ~not_done
    if empty.any():
        found.append(finding("FHIR-OBSERVATION-NO-RESULT", where(empty, "dataAbsentReason"),
                             lb.loc[empty, "USUBJID"] + " " + lb.loc[empty, "LBTESTCD"], count=int(empty.sum())))
    for unit in sorted(set(lb["LBSTRESU"]) - set(UCUM_UNITS) - {""}):
        rows = lb["LBSTRESU"] == unit
        found.append(finding("FHIR-OBSERVATION-UNIT", where(rows, "valueQuantity"), [unit], unit=unit,
                             count=int(rows.sum())))
    for testcd in sorted({t for t in lb["LBTESTCD"].unique() if t and _nci(TEST_CODELISTS, t) is None}):
        rows = lb["LBTESTCD"] == testcd
        found.append(finding("FHIR-OBSERVATION-SPONSOR-TEST", where(rows, "code"), [testcd], testcd=testcd,
                             count=int(rows.sum()), loinc="with" if (lb.loc[rows, "LBLOINC"] != "").all()
                             else "without"))
    for value in sorted(set(lb["LBNRIND"]) - set(INTERPRETATIONS) - {""}):
        rows = lb["LBNRIND"] == value
        found.append(finding("FHIR-OBSERVATION-INTERPRETATION", where(rows, "interpretation"), [value],
                             value=value, count=int(rows.sum())))
    converted = fhir_datetime(lb["LBDTC"])
    cut = shortened(lb["LBDTC"], converted)
    if cut.any():
        found.append(finding("FHIR-DATE-SHORTENED", where(cut, "effectiveDateTime"),
                             [f"{u}: {a} -> {b}" for u, a, b in
                              zip(lb.loc[cut, "USUBJID"], lb.loc[cut, "LBDTC"], converted[cut])],
                             resource="Observation", element="effectiveDateTime", variable="LB.LBDTC",
                             count=int(cut.sum())))
    return found
