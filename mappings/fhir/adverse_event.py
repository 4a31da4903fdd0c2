"""AdverseEvent from SDTM AE (+ SUPPAE): one per AE record, R5 and R4.

R5 rules (AE variable -> element; codes and where they come from):
- id: resource_id("AdverseEvent", USUBJID, AESEQ); identifier "<USUBJID>/<AESEQ>" (SYSTEM_ADVERSE_EVENT);
- extension ae-grade (HL7 "Adverse Event Clinical Research" IG 1.0.1, ADVERSE_EVENT_IG): AETOXGR, the
  NCI CTCAE grade, as its NCI Thesaurus concept (THO ValueSet adverse-event-clinical-research-grades:
  1 C41338 ... 5 C48275) with the text "CTCAE grade <AETOXGR>". R5 AdverseEvent has no severity element;
- extension seriousness-criteria (same IG), one per collected flag AESDTH, AESLIFE, AESHOSP, AESDISAB,
  AESCONG, AESMIE: criterionCode = its NCI concept (THO adverse-event-clinical-research-seriousness-
  criteria), criterionPresent = the Y/N answer;
- status (required adverse-event-status): in-progress when the event is ongoing (AEENRTPT ONGOING, or no
  AEENDTC and no final outcome), else completed; actuality: actual; category: clinical-research (THO
  adverse-event-category);
- code: MedDRA (system https://www.meddra.org, the preferred URI of THO's NamingSystem mdr): the PT
  AEPTCD/AEDECOD, then the LLT AELLTCD/AELLT the coder selected (userSelected) when it is another code;
  text: the verbatim AETERM, with its SUPPAE continuations AETERM1, AETERM2... joined back;
- subject: the Patient of USUBJID; occurrencePeriod: AESTDTC .. AEENDTC, as precise as collected;
- seriousness: AESER Y serious, N non-serious (THO adverse-event-seriousness);
- outcome: AEOUT as its CDISC C66768 NCI code (the codes of THO adverse-event-clinical-research-outcomes),
  text AEOUT;
- study: the ResearchStudy of STUDYID;
- suspectEntity: each treatment the subject received (EX EXTRT) -> its Medication,
  causality.entityRelatedness = AEREL as its NCI concept (THO adverse-event-clinical-research-causality-
  relatedness, plus C53259 Probably Related) and as text. A subject with no EX record has no suspect
  entity: AEREL then goes to a note (finding FHIR-AE-NO-SUSPECT). Only the subject's own records are
  read, so the result does not depend on how the stage cuts the subjects into blocks;
- note: AEACN ("Action taken with study treatment: ..."), then every other SUPPAE qualifier of the
  record as "<QLABEL>: <QVAL>" (REVALLO: GVHD type, GVHD grade (Seattle or NIH), steroid-refractory).
  A GVHD qualifier describes the event itself, so it is not a contributingFactor (a cause).
Not carried, each derivable and kept in SDTM: AEHLT/AEHLGT/AESOC/AEBODSYS (the MedDRA hierarchy of the PT),
AESTDY/AEENDY, EPOCH, AEENTPT (the time point of AEENRTPT), AESPID (the CRF line). The MedDRA version is
not an SDTM variable: it comes from StudyInfo.extra VERSION.MEDDRA (the column the AE form's row schema
marks `x-version-of: MedDRA`, as define.xml has it) into Coding.version; without it, finding FHIR-AE-MEDDRA-VERSION.
- mitigatingAction: AEACN as its CDISC C66767 NCI concept (R4: no element, the note keeps it);
- supportingInfo: each SUPPAE qualifier (REVALLO: GVHD type, GVHD grade, steroid-refractory) coded: system
  "<sponsor namespace>/suppae/<qnam>", code QVAL, text "<QLABEL>: <QVAL>" (R4: no element, the note keeps it);
- text: a generated narrative (term, grade, seriousness, dates, outcome, action, relationship).

R4 differences (`R4`, one table): identifier 0..1 (the first); no status (the outcome says ongoing); code
is `event`; `date` = the onset, and the whole occurrencePeriod in the R5 cross-version extension when
there is an end; `severity` (required adverse-event-severity) from the CTCAE grade: 1 mild, 2 moderate,
3-5 severe, the exact grade staying in the backport IG's ae-grade extension; `outcome` 0..1 with the
required adverse-event-outcome code (AEOUT_R4) beside the NCI code; suspectEntity.instance and a list of
causality {assessment}; `note` is not an R4 element: each note goes to the cross-version extension.
The codes are in `adverse_event_codes`, SUPPAE in `adverse_event_suppae`, the R4 table in `adverse_event_r4`.
"""
from __future__ import annotations

import pandas as pd

from trialbridge.mappings.fhir.adverse_event_codes import (
    ACTION_CODELIST, ADVERSE_EVENT_IG, AE_CHAR, AE_NUM, CATEGORY, CRITERIA, CRITERIA_FLAGS, FINAL_OUTCOMES, GRADE,
    GRADES, MEDDRA, ONGOING, OUTCOME_CODELIST, RELATEDNESS, SERIOUSNESS, SYSTEM_ADVERSE_EVENT,
)
from trialbridge.mappings.fhir.adverse_event_r4 import AEOUT_R4, ELEMENTS_R4, R4
from trialbridge.mappings.fhir.adverse_event_suppae import record_notes, suppae, supporting_info, verbatim_terms
from trialbridge.mappings.fhir.common import (
    NCIT,
    FhirInput,
    coding,
    concept,
    fhir_datetime,
    joined,
    narratives,
    prefixed,
    reference,
    resource_id,
    sdtm_columns,
    shortened,
    system,
)
from trialbridge.mappings.fhir.observation import number_text, present
from trialbridge.mappings.fhir.r4_differences import to_r4
from trialbridge.mappings.fhir.registry import in_order
from trialbridge.mappings.fhir.research_study import study_key
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.sdtm_standards import terminology


# ------------------------------------------------------------------------------------------ keys
def event_keys(ae: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The resource ids of the AE records and their AESEQ as text."""
    seq = number_text(ae["AESEQ"])
    ids = [resource_id("AdverseEvent", u, s) for u, s in zip(ae["USUBJID"], seq)]
    return pd.Series(ids, index=ae.index, dtype=object), seq



# ------------------------------------------------------------------------------------------ parts
def _meddra(code: str, display: str, selected: bool = False, version: str = "") -> dict | None:
    if not code:
        return None
    return {"system": MEDDRA, **({"version": version} if version else {}), "code": code,
            **({"display": display} if display else {}), **({"userSelected": True} if selected else {})}


def _code(term: str, pt: str, decod: str, llt: str, llt_term: str, version: str = "") -> dict:
    """MedDRA PT, then the LLT the coder selected when it is another code (with the MedDRA version the
    study coded with); the verbatim term as text."""
    return concept(*(c for c in (_meddra(pt, decod, False, version),
                                 _meddra(llt, llt_term, True, version) if llt != pt else None) if c), text=term)


def meddra_version(inp: FhirInput) -> str:
    """The MedDRA version the AE terms were coded with (StudyInfo.extra VERSION.MEDDRA), "" when unknown."""
    return str(inp.study.extra.get("VERSION.MEDDRA", "")) if inp.study is not None else ""


def _action(action: str) -> list[dict] | None:
    """AEACN as a coded action (R5 mitigatingAction): its CDISC C66767 NCI concept and the term as text."""
    if not action:
        return None
    c_code = terminology().term_code(ACTION_CODELIST, action)
    nci = coding(NCIT, c_code, terminology().decode(ACTION_CODELIST, action)) if c_code else None
    return [{"itemCodeableConcept": concept(*([nci] if nci else []), text=action)}]


def event_text(ae: pd.DataFrame) -> pd.Series:
    """The narrative of each event: "Anaemia (Anaemia), CTCAE grade 2, serious, from .. to ..; outcome ..."."""
    term = joined(ae["AETERM"], ae["AEDECOD"].where(ae["AEDECOD"] == "", "(" + ae["AEDECOD"] + ")"), sep=" ")
    serious = ae["AESER"].map({"Y": "serious", "N": "not serious"}).fillna("")
    return joined(term, prefixed("CTCAE grade", ae["AETOXGR"]), serious, prefixed("from", ae["AESTDTC"]),
                  prefixed("to", ae["AEENDTC"]), prefixed("outcome", ae["AEOUT"]),
                  prefixed("action taken:", ae["AEACN"]), prefixed("relationship:", ae["AEREL"]), sep=", ")


def _grade_extension(grade: str) -> dict:
    return {"url": ADVERSE_EVENT_IG + GRADE,
            "valueCodeableConcept": concept(*([GRADES[grade]] if grade in GRADES else []), text=f"CTCAE grade {grade}")}


def _criterion_extension(code: dict, present: bool) -> dict:
    return {"url": ADVERSE_EVENT_IG + CRITERIA,
            "extension": [{"url": "criterionCode", "valueCodeableConcept": concept(code)},
                          {"url": "criterionPresent", "valueBoolean": present}]}


def _extensions(ae: pd.DataFrame) -> list[list[dict] | None]:
    """Per record: the ae-grade extension, then one seriousness-criteria extension per collected flag.
    The extension objects are built once per grade and per (flag, answer) and shared."""
    grades = {grade: _grade_extension(grade) for grade in ae["AETOXGR"].unique() if grade}
    criteria = {(flag, answer): _criterion_extension(code, answer == "Y")
                for flag, code in CRITERIA_FLAGS.items() for answer in ("Y", "N")}
    flags = list(CRITERIA_FLAGS)
    return [([grades[grade]] if grade else []) + [criteria[(f, v)] for f, v in zip(flags, answers) if v in ("Y", "N")]
            or None for grade, *answers in zip(ae["AETOXGR"], *(ae[flag] for flag in flags))]


def _treatments(inp: FhirInput) -> dict[str, list[str]]:
    """The treatments (EXTRT) each subject received, in first-appearance order."""
    ex = sdtm_columns(inp, "EX", ("USUBJID", "EXTRT"))
    given = ex.loc[ex["EXTRT"] != ""].drop_duplicates()
    return given.groupby("USUBJID", sort=False)["EXTRT"].agg(list).to_dict()


def _suspects(ae: pd.DataFrame, by_subject: dict[str, list[str]]) -> list[list[dict] | None]:
    """Per record: each treatment of the subject as a suspect entity with the causality AEREL."""
    causes = {value: {"entityRelatedness": concept(*([RELATEDNESS[value]] if value in RELATEDNESS else []),
                                                   text=value)} for value in ae["AEREL"].unique() if value}
    drugs = {extrt: reference("Medication", extrt) for extrts in by_subject.values() for extrt in extrts}
    return [[{"instanceReference": drugs[extrt], **({"causality": causes[relation]} if relation else {})}
             for extrt in by_subject[usubjid]] if usubjid in by_subject else None
            for usubjid, relation in zip(ae["USUBJID"], ae["AEREL"])]


def _status(ae: pd.DataFrame) -> pd.Series:
    ongoing = (ae["AEENRTPT"] == ONGOING) | ((ae["AEENDTC"] == "") & ~ae["AEOUT"].isin(FINAL_OUTCOMES))
    return ongoing.map({True: "in-progress", False: "completed"}).astype(object)


def _outcomes(values: pd.Series) -> dict[str, dict]:
    ct = terminology()
    out = {}
    for value in values.unique():
        c_code = ct.term_code(OUTCOME_CODELIST, value) if value else ""
        out[value] = concept(*([coding(NCIT, c_code, ct.decode(OUTCOME_CODELIST, value))] if c_code else []),
                             text=value)
    return out


# ------------------------------------------------------------------------------------------ R5
def build_r5(inp: FhirInput) -> list[dict]:
    """One AdverseEvent per AE row. Per-row parts are built without empty values; the parts many rows
    share (codings, extensions, outcome, causality, references) are built once and shared, read-only."""
    ae = sdtm_columns(inp, "AE", AE_CHAR, AE_NUM)
    ids, seq = event_keys(ae)
    supp = suppae(inp, ae)
    by_subject = _treatments(inp)
    untreated = ~ae["USUBJID"].isin(list(by_subject))
    outcomes = {value: [code] for value, code in _outcomes(ae["AEOUT"]).items() if value}
    seriousness = {value: concept(code) for value, code in SERIOUSNESS.items()}
    subjects = {usubjid: reference("Patient", usubjid) for usubjid in ae["USUBJID"].unique()}
    category, study = [concept(CATEGORY)], [reference("ResearchStudy", *study_key(inp))]
    version = meddra_version(inp)
    codes = [_code(*parts, version) or None for parts in zip(verbatim_terms(ae, supp), number_text(ae["AEPTCD"]),
                                                              ae["AEDECOD"], number_text(ae["AELLTCD"]), ae["AELLT"])]
    actions = {action: _action(action) for action in ae["AEACN"].unique()}
    periods = [{**({"start": start} if start else {}), **({"end": end} if end else {})} or None
               for start, end in zip(fhir_datetime(ae["AESTDTC"]), fhir_datetime(ae["AEENDTC"]))]
    notes = [[{"text": text} for text in texts] or None for texts in record_notes(ae, supp, untreated)]
    columns = zip(ids, narratives(event_text(ae)), ae["USUBJID"], seq, _extensions(ae), _status(ae), codes, periods,
                  ae["AESER"], ae["AEOUT"], _suspects(ae, by_subject), ae["AEACN"], supporting_info(inp, ae, supp),
                  notes)
    return [
        present({
            "resourceType": "AdverseEvent",
            "id": aid,
            "text": text_of,
            "extension": extensions,
            "identifier": [{"system": system(inp, SYSTEM_ADVERSE_EVENT), "value": f"{usubjid}/{aeseq}"}],  # = identifier(...)
            "status": status,
            "actuality": "actual",
            "category": category,
            "code": code,
            "subject": subjects[usubjid],
            "occurrencePeriod": period,
            "seriousness": seriousness.get(serious),
            "outcome": outcomes.get(outcome),
            "study": study,
            "suspectEntity": suspects,
            "mitigatingAction": actions.get(action),
            "supportingInfo": qualifiers,
            "note": note,
        })
        for (aid, text_of, usubjid, aeseq, extensions, status, code, period, serious, outcome, suspects, action,
             qualifiers, note) in columns
    ]


def build(inp: FhirInput, release: str, r5: list[dict] | None = None) -> list[dict]:
    """The resources of `release`; `r5`: this module's R5 resources when already built (R4 derives from them)."""
    resources = build_r5(inp) if r5 is None else r5
    if release == "R5":
        return resources
    return [in_order(to_r4(r, R4), ELEMENTS_R4) for r in resources]


# ------------------------------------------------------------------------------------------ findings
def unplaced(inp: FhirInput, release: str) -> list[Finding]:
    """AE facts an AdverseEvent of `release` cannot carry as they are."""
    ae = sdtm_columns(inp, "AE", AE_CHAR, AE_NUM)
    if ae.empty:
        return []
    ids, _ = event_keys(ae)

    def where(mask: pd.Series, element: str) -> str:  # the first resource concerned
        return f"AdverseEvent/{ids[mask].iloc[0]}.{element}"

    found: list[Finding] = []
    code_element = "code" if release == "R5" else "event"
    uncoded = ae["AEPTCD"].isna()
    if uncoded.any():
        found.append(finding("FHIR-AE-UNCODED", where(uncoded, code_element),
                             ae.loc[uncoded, "USUBJID"] + ": " + ae.loc[uncoded, "AETERM"], count=int(uncoded.sum())))
    if (~uncoded).any() and not meddra_version(inp):
        found.append(finding("FHIR-AE-MEDDRA-VERSION", where(~uncoded, code_element), [],
                             count=int((~uncoded).sum())))
    odd_grade = (ae["AETOXGR"] != "") & ~ae["AETOXGR"].isin(list(GRADES))
    for grade in sorted(set(ae.loc[odd_grade, "AETOXGR"])):
        rows = ae["AETOXGR"] == grade
        found.append(finding("FHIR-AE-GRADE", where(rows, "extension"), [grade], grade=grade, count=int(rows.sum())))
    odd_relation = (ae["AEREL"] != "") & ~ae["AEREL"].isin(list(RELATEDNESS))
    for value in sorted(set(ae.loc[odd_relation, "AEREL"])):
        rows = ae["AEREL"] == value
        found.append(finding("FHIR-AE-RELATEDNESS", where(rows, "suspectEntity"), [value], value=value,
                             count=int(rows.sum())))
    lost = (ae["AEREL"] != "") & ~ae["USUBJID"].isin(list(_treatments(inp)))  # no Medication to be the suspect
    if lost.any():
        found.append(finding("FHIR-AE-NO-SUSPECT", where(lost, "suspectEntity"),
                             ae.loc[lost, "USUBJID"] + ": " + ae.loc[lost, "AEREL"], count=int(lost.sum())))
    if release == "R4":
        no_r4 = (ae["AEOUT"] != "") & ~ae["AEOUT"].isin(list(AEOUT_R4))
        for value in sorted(set(ae.loc[no_r4, "AEOUT"])):
            rows = ae["AEOUT"] == value
            found.append(finding("FHIR-AE-OUTCOME-R4", where(rows, "outcome"), [value], value=value,
                                 count=int(rows.sum())))
    supp = suppae(inp, ae)
    orphans = supp.loc[supp["row"] < 0]
    if len(orphans):
        found.append(finding("FHIR-AE-SUPP-UNPLACED", "SUPPAE",
                             orphans["USUBJID"] + " " + orphans["IDVAR"] + "=" + orphans["IDVARVAL"] + " "
                             + orphans["QNAM"], count=len(orphans)))
    ends = {"R5": ("occurrencePeriod.start", "occurrencePeriod.end"), "R4": ("date", "extension")}[release]
    for variable, element in zip(("AESTDTC", "AEENDTC"), ends):
        converted = fhir_datetime(ae[variable])
        cut = shortened(ae[variable], converted)
        if cut.any():
            found.append(finding("FHIR-DATE-SHORTENED", where(cut, element),
                                 [f"{u}: {a} -> {b}" for u, a, b in
                                  zip(ae.loc[cut, "USUBJID"], ae.loc[cut, variable], converted[cut])],
                                 resource="AdverseEvent", element=element, variable=f"AE.{variable}",
                                 count=int(cut.sum())))
    return found
