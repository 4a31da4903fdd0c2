"""The REVALLO registry record (NCT01421927) as a ClinicalTrials.gov API v2 study: seed facts -> dict -> JSON.

`build_registry` turns the facts of the public registry page (`shared/seeds/NCT01421927.txt`) into the
structure `https://clinicaltrials.gov/api/v2/studies/NCT01421927` returns, with one location per site
and the enrolment count the caller asks for (13 subjects at CHU Bordeaux is the faithful record).
Only facts the page states are written: no invented dates, collaborators, MeSH ids or geo points.
Free text follows the API's markdown conventions: `* ` list items, `  * ` nested items, and the
characters `<`, `>` and a literal `*` escaped with a backslash, as the API serves them.

`registry_json_text` is the one serialisation the generator writes, so `registry.json` is
byte-for-byte reproducible.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

NCT_ID = "NCT01421927"
SPONSOR = "University Hospital, Bordeaux"


@dataclass(frozen=True)
class Site:
    """A recruiting site: `country` as ClinicalTrials.gov writes it, `country_code` ISO 3166-1 alpha-3."""

    siteid: str
    facility: str
    city: str
    zip: str
    country: str
    country_code: str


REVALLO_SITE = Site("01", "CHU Bordeaux - Hôpital Haut-Lévêque", "Pessac", "33600", "France", "FRA")

# French university hospitals with an adult haematology / allogeneic transplant unit, REVALLO's site
# first; the generator spreads subjects over the first k of them when it builds multi-site studies.
FRENCH_SITES: tuple[Site, ...] = (
    REVALLO_SITE,
    Site("02", "Hôpital Saint-Louis, AP-HP", "Paris", "75010", "France", "FRA"),
    Site("03", "Hôpital Pitié-Salpêtrière, AP-HP", "Paris", "75013", "France", "FRA"),
    Site("04", "Hôpital Henri-Mondor, AP-HP", "Créteil", "94000", "France", "FRA"),
    Site("05", "CHU de Nantes - Hôtel-Dieu", "Nantes", "44000", "France", "FRA"),
    Site("06", "CHU de Lille - Hôpital Claude-Huriez", "Lille", "59000", "France", "FRA"),
    Site("07", "Hospices Civils de Lyon - Centre Hospitalier Lyon-Sud", "Pierre-Bénite", "69310", "France", "FRA"),
    Site("08", "CHU de Toulouse - IUCT-Oncopole", "Toulouse", "31100", "France", "FRA"),
    Site("09", "CHU de Rennes - Hôpital Pontchaillou", "Rennes", "35000", "France", "FRA"),
    Site("10", "CHU Grenoble Alpes - Hôpital Albert-Michallon", "La Tronche", "38700", "France", "FRA"),
    Site("11", "CHU de Montpellier - Hôpital Saint-Éloi", "Montpellier", "34090", "France", "FRA"),
    Site("12", "CHU de Nice - Hôpital de l'Archet", "Nice", "06200", "France", "FRA"),
    Site("13", "CHRU de Nancy - Hôpitaux de Brabois", "Vandœuvre-lès-Nancy", "54500", "France", "FRA"),
    Site("14", "Hôpitaux Universitaires de Strasbourg - Hôpital de Hautepierre", "Strasbourg", "67200", "France", "FRA"),
    Site("15", "CHU de Poitiers - Hôpital de la Milétrie", "Poitiers", "86000", "France", "FRA"),
    Site("16", "CHRU de Tours - Hôpital Bretonneau", "Tours", "37000", "France", "FRA"),
    Site("17", "CHU de Clermont-Ferrand - Hôpital Estaing", "Clermont-Ferrand", "63000", "France", "FRA"),
    Site("18", "CHU de Saint-Étienne - Hôpital Nord", "Saint-Priest-en-Jarez", "42270", "France", "FRA"),
    Site("19", "CHU de Limoges - Hôpital Dupuytren", "Limoges", "87000", "France", "FRA"),
    Site("20", "CHU de Besançon - Hôpital Jean-Minjoz", "Besançon", "25000", "France", "FRA"),
    Site("21", "CHU de Caen Normandie", "Caen", "14000", "France", "FRA"),
)

# --- free text of the registry page, verbatim, in the API's markdown layout -------------------------

BRIEF_TITLE = (
    "Lenalidomide After Reduced-intensity Allogeneic Stem Cell Transplantation for Relapsed Multiple Myeloma"
)
OFFICIAL_TITLE = (
    "Safety of a Maintenance Therapy With Lenalidomide After Reduced-intensity Allogeneic Stem Cell "
    "Transplantation for Chemosensitive Relapsed Multiple Myeloma"
)

BRIEF_SUMMARY = (
    "Allogeneic stem cell transplantation (Allo-SCT) in multiple myeloma (MM) remains a controversial topic "
    "because of a high risk of relapse and a significant transplant-related mortality (TRM). In an effort to "
    "reduce the TRM, most allogeneic transplants in MM are now performed after reduced-intensity conditioning "
    "regimens. In these conditions, TRM usually range from 10 to 20%. However, reducing the intensity of the "
    "conditioning invariably increases the incidence of relapse to 45 to 60%. As a consequence, "
    "post-transplant strategies to reduce the incidence of relapse after reduced-intensity Allo-SCT should be "
    "considered and evaluated."
)

DETAILED_DESCRIPTION = "\n\n".join((
    "Lenalidomide has a significant clinical activity in patients with relapsed or refractory MM and in "
    "patients relapsing after Allo-SCT. The mechanisms of action involve immunomodulation, anti-angiogenesis "
    "activity, direct anti tumor activity and effects on microenvironment. So far, the experience with "
    "lenalidomide after Allo-SCT has been limited to patients with progressive disease. In such patients, "
    "some responses are observed but most of them are transient with median progression-free survivals of "
    "less than one year. Lenalidomide used as maintenance therapy in patients with persistent rather than "
    "progressive disease might be a better approach.",
    "Lenalidomide is interesting in the Allo-SCT setting also because some recent studies focusing on its "
    "immunological properties have suggested that the molecule could stimulate the graft versus myeloma "
    "effect. First, it has been demonstrated in vitro that lenalidomide can inhibit the proliferation and the "
    "suppressor function of regulatory T cells. Secondly, a clinical study using lenalidomide as salvage "
    "therapy after Allo-SCT demonstrated an increase of activated T cells and NK cells. Finally, a case report "
    "described a patient's response to lenalidomide associated with the development of an acute graft versus "
    "host disease.",
    "Taken together, these data suggest that patients with MM who have a persistent disease after a "
    "reduced-intensity Allo-SCT might benefit from a post-transplant maintenance strategy with lenalidomide by "
    "a direct anti-tumor effect and a stimulation of the graft versus myeloma effect. The primary objective of "
    "this study is to evaluate the safety of such a strategy.",
))

# The page shows this text in the arm / intervention row ("Experimental: lenalidomide | Drug: Lenalidomide").
DOSING_RULES = "\n\n".join((
    "Start between Day+100 and Day+120 post-transplant",
    "- Initial dose: 5 mg/day every day",
    "In the absence of thrombocytopenia \\< 75000/mm3 or neutropenia \\< 1000/mm3 (with or without G-CSF), "
    "increase to the upper level than the ongoing one every third month up to the maximal dose of 15 mg/day "
    "every day.",
    "- Duration",
    "\n".join((
        "  * until persistent stringent complete response for 3 months",
        "  * or progression defined by IMWG criteria12",
        "  * or unacceptable toxicity",
        "  * or one year after transplant",
    )),
))

ARM_LABEL = "lenalidomide"
INTERVENTION_NAME = "Lenalidomide"

PRIMARY_OUTCOMES: tuple[dict[str, str], ...] = (
    {
        "measure": "Safety of lenalidomide",
        "description": (
            "The main judgement criteria will be the occurrence of adverse events (AE) requiring the definitive "
            "interruption of lenalidomide :\n\n"
            "* Grade 3 or 4 adverse event according to the Common Terminology Criteria for Adverse Events "
            "(CTCAE) v3.0 occurring at the lowest dose of lenalidomide or\n"
            "* Steroid-refractory acute (Seattle criteria) or chronic (National Institutes of Health (NIH) "
            "criteria) graft versus host disease or\n"
            "* Transplant-related death"
        ),
        "timeFrame": "1 year",
    },
)

SECONDARY_OUTCOMES: tuple[dict[str, str], ...] = (
    {
        "measure": "One-year Progression-Free Survival",
        "description": "Progression defined according to International Myeloma Working Group (IMWG) criteria",
        "timeFrame": "one year",
    },
    {"measure": "One-year Overall Survival", "description": "all-cause death", "timeFrame": "one year"},
    {"measure": "One-year Transplant Related Mortality", "timeFrame": "one year"},
    {
        "measure": "One-year incidence of Relapse/Progression",
        "description": "Progression defined according to IMWG criteria",
        "timeFrame": "one year",
    },
    {
        "measure": "Incidences of acute and chronic Graft versus Host Disease",
        "description": (
            "Acute graft versus host disease according to Seattle criteria. Chronic graft versus host disease "
            "according to NIH criteria."
        ),
        "timeFrame": "one year",
    },
    {"measure": "Immunophenotypic analysis of blood B, T, NK and dendritic cells", "timeFrame": "one year"},
    {"measure": "Chimerism analysis", "timeFrame": "one year"},
    {
        "measure": "safety of lenalidomide",
        "description": "all adverse events, graded according to NCI-CTCAE v3",
        "timeFrame": "one year",
    },
)

INCLUSION_CRITERIA: tuple[str, ...] = (
    "Patients aged 18 to 65 years",
    "Multiple Myeloma in 2nd or 3rd complete or partial response\\*",
    "Disease never refractory to lenalidomide",
    "Lenalidomide treatment ≤ 9 months",
    "HLA related or unrelated donor (matched 10/10 or mismatched 9/10 HLA-C high resolution level or HLA-DQ "
    "high or low resolution level)",
    "Insured under Social Security",
    "Information and consent signed",
)

EXCLUSION_CRITERIA: tuple[str, ...] = (
    "Stable or progressive disease",
    "Hypersensitivity to lenalidomide or excipients",
    "Lenalidomide treatment \\> 9 months",
    "Absence of efficient contraception in women or men",
    "Cardiac insufficiency (ejection fraction \\< 50% by echocardiography)",
    "Pulmonary disease characterized by DLCO \\< 60%",
    "Severe renal insufficiency (clearance of creatinin \\< 30 ml/min)",
    "Hepatic disease characterized by ASAT and/or ALAT and/or total bilirubin \\> 2 times the upper normal "
    "value except in case of Gilbert's disease",
    "Bacterial, Viral or Fungal uncontrolled infections",
    "No contraceptive method for Female subjects of childbearing potential",
    "No use of condoms for males subjects",
    "Pregnant or breast feeding woman",
    "History of previous cancer (other than myeloma) except if the patient is in complete remission for more "
    "than 5 years.",
)

# --- MeSH terms of the page ("Additional relevant MeSH terms") ------------------------------------------
# Ids are MeSH descriptor UIs as the API writes them today (unpadded, e.g. D009101). An id is given only
# where a public source confirmed it; the others carry the term alone (the API schema allows it).

CONDITION_MESH: tuple[tuple[str | None, str], ...] = (("D009101", "Multiple Myeloma"),)
CONDITION_ANCESTORS: tuple[tuple[str | None, str], ...] = (
    (None, "Neoplasms, Plasma Cell"),
    ("D009370", "Neoplasms by Histologic Type"),
    (None, "Hemostatic Disorders"),
    ("D014652", "Vascular Diseases"),
    ("D002318", "Cardiovascular Diseases"),
    (None, "Blood Protein Disorders"),
    ("D006402", "Hematologic Diseases"),
    (None, "Hemorrhagic Disorders"),
    ("D008232", "Lymphoproliferative Disorders"),
    ("D007160", "Immunoproliferative Disorders"),
    ("D007154", "Immune System Diseases"),
)
INTERVENTION_MESH: tuple[tuple[str | None, str], ...] = (("D000077269", "Lenalidomide"),)
INTERVENTION_ANCESTORS: tuple[tuple[str | None, str], ...] = (
    ("D007155", "Immunologic Factors"),
    ("D045505", "Physiological Effects of Drugs"),
    ("D020533", "Angiogenesis Inhibitors"),
    ("D043924", "Angiogenesis Modulating Agents"),
    (None, "Growth Substances"),
    (None, "Growth Inhibitors"),
    ("D000970", "Antineoplastic Agents"),
)


def _criteria(heading: str, items: Sequence[str]) -> str:
    return f"{heading}\n\n" + "\n".join(f"* {item}" for item in items)


def eligibility_criteria() -> str:
    """Inclusion then exclusion criteria, in the layout the API serves (`Inclusion Criteria:\\n\\n* ...`)."""
    return _criteria("Inclusion Criteria:", INCLUSION_CRITERIA) + "\n\n" + _criteria(
        "Exclusion Criteria:", EXCLUSION_CRITERIA
    )


def _meshes(terms: Sequence[tuple[str | None, str]]) -> list[dict[str, str]]:
    return [({"id": mesh_id} if mesh_id else {}) | {"term": term} for mesh_id, term in terms]


def _location(site: Site) -> dict[str, str]:
    return {"facility": site.facility, "city": site.city, "zip": site.zip, "country": site.country}


def _official(name: str, role: str) -> dict[str, str]:
    return {"name": name, "affiliation": SPONSOR, "role": role}


def build_registry(n_subjects: int, sites: Sequence[Site]) -> dict[str, Any]:
    """The REVALLO study record in the API v2 structure, enrolling `n_subjects` over `sites`.

    `build_registry(13, (REVALLO_SITE,))` is the faithful record of the registry page. The result is a
    fresh dict on every call (callers may mutate it), equal and identically ordered for equal arguments.
    """
    if isinstance(n_subjects, bool) or not isinstance(n_subjects, int) or n_subjects < 1:
        raise ValueError(f"n_subjects must be a positive integer, got {n_subjects!r}")
    if not sites:
        raise ValueError("at least one site is needed: the record has one location per site")
    site_ids = [site.siteid for site in sites]
    if len(set(site_ids)) != len(site_ids):
        raise ValueError(f"site ids must be unique, got {site_ids}")

    arm_group_label = ARM_LABEL
    intervention_label = f"Drug: {INTERVENTION_NAME}"
    return {
        "protocolSection": {
            "identificationModule": {
                "nctId": NCT_ID,
                "orgStudyIdInfo": {"id": "CHUBX 2010/01"},
                "organization": {"fullName": SPONSOR, "class": "OTHER"},
                "briefTitle": BRIEF_TITLE,
                "officialTitle": OFFICIAL_TITLE,
                "acronym": "REVALLO",
            },
            "statusModule": {
                "statusVerifiedDate": "2015-07",
                "overallStatus": "COMPLETED",
                "startDateStruct": {"date": "2011-08"},
                "primaryCompletionDateStruct": {"date": "2014-10", "type": "ACTUAL"},
                "completionDateStruct": {"date": "2014-10", "type": "ACTUAL"},
                # The page gives no submission date (studyFirstSubmitDate) and no start-date type.
                # Posting dates before 2017 are typed ESTIMATED by the API (the site's "(Estimate)").
                "studyFirstPostDateStruct": {"date": "2011-08-23", "type": "ESTIMATED"},
                "lastUpdatePostDateStruct": {"date": "2015-07-23", "type": "ESTIMATED"},
            },
            "sponsorCollaboratorsModule": {
                "responsibleParty": {"type": "SPONSOR"},
                "leadSponsor": {"name": SPONSOR, "class": "OTHER"},
            },
            "descriptionModule": {
                "briefSummary": BRIEF_SUMMARY,
                "detailedDescription": DETAILED_DESCRIPTION,
            },
            "conditionsModule": {"conditions": ["Multiple Myeloma"]},
            "designModule": {
                "studyType": "INTERVENTIONAL",
                "phases": ["PHASE1"],
                "designInfo": {
                    "allocation": "NA",
                    "interventionModel": "SINGLE_GROUP",
                    "primaryPurpose": "TREATMENT",
                    "maskingInfo": {"masking": "NONE"},
                },
                "enrollmentInfo": {"count": n_subjects, "type": "ACTUAL"},
            },
            "armsInterventionsModule": {
                "armGroups": [
                    {
                        "label": arm_group_label,
                        "type": "EXPERIMENTAL",
                        "description": DOSING_RULES,
                        "interventionNames": [intervention_label],
                    }
                ],
                "interventions": [
                    {
                        "type": "DRUG",
                        "name": INTERVENTION_NAME,
                        "description": DOSING_RULES,
                        "armGroupLabels": [arm_group_label],
                    }
                ],
            },
            "outcomesModule": {
                "primaryOutcomes": [dict(outcome) for outcome in PRIMARY_OUTCOMES],
                "secondaryOutcomes": [dict(outcome) for outcome in SECONDARY_OUTCOMES],
            },
            "eligibilityModule": {
                "eligibilityCriteria": eligibility_criteria(),
                "healthyVolunteers": False,
                "sex": "ALL",
                "minimumAge": "18 Years",
                "maximumAge": "65 Years",
                "stdAges": ["ADULT", "OLDER_ADULT"],
            },
            "contactsLocationsModule": {
                "overallOfficials": [
                    _official("Stephane Vigouroux, Dr", "PRINCIPAL_INVESTIGATOR"),
                    _official("Adélaïde DOUSSAU, Dr", "STUDY_CHAIR"),
                ],
                "locations": [_location(site) for site in sites],
            },
        },
        "derivedSection": {
            "conditionBrowseModule": {
                "meshes": _meshes(CONDITION_MESH),
                "ancestors": _meshes(CONDITION_ANCESTORS),
            },
            "interventionBrowseModule": {
                "meshes": _meshes(INTERVENTION_MESH),
                "ancestors": _meshes(INTERVENTION_ANCESTORS),
            },
        },
        "hasResults": False,
    }


def registry_json_text(record: dict[str, Any]) -> str:
    """The canonical `registry.json` text: 2-space indent, UTF-8 characters kept, final newline."""
    return json.dumps(record, indent=2, ensure_ascii=False) + "\n"
