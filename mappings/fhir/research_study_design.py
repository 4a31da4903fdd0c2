"""Registry record (API v2) identification, design and subject matter -> the ResearchStudy elements
identifier, label, relatedArtifact, primaryPurposeType, phase, studyDesign, classifier, focus, condition,
keyword and region (R5; the rules are listed in `research_study`).
"""
from __future__ import annotations

from typing import Any

from trialbridge.mappings.fhir.common import (
    SNOMED, SYSTEM_NCT, SYSTEM_ORG_STUDY_ID, SYSTEM_SECONDARY_ID, SYSTEM_STUDYID, FhirInput, coding, concept,
    identifier, prune, reference, system,
)
from trialbridge.mappings.fhir.medication import drug_codes
from trialbridge.mappings.fhir.organization import organization_reference, sponsor_name
from trialbridge.mappings.fhir.registry import (
    ISO3166, MESH, REGISTRY_PAGE, label, module, nct_id, r5_coded, sites, yes_no,
)
from trialbridge.mappings.fhir.registry_codes import (
    CLASSIFIERS, FLAG_LABELS, MASKING_TEXT, PHASES, PURPOSES, R5CS, SEVCO,
)


def _mesh(term: dict) -> dict:
    return concept(*([coding(MESH, str(term["id"]), str(term.get("term", "")))] if term.get("id") else []),
                   text=str(term.get("term", "")))


# ------------------------------------------------------------------------------------ identity
def identifiers(inp: FhirInput) -> list[dict]:
    ident = module(inp.registry, "identificationModule")
    org_id = ident.get("orgStudyIdInfo", {})
    registering = str(ident.get("organization", {}).get("fullName", "")) or sponsor_name(inp)
    return [
        identifier(system(inp, SYSTEM_NCT), nct_id(inp.registry), use="official") if nct_id(inp.registry) else None,
        identifier(system(inp, SYSTEM_ORG_STUDY_ID), str(org_id["id"]), **prune({
            "type": concept(text=label(str(org_id.get("type", "")))) if org_id.get("type") else None,
            "assigner": organization_reference(inp, registering) if registering else None,
        })) if org_id.get("id") else None,
        *[identifier(system(inp, SYSTEM_SECONDARY_ID), str(s["id"]), **prune({
            "type": concept(text=label(str(s.get("type", "")))) if s.get("type") else None,
            "assigner": {"display": str(s["domain"])} if s.get("domain") else None,
        })) for s in ident.get("secondaryIdInfos", []) if s.get("id")],
        identifier(system(inp, SYSTEM_STUDYID), inp.studyid) if inp.studyid else None,
    ]


def labels(inp: FhirInput) -> list[dict]:
    ident = module(inp.registry, "identificationModule")
    return [
        {"type": concept(coding(R5CS + "title-type", code, display), text=display), "value": str(ident[key])}
        for key, code, display in (("officialTitle", "official", "Official title"), ("acronym", "acronym", "Acronym"))
        if ident.get(key)
    ]


def related_artifacts(inp: FhirInput) -> list[dict]:
    nct, refs = nct_id(inp.registry), module(inp.registry, "referencesModule")
    ident = module(inp.registry, "identificationModule")
    id_links = [i for i in [ident.get("orgStudyIdInfo", {}), *ident.get("secondaryIdInfos", [])] if i.get("link")]
    return [
        {"type": "derived-from", "label": "ClinicalTrials.gov", "display": f"ClinicalTrials.gov record {nct}",
         "document": {"url": REGISTRY_PAGE + nct}} if nct else None,
        *[{"type": "citation", "label": label(str(r.get("type", ""))), "citation": r.get("citation"),
           "document": {"url": f"https://pubmed.ncbi.nlm.nih.gov/{r['pmid']}/"} if r.get("pmid") else None}
          for r in refs.get("references", [])],
        *[{"type": "documentation", "display": link.get("label"), "document": {"url": link.get("url")}}
          for link in refs.get("seeLinks", [])],
        *[{"type": "documentation", "label": ipd.get("id"),
           "display": ": ".join(str(v) for v in (ipd.get("type"), ipd.get("comment")) if v),
           "document": {"url": ipd.get("url")}} for ipd in refs.get("availIpds", [])],
        *[{"type": "documentation", "display": f"Study id {i['id']}", "document": {"url": i["link"]}}
          for i in id_links],
    ]


# ------------------------------------------------------------------------------------ design
def primary_purpose(inp: FhirInput) -> dict | None:
    purpose = str(module(inp.registry, "designModule").get("designInfo", {}).get("primaryPurpose", ""))
    return r5_coded("research-study-prim-purp-type", PURPOSES.get(purpose), label(purpose)) if purpose else None


def phase(inp: FhirInput) -> dict | None:
    phases = tuple(str(p) for p in module(inp.registry, "designModule").get("phases", []))
    pair = PHASES.get(phases)
    return r5_coded("research-study-phase", pair, pair[1] if pair else " / ".join(label(p) for p in phases)) \
        if phases else None


def _design(field: str, value: Any, title: str) -> dict:
    text = f"{title}: {MASKING_TEXT.get(str(value), label(str(value))) if isinstance(value, str) else value}"
    pair = SEVCO.get((field, str(value)))
    return concept(*([coding(R5CS + "study-design", *pair)] if pair else []), text=text)


def study_design(inp: FhirInput) -> list[dict]:
    design = module(inp.registry, "designModule")
    info, masking, bio = design.get("designInfo", {}), design.get("designInfo", {}).get("maskingInfo", {}), \
        design.get("bioSpec", {})
    fields = [("studyType", design.get("studyType"), "Study type"),
              ("patientRegistry", yes_no(design["patientRegistry"]) if "patientRegistry" in design else None,
               "Patient registry"),
              ("allocation", info.get("allocation"), "Allocation"),
              ("interventionModel", info.get("interventionModel"), "Intervention model"),
              ("interventionModelDescription", info.get("interventionModelDescription"),
               "Intervention model description"),
              ("observationalModel", info.get("observationalModel"), "Observational model"),
              ("timePerspective", info.get("timePerspective"), "Time perspective"),
              ("masking", masking.get("masking"), "Masking"),
              *[("whoMasked", who, "Masked") for who in masking.get("whoMasked", [])],
              ("maskingDescription", masking.get("maskingDescription"), "Masking description"),
              ("targetDuration", design.get("targetDuration"), "Target follow-up duration"),
              ("retention", bio.get("retention"), "Biospecimen retention"),
              ("bioSpecDescription", bio.get("description"), "Biospecimen description"),
              *[(f"expandedAccess.{k}", yes_no(v), f"Expanded access type {k}")
                for k, v in design.get("expandedAccessTypes", {}).items()],
              ("nPtrsToThisExpAccNctId", design.get("nPtrsToThisExpAccNctId"),
               "Records pointing to this expanded access record")]
    free_text = {"interventionModelDescription", "maskingDescription", "targetDuration", "bioSpecDescription"}
    return [concept(text=f"{title}: {value}") if field in free_text else _design(field, value, title)
            for field, value, title in fields if value not in (None, "")]


def classifiers(inp: FhirInput) -> list[dict]:
    oversight = module(inp.registry, "oversightModule")
    status = module(inp.registry, "statusModule")
    access = status.get("expandedAccessInfo", {})
    flags = [*oversight.items(), ("delayedPosting", status.get("delayedPosting")),
             ("hasExpandedAccess", access.get("hasExpandedAccess")), ("hasResults", inp.registry.get("hasResults"))]
    out = [r5_coded("research-study-classifiers", CLASSIFIERS.get(k) if v is True else None,
                    f"{FLAG_LABELS.get(k, k)}: {yes_no(v) if isinstance(v, bool) else v}")
           for k, v in flags if v is not None]
    out += [concept(text=f"Expanded access record: {access['nctId']}")] if access.get("nctId") else []
    out += [concept(text=f"Expanded access status: {label(str(access['statusForNctId']))}")] \
        if access.get("statusForNctId") else []
    return out


# ------------------------------------------------------------------------------------ subject matter
def _intervention_codes(inp: FhirInput, name: str) -> list[dict]:
    meshes = module(inp.registry, "interventionBrowseModule").get("meshes", [])
    key = name.upper()
    return [*drug_codes(inp, key),
            *[coding(MESH, str(m["id"]), str(m.get("term", ""))) for m in meshes
              if m.get("id") and str(m.get("term", "")).lower() == name.lower()]]


def focus(inp: FhirInput) -> list[dict]:
    ex = inp.sdtm.get("EX")
    given = set(ex["EXTRT"]) if ex is not None and "EXTRT" in ex else set()
    return [
        {"concept": concept(*_intervention_codes(inp, str(i.get("name", ""))), text=str(i.get("name", ""))),
         "reference": reference("Medication", str(i["name"]).upper(), display=str(i["name"]))
         if str(i.get("name", "")).upper() in given else None}
        for i in module(inp.registry, "armsInterventionsModule").get("interventions", []) if i.get("name")
    ]


def stated_snomed(inp: FhirInput, name: str, mesh_id: str = "") -> str:
    """The SNOMED CT concept the study spec states for a condition (by its name, else by its MeSH id), or ""."""
    stated = inp.study.conditions if inp.study is not None else ()
    by_name = [c.snomed for c in stated if c.snomed and c.name.casefold() == name.casefold()]
    by_mesh = [c.snomed for c in stated if c.snomed and mesh_id and c.mesh == mesh_id]
    return (by_name + by_mesh + [""])[0]


def conditions(inp: FhirInput) -> list[dict]:
    """The registry's conditions: MeSH from the record, SNOMED CT as the study spec states it (conditions.csv)."""
    meshes = module(inp.registry, "conditionBrowseModule").get("meshes", [])
    by_term = {str(m.get("term", "")).lower(): m for m in meshes}
    named = [str(c) for c in module(inp.registry, "conditionsModule").get("conditions", [])]

    def coded(text: str, mesh: dict | None) -> dict:
        mesh_id = str((mesh or {}).get("id", ""))
        snomed = stated_snomed(inp, text, mesh_id)
        codes = [coding(MESH, mesh_id, str(mesh.get("term", "")))] if mesh_id and mesh else []
        codes += [coding(SNOMED, snomed)] if snomed else []
        return concept(*codes, text=text)

    extra = [m for m in meshes if str(m.get("term", "")).lower() not in {c.lower() for c in named}]
    return [coded(c, by_term.get(c.lower())) for c in named] + [coded(str(m.get("term", "")), m) for m in extra]


def keywords(inp: FhirInput) -> list[dict]:
    interventions = {str(i.get("name", "")).lower()
                     for i in module(inp.registry, "armsInterventionsModule").get("interventions", [])}
    condition_browse = module(inp.registry, "conditionBrowseModule")
    intervention_browse = module(inp.registry, "interventionBrowseModule")
    return [
        *[concept(text=str(k)) for k in module(inp.registry, "conditionsModule").get("keywords", [])],
        *[_mesh(m) for m in condition_browse.get("ancestors", [])],
        *[_mesh(m) for m in intervention_browse.get("meshes", [])
          if str(m.get("term", "")).lower() not in interventions],  # the others code a focus
        *[_mesh(m) for m in intervention_browse.get("ancestors", [])],
    ]


def regions(inp: FhirInput) -> list[dict]:
    found: dict[str, dict] = {}
    for site in sites(inp):
        name = str(site.location.get("country", "")) or site.country_code
        code = site.country_code
        if name and name not in found:
            found[name] = concept(*([coding(ISO3166, code, name if name != code else "")] if code else []), text=name)
    return list(found.values())
