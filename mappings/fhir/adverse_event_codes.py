"""CDISC AE values -> the FHIR codes of AdverseEvent: HL7 AE Clinical Research IG extensions, THO seriousness
and category, NCI concepts of the CTCAE grades, seriousness criteria and relatedness, and the AE columns read.
"""
from __future__ import annotations

from trialbridge.mappings.fhir.common import NCIT, coding
from trialbridge.mappings.fhir.observation import THO

SYSTEM_ADVERSE_EVENT = "urn:trialbridge:adverse-event"  # one AE record: "<USUBJID>/<AESEQ>"
MEDDRA = "https://www.meddra.org"  # THO NamingSystem mdr: preferred URI (http://terminology.hl7.org/CodeSystem/mdr retired)
ADVERSE_EVENT_IG = "http://hl7.org/fhir/uv/ae-research-ig/StructureDefinition/"  # HL7 AE Clinical Research (R5)
ADVERSE_EVENT_IG_R4 = "http://hl7.org/fhir/uv/ae-research-backport-ig/StructureDefinition/"  # its R4 backport
GRADE, CRITERIA = "ae-grade", "seriousness-criteria"
OUTCOME_CODELIST = "C66768"  # CDISC Outcome of Event (AEOUT)
ACTION_CODELIST = "C66767"  # CDISC Action Taken with Study Treatment (AEACN)

CATEGORY = coding(THO + "adverse-event-category", "clinical-research", "Clinical Research")
SERIOUSNESS: dict[str, dict] = {"Y": coding(THO + "adverse-event-seriousness", "serious", "Serious"),
                                "N": coding(THO + "adverse-event-seriousness", "non-serious", "Non-serious")}
# AETOXGR (NCI CTCAE grade) -> NCI concept (THO adverse-event-clinical-research-grades).
GRADES: dict[str, dict] = {
    "1": coding(NCIT, "C41338", "Grade 1 Mild Adverse Event"),
    "2": coding(NCIT, "C41339", "Grade 2 Moderate Adverse Event"),
    "3": coding(NCIT, "C41340", "Grade 3 Severe Adverse Event"),
    "4": coding(NCIT, "C41337", "Grade 4 Life Threatening or Disabling Adverse Event"),
    "5": coding(NCIT, "C48275", "Grade 5 Death Related to Adverse Event"),
}
# Seriousness flag -> NCI concept (THO adverse-event-clinical-research-seriousness-criteria).
CRITERIA_FLAGS: dict[str, dict] = {
    "AESDTH": coding(NCIT, "C48275", "Results In Death"),
    "AESLIFE": coding(NCIT, "C84266", "Is Life Threatening"),
    "AESHOSP": coding(NCIT, "C83052", "Requires Inpatient Hospitalization"),
    "AESDISAB": coding(NCIT, "C11338", "Results In Persistent Or Significant Disability"),
    "AESCONG": coding(NCIT, "C83117", "Congenital Anomaly or Birth Defect"),
    "AESMIE": coding(NCIT, "C82521", "Other Medically Important Condition"),
}
# AEREL -> NCI concept (THO adverse-event-clinical-research-causality-relatedness; C53259 as in the
# HL7 AE IG's cancer trial example).
RELATEDNESS: dict[str, dict] = {
    "NOT RELATED": coding(NCIT, "C53256", "Not Related"),
    "UNLIKELY RELATED": coding(NCIT, "C53257", "Unlikely Related"),
    "POSSIBLY RELATED": coding(NCIT, "C53258", "Possibly Related"),
    "PROBABLY RELATED": coding(NCIT, "C53259", "Probably Related"),
    "RELATED": coding(NCIT, "C53260", "Related"),
}
FINAL_OUTCOMES = frozenset({"FATAL", "RECOVERED/RESOLVED", "RECOVERED/RESOLVED WITH SEQUELAE"})
ONGOING = "ONGOING"  # AEENRTPT (C66728)

AE_CHAR = ("USUBJID", "AETERM", "AELLT", "AEDECOD", "AESER", "AEACN", "AEREL", "AEOUT", "AETOXGR", "AESTDTC",
           "AEENDTC", "AEENRTPT", *CRITERIA_FLAGS)
AE_NUM = ("AESEQ", "AELLTCD", "AEPTCD")
