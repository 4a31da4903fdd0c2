"""Registry record (+ DM site ids and countries) -> Location: one per study site.

Rules (registry `contactsLocationsModule.locations[i]` -> Location; sites paired as `registry.sites` says):
- id resource_id("Location", SITEID) (a registry location with no DM site: ("location", <n>));
  identifier "<facility>, <city>" (SYSTEM_FACILITY) when the record describes the site, and the SITEID
  (SYSTEM_SITEID) when DM has it;
- name: the facility as registered (accents kept); description: the site's recruitment status when the
  record gives one (`locations[i].status`: Location.status is the building's operational status, not
  the study's);
- address: city, state, postalCode (zip), country. Country: DM.COUNTRY (ISO 3166-1 alpha-3, `FRA`) when
  DM has the site, since both releases allow a 3-letter ISO 3166 code in Address.country (R4 comment "ISO
  3166 3 letter codes can be used", R5 "2- or 3- letter codes MAY be used"); else the registry's country
  name ("France") as written: the record holds no code and the tool keeps no country table;
- position: longitude and latitude from `geoPoint`;
- managingOrganization: the site's Organization;
- contacts of the site (`locations[i].contacts`): R5 `contact` (ExtendedContactDetail: purpose = the
  registry role as text, name, telecom).
R4 (`R4`): Location has no `contact`; its `telecom` takes the contacts' phone numbers and e-mails, and
the contacts' names and roles have no R4 element (research_study.unplaced lists them for R4).
"""
from __future__ import annotations

from trialbridge.mappings.fhir.common import (
    SYSTEM_SITEID,
    FhirInput,
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
from trialbridge.mappings.fhir.organization import site_key
from trialbridge.mappings.fhir.practitioner import Person, human_name, telecom
from trialbridge.mappings.fhir.r4_differences import R4Differences, drop, recast, to_r4
from trialbridge.mappings.fhir.registry import SYSTEM_FACILITY, Site, dm_sites, in_order, label, module, sites
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.native import REGISTRY_FILE

ELEMENTS_R4 = ("resourceType", "id", "text", "identifier", "status", "name", "description", "telecom", "address",
               "position", "managingOrganization")


def _telecom_r4(location: dict, context: object) -> list[dict]:
    """R4 Location.telecom: the contact points of every R5 contact, once each."""
    points: list[dict] = []
    for contact in location.get("contact", []):
        points.extend(p for p in contact.get("telecom", []) if p not in points)
    return points


R4 = R4Differences(
    recast("telecom", _telecom_r4),
    drop("contact", "R4 Location has no contact; its telecom carries the phone numbers and e-mails, and the "
                    "contacts' names and roles are listed by research_study.unplaced for R4"),
)


def location_key(site: Site) -> tuple[str, ...]:
    return site.key


def _contact(contact: dict) -> dict:
    person = Person(str(contact.get("name", "")), phone=str(contact.get("phone", "")),
                    phone_ext=str(contact.get("phoneExt", "")), email=str(contact.get("email", "")))
    return prune({
        "purpose": concept(text=label(str(contact.get("role", "")))) if contact.get("role") else None,
        "name": [human_name(person.name)] if person.name else None,
        "telecom": telecom(person),
    })


def _location(inp: FhirInput, site: Site) -> dict:
    where = site.location
    point = where.get("geoPoint", {})
    status = str(where.get("status", ""))
    return prune({
        "resourceType": "Location",
        "id": resource_id("Location", *location_key(site)),
        "identifier": [
            identifier(system(inp, SYSTEM_FACILITY), site.facility_identifier) if site.facility_identifier else None,
            identifier(system(inp, SYSTEM_SITEID), site.siteid) if site.siteid else None,
        ],
        "name": site.facility,
        "description": f"Recruitment status at this site: {label(status)}" if status else None,
        "contact": [_contact(c) for c in where.get("contacts", [])],
        "address": {
            "city": where.get("city"),
            "state": where.get("state"),
            "postalCode": where.get("zip"),
            "country": site.country_code or where.get("country"),
        },
        "position": {"longitude": point.get("lon"), "latitude": point.get("lat")}
        if "lat" in point and "lon" in point else None,
        "managingOrganization": reference("Organization", *site_key(site), display=site.name),
    })


def build_r5(inp: FhirInput) -> list[dict]:
    """The R5 resources, each with its generated narrative."""
    return [with_text(r, narrative(describe(r))) for r in _resources_r5(inp)]


def _resources_r5(inp: FhirInput) -> list[dict]:
    return [_location(inp, site) for site in sites(inp)]


def build(inp: FhirInput, release: str, r5: list[dict] | None = None) -> list[dict]:
    """The resources of `release`; `r5`: this module's R5 resources when already built (R4 derives from them)."""
    resources = build_r5(inp) if r5 is None else r5
    return resources if release == "R5" else [in_order(to_r4(r, R4), ELEMENTS_R4) for r in resources]


def unplaced(inp: FhirInput, release: str) -> list[Finding]:
    """Sites that could not be paired: DM sites without a registry location and the reverse."""
    n_dm = len(dm_sites(inp))
    n_registry = len(module(inp.registry, "contactsLocationsModule").get("locations", []))
    if n_dm == 0 or n_dm == n_registry:
        return []
    unpaired = [site for site in sites(inp) if not (site.siteid and site.location)]
    return [finding("FHIR-SITE-UNPAIRED", f"{REGISTRY_FILE}:protocolSection.contactsLocationsModule.locations",
                    [site.siteid or site.facility for site in unpaired], dm=n_dm, registry=n_registry,
                    release=release)]
