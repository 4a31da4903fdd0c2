"""Registry text -> the ClinicalTrials.gov API v2 record's values: enumerations, dates, ages, yes/no flags.

The classic API (v1 JSON) and the legacy `<clinical_study>` XML write the same facts as display text
("Phase 1/Phase 2", "Active, not recruiting", "July 2001", "18 years", "N/A"); the API v2 record the rest of
the code reads writes them as enumerations (PHASE1, ACTIVE_NOT_RECRUITING), ISO 8601 dates (2001-07)
and ages "18 Years". Every function here is pure and returns None for a value it cannot read, so the
caller can report it; nothing is guessed.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Mapping

# ------------------------------------------------------------------------------------------- enumerations
# Display text (upper case, every run of non-letters/digits as "_") -> API v2 value, where they differ.
SYNONYMS: dict[str, dict[str, str]] = {
    "status": {"ACTIVE_NOT_RECRUITING": "ACTIVE_NOT_RECRUITING", "AVAILABLE_FOR_EXPANDED_ACCESS": "AVAILABLE",
               "NO_LONGER_AVAILABLE": "NO_LONGER_AVAILABLE", "APPROVED_FOR_MARKETING": "APPROVED_FOR_MARKETING",
               "UNKNOWN_STATUS": "UNKNOWN", "SUSPENDED": "SUSPENDED"},
    "date_type": {"ACTUAL": "ACTUAL", "ANTICIPATED": "ESTIMATED", "ESTIMATE": "ESTIMATED", "ESTIMATED": "ESTIMATED"},
    "agency_class": {"U_S_FED": "FED", "US_FED": "FED", "FED": "FED", "OTHER_GOV": "OTHER_GOV", "NIH": "NIH",
                     "INDUSTRY": "INDUSTRY", "OTHER": "OTHER", "INDIV": "INDIV", "INDIVIDUAL": "INDIV",
                     "NETWORK": "NETWORK", "AMBIG": "AMBIG", "UNKNOWN": "UNKNOWN"},
    "study_type": {"INTERVENTIONAL": "INTERVENTIONAL", "OBSERVATIONAL": "OBSERVATIONAL",
                   "OBSERVATIONAL_PATIENT_REGISTRY": "OBSERVATIONAL", "EXPANDED_ACCESS": "EXPANDED_ACCESS"},
    "phase": {"N_A": "NA", "NA": "NA", "NOT_APPLICABLE": "NA", "EARLY_PHASE_1": "EARLY_PHASE1", "EARLY_PHASE1": "EARLY_PHASE1",
              "PHASE_0": "EARLY_PHASE1", "PHASE_1": "PHASE1", "PHASE_2": "PHASE2", "PHASE_3": "PHASE3",
              "PHASE_4": "PHASE4", "PHASE1": "PHASE1", "PHASE2": "PHASE2", "PHASE3": "PHASE3", "PHASE4": "PHASE4"},
    "allocation": {"RANDOMIZED": "RANDOMIZED", "NON_RANDOMIZED": "NON_RANDOMIZED", "N_A": "NA", "NA": "NA"},
    "intervention_model": {"SINGLE_GROUP_ASSIGNMENT": "SINGLE_GROUP", "PARALLEL_ASSIGNMENT": "PARALLEL",
                           "CROSSOVER_ASSIGNMENT": "CROSSOVER", "CROSS_OVER_ASSIGNMENT": "CROSSOVER",
                           "FACTORIAL_ASSIGNMENT": "FACTORIAL", "SEQUENTIAL_ASSIGNMENT": "SEQUENTIAL",
                           "SINGLE_GROUP": "SINGLE_GROUP", "PARALLEL": "PARALLEL", "CROSSOVER": "CROSSOVER",
                           "FACTORIAL": "FACTORIAL", "SEQUENTIAL": "SEQUENTIAL"},
    "primary_purpose": {"EDUCATIONAL_COUNSELING_TRAINING": "ECT", "DIAGNOSTIC": "DIAGNOSTIC", "DIAGNOSIS": "DIAGNOSTIC"},
    "observational_model": {"CASE_CONTROL": "CASE_CONTROL", "CASE_ONLY": "CASE_ONLY", "CASE_CROSSOVER": "CASE_CROSSOVER",
                            "ECOLOGIC_OR_COMMUNITY": "ECOLOGIC_OR_COMMUNITY", "ECOLOGIC_OR_COMMUNITY_STUDIES": "ECOLOGIC_OR_COMMUNITY",
                            "FAMILY_BASED": "FAMILY_BASED", "CASE_CONTROL_STUDY": "CASE_CONTROL"},
    "time_perspective": {"CROSS_SECTIONAL": "CROSS_SECTIONAL"},
    "masking": {"NONE_OPEN_LABEL": "NONE", "OPEN_LABEL": "NONE", "NONE": "NONE", "SINGLE": "SINGLE", "DOUBLE": "DOUBLE",
                "TRIPLE": "TRIPLE", "QUADRUPLE": "QUADRUPLE", "SINGLE_BLIND": "SINGLE", "DOUBLE_BLIND": "DOUBLE"},
    "who_masked": {"PARTICIPANT": "PARTICIPANT", "SUBJECT": "PARTICIPANT", "CARE_PROVIDER": "CARE_PROVIDER",
                   "CAREGIVER": "CARE_PROVIDER", "INVESTIGATOR": "INVESTIGATOR", "OUTCOMES_ASSESSOR": "OUTCOMES_ASSESSOR"},
    "enrollment_type": {"ACTUAL": "ACTUAL", "ANTICIPATED": "ESTIMATED", "ESTIMATE": "ESTIMATED", "ESTIMATED": "ESTIMATED"},
    "arm_type": {"EXPERIMENTAL": "EXPERIMENTAL", "ACTIVE_COMPARATOR": "ACTIVE_COMPARATOR",
                 "PLACEBO_COMPARATOR": "PLACEBO_COMPARATOR", "SHAM_COMPARATOR": "SHAM_COMPARATOR",
                 "NO_INTERVENTION": "NO_INTERVENTION", "OTHER": "OTHER", "PLACEBO": "PLACEBO_COMPARATOR",
                 "ACTIVE_CONTROL": "ACTIVE_COMPARATOR", "CASE": "OTHER", "CONTROL": "OTHER"},
    "intervention_type": {"BIOLOGIC": "BIOLOGICAL", "BIOLOGICAL": "BIOLOGICAL", "GENETIC": "GENETIC",
                          "DIETARY_SUPPLEMENT": "DIETARY_SUPPLEMENT", "COMBINATION_PRODUCT": "COMBINATION_PRODUCT",
                          "DIAGNOSTIC_TEST": "DIAGNOSTIC_TEST", "BEHAVIOURAL": "BEHAVIORAL"},
    "sex": {"ALL": "ALL", "BOTH": "ALL", "FEMALE": "FEMALE", "MALE": "MALE"},
    "std_age": {"CHILD": "CHILD", "ADULT": "ADULT", "OLDER_ADULT": "OLDER_ADULT", "SENIOR": "OLDER_ADULT"},
    "sampling": {"PROBABILITY_SAMPLE": "PROBABILITY_SAMPLE", "NON_PROBABILITY_SAMPLE": "NON_PROBABILITY_SAMPLE"},
    "official_role": {"PRINCIPAL_INVESTIGATOR": "PRINCIPAL_INVESTIGATOR", "STUDY_CHAIR": "STUDY_CHAIR",
                      "STUDY_DIRECTOR": "STUDY_DIRECTOR", "SUB_INVESTIGATOR": "SUB_INVESTIGATOR"},
    "contact_role": {"PRINCIPAL_INVESTIGATOR": "PRINCIPAL_INVESTIGATOR", "STUDY_CHAIR": "STUDY_CHAIR",
                     "STUDY_DIRECTOR": "STUDY_DIRECTOR", "SUB_INVESTIGATOR": "SUB_INVESTIGATOR", "CONTACT": "CONTACT"},
    "reference_type": {"BACKGROUND": "BACKGROUND", "RESULT": "RESULT", "RESULTS_REFERENCE": "RESULT", "DERIVED": "DERIVED"},
    "responsible_party": {"SPONSOR": "SPONSOR", "PRINCIPAL_INVESTIGATOR": "PRINCIPAL_INVESTIGATOR",
                          "SPONSOR_INVESTIGATOR": "SPONSOR_INVESTIGATOR"},
    "ipd_sharing": {"YES": "YES", "NO": "NO", "UNDECIDED": "UNDECIDED"},
    "ipd_info": {"STUDY_PROTOCOL": "STUDY_PROTOCOL", "STATISTICAL_ANALYSIS_PLAN_SAP": "SAP", "SAP": "SAP",
                 "INFORMED_CONSENT_FORM_ICF": "ICF", "ICF": "ICF", "CLINICAL_STUDY_REPORT_CSR": "CSR", "CSR": "CSR",
                 "ANALYTIC_CODE": "ANALYTIC_CODE"},
    "retention": {"NONE_RETAINED": "NONE_RETAINED", "SAMPLES_WITH_DNA": "SAMPLES_WITH_DNA",
                  "SAMPLES_WITHOUT_DNA": "SAMPLES_WITHOUT_DNA"},
    "secondary_id_type": {"EUDRACT_NUMBER": "EUDRACT_NUMBER", "EU_TRIAL_CTIS_NUMBER": "CTIS", "CTIS": "CTIS",
                          "U_S_NIH_GRANT_CONTRACT": "NIH", "U_S_FDA_GRANT_CONTRACT": "FDA", "OTHER_GRANT_FUNDING_NUMBER": "OTHER_GRANT",
                          "REGISTRY_IDENTIFIER": "REGISTRY", "OTHER_IDENTIFIER": "OTHER", "NIH": "NIH", "FDA": "FDA",
                          "OTHER_GRANT": "OTHER_GRANT", "REGISTRY": "REGISTRY", "OTHER": "OTHER"},
}
# Values the API v2 schema allows for the enumerations the key text maps onto directly.
ALLOWED: dict[str, frozenset[str]] = {
    "status": frozenset({"ACTIVE_NOT_RECRUITING", "COMPLETED", "ENROLLING_BY_INVITATION", "NOT_YET_RECRUITING",
                         "RECRUITING", "SUSPENDED", "TERMINATED", "WITHDRAWN", "AVAILABLE", "NO_LONGER_AVAILABLE",
                         "TEMPORARILY_NOT_AVAILABLE", "APPROVED_FOR_MARKETING", "WITHHELD", "UNKNOWN"}),
    "primary_purpose": frozenset({"TREATMENT", "PREVENTION", "DIAGNOSTIC", "ECT", "SUPPORTIVE_CARE", "SCREENING",
                                  "HEALTH_SERVICES_RESEARCH", "BASIC_SCIENCE", "DEVICE_FEASIBILITY", "OTHER"}),
    "observational_model": frozenset({"COHORT", "CASE_CONTROL", "CASE_ONLY", "CASE_CROSSOVER", "ECOLOGIC_OR_COMMUNITY",
                                      "FAMILY_BASED", "DEFINED_POPULATION", "NATURAL_HISTORY", "OTHER"}),
    "time_perspective": frozenset({"RETROSPECTIVE", "PROSPECTIVE", "CROSS_SECTIONAL", "OTHER"}),
    "intervention_type": frozenset({"BEHAVIORAL", "BIOLOGICAL", "COMBINATION_PRODUCT", "DEVICE", "DIAGNOSTIC_TEST",
                                    "DIETARY_SUPPLEMENT", "DRUG", "GENETIC", "PROCEDURE", "RADIATION", "OTHER"}),
}
for _kind, _values in SYNONYMS.items():  # every synonym target is itself a known value
    ALLOWED[_kind] = ALLOWED.get(_kind, frozenset()) | frozenset(_values.values())

_NON_WORD = re.compile(r"[^A-Z0-9]+")


def enum_key(text: str) -> str:
    """Display text as an enumeration key: "Active, not recruiting" -> ACTIVE_NOT_RECRUITING."""
    return _NON_WORD.sub("_", str(text).upper()).strip("_")


def enum(kind: str, text: Any) -> str | None:
    """The API v2 value of `text` for an enumeration of `kind`, None when it is not one (the caller reports)."""
    if text is None or str(text).strip() == "":
        return None
    key = enum_key(str(text))
    value = SYNONYMS.get(kind, {}).get(key, key)
    return value if value in ALLOWED.get(kind, frozenset()) else None


def phases(text: Any) -> list[str] | None:
    """"Phase 1/Phase 2" -> [PHASE1, PHASE2]; "N/A" -> [NA]; None when a part is no phase."""
    parts = [p for p in re.split(r"\s*/\s*(?=phase|early|n/?a)|\s*,\s*", str(text), flags=re.I) if p.strip()]
    if str(text).strip().upper() in ("N/A", "NA"):
        parts = ["NA"]
    values = [enum("phase", p) for p in parts]
    return None if not values or None in values else [v for v in values if v is not None]


# -------------------------------------------------------------------------------------------------- dates
MONTHS = {name: i for i, name in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"), start=1)}
MONTHS.update({name[:3]: number for name, number in list(MONTHS.items())})
_DISPLAY_DATE = re.compile(r"^\s*([A-Za-z]+)\.?\s+(?:(\d{1,2}),?\s+)?(\d{4})\s*$")
_ISO_DATE = re.compile(r"^\s*(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?\s*$")


def iso_date(text: Any) -> str | None:
    """"July 2001" -> 2001-07, "September 13, 2001" -> 2001-09-13, ISO dates as they are; None otherwise."""
    if text is None:
        return None
    value = str(text)
    iso = _ISO_DATE.match(value)
    if iso:
        year, month, day = iso.groups()
        return "-".join(p for p in (year, month, day) if p)
    found = _DISPLAY_DATE.match(value)
    if not found or found.group(1).lower() not in MONTHS:
        return None
    month, day, year = MONTHS[found.group(1).lower()], found.group(2), found.group(3)
    if day and not 1 <= int(day) <= 31:
        return None
    return f"{year}-{month:02d}" + (f"-{int(day):02d}" if day else "")


# --------------------------------------------------------------------------------------------------- ages
_AGE = re.compile(r"^\s*(\d+(?:\.0+)?)\s*(year|month|week|day|hour|minute)s?\s*(?:old)?\s*$", re.I)
NO_AGE_LIMIT = ("N/A", "NA", "NONE", "NO LIMIT", "")


def age(text: Any) -> tuple[str | None, bool]:
    """A registry age as the API v2 writes it: ("18 Years", True); N/A is (None, True): no limit;
    a text that is no age is (None, False) so that the caller can report it."""
    if text is None or str(text).strip().upper() in NO_AGE_LIMIT:
        return None, True
    found = _AGE.match(str(text))
    if not found:
        return None, False
    number = int(float(found.group(1)))
    return f"{number} {found.group(2).capitalize()}{'' if number == 1 else 's'}", True


def yes_no(text: Any) -> bool | None:
    """Yes/No (and true/false) as a boolean; None for anything else."""
    if isinstance(text, bool):
        return text
    key = str(text).strip().lower()
    return True if key in ("yes", "true", "y", "accepts healthy volunteers") else False if key in ("no", "false", "n") else None


def integer(text: Any) -> int | None:
    try:
        return int(str(text).strip().replace(",", ""))
    except ValueError:
        return None


def prune(node: Any) -> Any:
    """The record without empty strings, lists and objects (the API never writes them)."""
    if isinstance(node, dict):
        pruned = {k: prune(v) for k, v in node.items()}
        return {k: v for k, v in pruned.items() if v not in (None, "", [], {})}
    if isinstance(node, list):
        return [v for v in (prune(v) for v in node) if v not in (None, "", [], {})]
    return node


Problem = Callable[[str, str, str], None]  # (path, value, what was expected): report a value not carried


def value_at(node: Any, path: str, default: Any = None) -> Any:
    """The value at a dotted `path` of a record (`a.b.c`), `default` when any step is missing."""
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return default
        node = node[key]
    return node
