"""Registry eligibility module -> Group: the study's eligibility criteria as a definitional group of people
(R5 ResearchStudy.recruitment.eligibility, R4 ResearchStudy.enrollment).

Rules (`eligibilityModule` -> Group):
- id resource_id("Group", STUDYID, "eligibility"); identifier "<NCT>/eligibility" (SYSTEM_GROUP);
  type person; membership definitional (the group is defined by its criteria, nobody is enumerated);
- characteristic (each `exclude: false`, all must hold):
  - age: SNOMED CT 397669002 |Age| with valueRange low = minimumAge, high = maximumAge, in UCUM
    (Years a, Months mo, Weeks wk, Days d, Hours h, Minutes min), as registered ("18 Years" -> 18 a);
  - sex: LOINC 46098-0 Sex, valueCodeableConcept administrative-gender female/male, or the text "All";
  - healthy volunteers: valueBoolean `healthyVolunteers`, code as text (no standard code exists);
- description (markdown): the page's eligibility summary (ages with the registry's age groups, sexes,
  gender-based eligibility, healthy volunteers), then the inclusion/exclusion text verbatim, then the
  study population and sampling method of an observational study.
- meta.profile: the core profile `groupdefinition` (PROFILE) the group conforms to: membership definitional
  (R4: actual false) with no member, and (R5) at least one characteristic; checked by the FHIR judge.
R4 (`R4`): `membership` becomes `actual` (definitional -> false); R4 Group has no `description`, so it
travels in the R5 cross-version extension `extension-Group.description` (valueMarkdown).
"""
from __future__ import annotations

import re

from trialbridge.mappings.fhir.common import (
    SNOMED,
    UCUM,
    FhirInput,
    coding,
    concept,
    describe,
    identifier,
    json_number,
    narrative,
    prune,
    resource_id,
    system,
    with_text,
)
from trialbridge.mappings.fhir.r4_differences import R4Differences, drop, recast, rename, to_r4
from trialbridge.mappings.fhir.registry import LOINC, SYSTEM_GROUP, in_order, label, module, nct_id, xver

GENDER = "http://hl7.org/fhir/administrative-gender"
AGE = concept(coding(SNOMED, "397669002", "Age"), text="Age")
SEX = concept(coding(LOINC, "46098-0", "Sex"), text="Sex")
HEALTHY_VOLUNTEERS = concept(text="Accepts healthy volunteers")
SEXES: dict[str, dict] = {
    "ALL": concept(text="All"),
    "FEMALE": concept(coding(GENDER, "female", "Female"), text="Female"),
    "MALE": concept(coding(GENDER, "male", "Male"), text="Male"),
}
UCUM_BY_AGE_UNIT = {"Year": "a", "Month": "mo", "Week": "wk", "Day": "d", "Hour": "h", "Minute": "min"}
PROFILE = "http://hl7.org/fhir/StructureDefinition/groupdefinition"  # FHIR core, R4 and R5
ELEMENTS_R4 = ("resourceType", "id", "meta", "text", "extension", "identifier", "active", "type", "actual", "code", "name",
               "quantity", "managingEntity", "characteristic", "member")

R4 = R4Differences(
    recast("membership", lambda group, _: group.get("membership") == "enumerated"),
    rename("membership", "actual"),
    recast("extension", lambda group, _: [xver("Group.description", group["description"], "markdown")]
           if group.get("description") else None),
    drop("description", "R4 Group has no description: it is carried by the cross-version extension "
                        "extension-Group.description"),
)


def group_key(inp: FhirInput) -> tuple[str, ...]:
    return (inp.studyid, "eligibility")


def age_quantity(age: str) -> dict | None:
    """A registry age ("18 Years") as a UCUM Quantity; None when it is not "<number> <unit>"."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s+([A-Za-z]+?)s?\s*", age or "")
    if not found or found.group(2).capitalize() not in UCUM_BY_AGE_UNIT:
        return None
    number = float(found.group(1))
    unit = age.split()[1].lower()  # the registry's word: "years", "months"
    return {"value": json_number(number), "unit": unit, "system": UCUM,
            "code": UCUM_BY_AGE_UNIT[found.group(2).capitalize()]}


def characteristics(eligibility: dict) -> list[dict]:
    low, high = age_quantity(eligibility.get("minimumAge", "")), age_quantity(eligibility.get("maximumAge", ""))
    sex = SEXES.get(str(eligibility.get("sex", "")))
    healthy = eligibility.get("healthyVolunteers")
    return [
        item for item in (
            {"code": AGE, "valueRange": prune({"low": low, "high": high}), "exclude": False} if low or high else None,
            {"code": SEX, "valueCodeableConcept": sex, "exclude": False} if sex else None,
            {"code": HEALTHY_VOLUNTEERS, "valueBoolean": healthy, "exclude": False}
            if isinstance(healthy, bool) else None,
        ) if item
    ]


def description(eligibility: dict) -> str:
    """The eligibility summary the registry page shows, then the criteria text and population."""
    ages = " to ".join(a for a in (eligibility.get("minimumAge"), eligibility.get("maximumAge")) if a)
    groups = ", ".join(label(g) for g in eligibility.get("stdAges", []))
    healthy = eligibility.get("healthyVolunteers")
    gender = eligibility.get("genderBased")
    lines = [
        f"**Ages eligible for study:** {ages}{f' ({groups})' if groups else ''}" if ages or groups else "",
        f"**Sexes eligible for study:** {label(str(eligibility['sex']))}" if eligibility.get("sex") else "",
        f"**Gender based:** {'Yes' if gender else 'No'}" if isinstance(gender, bool) else "",
        f"**Gender eligibility description:** {eligibility['genderDescription']}"
        if eligibility.get("genderDescription") else "",
        f"**Accepts healthy volunteers:** {'Yes' if healthy else 'No'}" if isinstance(healthy, bool) else "",
        str(eligibility.get("eligibilityCriteria", "")),
        f"**Study population:** {eligibility['studyPopulation']}" if eligibility.get("studyPopulation") else "",
        f"**Sampling method:** {label(str(eligibility['samplingMethod']))}"
        if eligibility.get("samplingMethod") else "",
    ]
    return "\n\n".join(line for line in lines if line)


def build_r5(inp: FhirInput) -> list[dict]:
    """The R5 resources, each with its generated narrative."""
    return [with_text(r, narrative(describe(r))) for r in _resources_r5(inp)]


def _resources_r5(inp: FhirInput) -> list[dict]:
    eligibility = module(inp.registry, "eligibilityModule")
    nct = nct_id(inp.registry)
    features = characteristics(eligibility)
    return [prune({
        "resourceType": "Group",
        "id": resource_id("Group", *group_key(inp)),
        "meta": {"profile": [PROFILE]} if features else None,  # R5 groupdefinition: characteristic 1..*
        "identifier": [identifier(system(inp, SYSTEM_GROUP), f"{nct or inp.studyid}/eligibility")],
        "type": "person",
        "membership": "definitional",
        "name": f"Eligibility criteria of {nct or inp.studyid}",
        "description": description(eligibility),
        "characteristic": features,
    })]


def build(inp: FhirInput, release: str, r5: list[dict] | None = None) -> list[dict]:
    """The resources of `release`; `r5`: this module's R5 resources when already built (R4 derives from them)."""
    resources = build_r5(inp) if r5 is None else r5
    return resources if release == "R5" else [in_order(_profiled(to_r4(r, R4)), ELEMENTS_R4) for r in resources]


def _profiled(group: dict) -> dict:
    """R4 groupdefinition needs only actual = false and no member: true of every definitional group."""
    return {**group, "meta": {"profile": [PROFILE]}} if group.get("actual") is False and not group.get("member") \
        else group
