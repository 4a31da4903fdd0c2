"""Registry record (+ DM site ids) -> Organization: the lead sponsor, every other organisation the record
names, and one Organization per study site.

Rules:
- the lead sponsor (`sponsorCollaboratorsModule.leadSponsor`): id resource_id("Organization", "sponsor");
- every other organisation named by the record, once per name: the registering organisation
  (`identificationModule.organization`), collaborators, the affiliations of the overall officials and of
  the responsible party: id resource_id("Organization", "name", <name>). A name equal to the lead
  sponsor's is the sponsor;
- each site (see `registry.sites`): id resource_id("Organization", "site", SITEID) (a registry location
  with no DM site: ("site", "location", <n>)), name = the facility (accents kept); no partOf: the record
  does not say who runs a site;
- identifier: the name (SYSTEM_ORGANIZATION), so that the same organisation is one resource on a server
  whatever study brings it; a site also carries its SITEID (SYSTEM_SITEID). A DM site the record does not
  describe has only its SITEID (org-1: a name or an identifier);
- type: the registry's agency class verbatim as text (`OTHER`, `INDUSTRY`...), coded HL7 organization-type
  `govt` where the class is governmental (NIH, FED, OTHER_GOV); the other classes have no exact code.
R4 and R5 have the same Organization elements here (identifier, type, name).
"""
from __future__ import annotations

from dataclasses import dataclass

from trialbridge.mappings.fhir.common import (
    SYSTEM_ORGANIZATION,
    SYSTEM_SITEID,
    FhirInput,
    coding,
    concept,
    describe,
    identifier,
    narrative,
    prune,
    reference,
    resource_id,
    system,
    with_text,
)
from trialbridge.mappings.fhir.r4_differences import R4Differences, to_r4
from trialbridge.mappings.fhir.registry import SYSTEM_FACILITY, Site, module, sites

ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
GOVERNMENT = coding(ORGANIZATION_TYPE, "govt", "Government")
TYPE_BY_CLASS: dict[str, dict] = {"NIH": GOVERNMENT, "FED": GOVERNMENT, "OTHER_GOV": GOVERNMENT}

R4 = R4Differences()  # Organization: identifier, type and name are the same in R4


@dataclass(frozen=True)
class Named:
    """An organisation the record names: its key after "Organization", its name and agency class."""

    key: tuple[str, ...]
    name: str
    agency_class: str = ""


def sponsor_name(inp: FhirInput) -> str:
    return str(module(inp.registry, "sponsorCollaboratorsModule").get("leadSponsor", {}).get("name", ""))


def organization_key(inp: FhirInput, name: str) -> tuple[str, ...]:
    """The key of the organisation called `name`: the sponsor's, else ("name", name)."""
    return ("sponsor",) if name == sponsor_name(inp) else ("name", name)


def organization_reference(inp: FhirInput, name: str) -> dict:
    return reference("Organization", *organization_key(inp, name), display=name)


def site_key(site: Site) -> tuple[str, ...]:
    return ("site",) + site.key


def named(inp: FhirInput) -> list[Named]:
    """The lead sponsor, then each other organisation in the order the record names it, once."""
    record = inp.registry
    sponsors = module(record, "sponsorCollaboratorsModule")
    lead = sponsors.get("leadSponsor", {})
    registering = module(record, "identificationModule").get("organization", {})
    responsible = sponsors.get("responsibleParty", {})
    candidates = [(str(lead.get("name", "")), str(lead.get("class", "")))]
    candidates.append((str(registering.get("fullName", "")), str(registering.get("class", ""))))
    candidates += [(str(c.get("name", "")), str(c.get("class", ""))) for c in sponsors.get("collaborators", [])]
    candidates += [(str(o.get("affiliation", "")), "")
                   for o in module(record, "contactsLocationsModule").get("overallOfficials", [])]
    candidates.append((str(responsible.get("investigatorAffiliation", "")), ""))
    out: dict[tuple[str, ...], Named] = {}
    for name, agency_class in candidates:
        key = organization_key(inp, name)
        if name and (key not in out or not out[key].agency_class):
            out[key] = Named(key, name, agency_class or (out[key].agency_class if key in out else ""))
    return list(out.values())


def _organization(inp: FhirInput, key: tuple[str, ...], name: str, agency_class: str = "", siteid: str = "",
                  place: str = "") -> dict:
    return prune({
        "resourceType": "Organization",
        "id": resource_id("Organization", *key),
        "identifier": [
            identifier(system(inp, SYSTEM_ORGANIZATION), name) if name else None,
            identifier(system(inp, SYSTEM_SITEID), siteid) if siteid else None,
            identifier(system(inp, SYSTEM_FACILITY), place) if place and not name and not siteid else None,  # known by its address only
        ],
        "type": [concept(*([TYPE_BY_CLASS[agency_class]] if agency_class in TYPE_BY_CLASS else []),
                         text=agency_class)],
        "name": name,
    })


def build_r5(inp: FhirInput) -> list[dict]:
    """The R5 resources, each with its generated narrative."""
    return [with_text(r, narrative(describe(r))) for r in _resources_r5(inp)]


def _resources_r5(inp: FhirInput) -> list[dict]:
    organizations = [_organization(inp, org.key, org.name, org.agency_class) for org in named(inp)]
    organizations += [_organization(inp, site_key(site), site.facility, siteid=site.siteid, place=site.place)
                      for site in sites(inp)]
    return organizations


def build(inp: FhirInput, release: str, r5: list[dict] | None = None) -> list[dict]:
    """The resources of `release`; `r5`: this module's R5 resources when already built (R4 derives from them)."""
    resources = build_r5(inp) if r5 is None else r5
    return resources if release == "R5" else [to_r4(r, R4) for r in resources]
