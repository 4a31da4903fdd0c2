"""Registry record -> Practitioner (each person the record names) and PractitionerRole (each person's part
in the study, with the organisation they act for).

Rules:
- people: the overall officials (`contactsLocationsModule.overallOfficials`), the central contacts and
  the responsible-party investigator (`responsibleParty.investigatorFullName`); one Practitioner per
  name as registered: id resource_id("Practitioner", <name>), identifier the name
  (SYSTEM_PRACTITIONER);
- name: `human_name` reads the registry form "Given Family, Title, Title": the part before the first
  comma is given names then the family name (a family particle such as "de" or "van" starts the family
  name), titles known as prefixes (Dr, Prof, Pr...) go to `prefix`, the others (MD, PhD...) to `suffix`;
  `text` keeps the registered string, so nothing is lost when the split is wrong;
- telecom: the central contact's phone (with its extension as registered) and e-mail;
- PractitionerRole per official and for the responsible-party investigator: id
  resource_id("PractitionerRole", <role>, <name>), practitioner, organization = the affiliation
  (Organization rules in `organization.py`), code HL7 practitioner-role `researcher` with the registry
  role as text (the investigator title for the responsible party). ResearchStudy references the role
  (R4 principalInvestigator, R5 associatedParty.party), so the affiliation travels with it.
R4 and R5 have the same elements here (identifier, name, telecom; practitioner, organization, code).
"""
from __future__ import annotations

from dataclasses import dataclass

from trialbridge.mappings.fhir.common import (
    SYSTEM_PRACTITIONER,
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
from trialbridge.mappings.fhir.organization import organization_reference
from trialbridge.mappings.fhir.r4_differences import R4Differences, to_r4
from trialbridge.mappings.fhir.registry import SYSTEM_PRACTITIONER_ROLE, label, module, nct_id

PRACTITIONER_ROLE = "http://terminology.hl7.org/CodeSystem/practitioner-role"
RESEARCHER = coding(PRACTITIONER_ROLE, "researcher", "Researcher")
PREFIXES = frozenset({"dr", "dr.", "doctor", "prof", "prof.", "pr", "pr.", "professor", "mr", "mr.", "mrs",
                      "mrs.", "ms", "ms.", "miss", "mme", "mlle", "m."})
PARTICLES = frozenset({"de", "del", "della", "der", "des", "di", "du", "da", "dos", "la", "le", "van", "von"})
RESPONSIBLE = "RESPONSIBLE_PARTY"  # the role key of the responsible-party investigator

R4 = R4Differences()  # Practitioner and PractitionerRole: the same elements in R4


@dataclass(frozen=True)
class Person:
    """One person of the record: name as registered, study role, affiliation, and contact points."""

    name: str
    role: str = ""  # PRINCIPAL_INVESTIGATOR, STUDY_CHAIR..., RESPONSIBLE_PARTY; "" for a contact only
    affiliation: str = ""
    title: str = ""  # responsible party: the investigator's title
    phone: str = ""
    phone_ext: str = ""
    email: str = ""


def human_name(text: str) -> dict:
    """A HumanName from the registry form "Stephane Vigouroux, Dr" (text kept as registered)."""
    head, *titles = [part.strip() for part in text.split(",")]
    tokens = head.split()
    lead = 0
    while lead < len(tokens) - 1 and tokens[lead].lower() in PREFIXES:
        lead += 1
    words = tokens[lead:]
    start = next((i for i in range(1, len(words)) if words[i].lower() in PARTICLES), len(words) - 1)
    return prune({
        "text": text,
        "family": " ".join(words[start:]),
        "given": words[:start],
        "prefix": tokens[:lead] + [t for t in titles if t.lower() in PREFIXES],
        "suffix": [t for t in titles if t and t.lower() not in PREFIXES],
    })


def people(inp: FhirInput) -> list[Person]:
    """Officials, then central contacts, then the responsible-party investigator, as registered."""
    contacts = module(inp.registry, "contactsLocationsModule")
    responsible = module(inp.registry, "sponsorCollaboratorsModule").get("responsibleParty", {})
    out = [Person(str(o.get("name", "")), str(o.get("role", "")), str(o.get("affiliation", "")))
           for o in contacts.get("overallOfficials", [])]
    out += [Person(str(c.get("name", "")), phone=str(c.get("phone", "")), phone_ext=str(c.get("phoneExt", "")),
                   email=str(c.get("email", ""))) for c in contacts.get("centralContacts", [])]
    if responsible.get("investigatorFullName"):
        out.append(Person(str(responsible["investigatorFullName"]), RESPONSIBLE,
                          str(responsible.get("investigatorAffiliation", "")),
                          str(responsible.get("investigatorTitle", ""))))
    return [p for p in out if p.name]


def telecom(person: Person) -> list[dict]:
    phone = person.phone + (f" ext. {person.phone_ext}" if person.phone and person.phone_ext else "")
    return [point for point in ({"system": "phone", "value": phone}, {"system": "email", "value": person.email})
            if point["value"]]


def role_reference(person: Person) -> dict:
    return reference("PractitionerRole", person.role, person.name, display=person.name)


def _practitioner(inp: FhirInput, person: Person, points: list[dict]) -> dict:
    return prune({
        "resourceType": "Practitioner",
        "id": resource_id("Practitioner", person.name),
        "identifier": [identifier(system(inp, SYSTEM_PRACTITIONER), person.name)],
        "name": [human_name(person.name)],
        "telecom": points,
    })


def _role(inp: FhirInput, person: Person) -> dict:
    return prune({
        "resourceType": "PractitionerRole",
        "id": resource_id("PractitionerRole", person.role, person.name),
        "identifier": [identifier(system(inp, SYSTEM_PRACTITIONER_ROLE), f"{nct_id(inp.registry)}/{person.role}/{person.name}")],
        "practitioner": reference("Practitioner", person.name, display=person.name),
        "organization": organization_reference(inp, person.affiliation) if person.affiliation else None,
        "code": [concept(RESEARCHER, text=person.title or label(person.role))],
    })


def build_r5(inp: FhirInput) -> list[dict]:
    """The R5 resources, each with its generated narrative."""
    return [with_text(r, narrative(describe(r))) for r in _resources_r5(inp)]


def _resources_r5(inp: FhirInput) -> list[dict]:
    """One Practitioner per name (contact points merged), then one PractitionerRole per role."""
    everyone = people(inp)
    points: dict[str, list[dict]] = {}
    for person in everyone:
        merged = points.setdefault(person.name, [])
        merged.extend(p for p in telecom(person) if p not in merged)
    practitioners = [_practitioner(inp, Person(name), found) for name, found in points.items()]
    roles = {(p.role, p.name): _role(inp, p) for p in everyone if p.role}
    return practitioners + list(roles.values())


def build(inp: FhirInput, release: str, r5: list[dict] | None = None) -> list[dict]:
    """The resources of `release`; `r5`: this module's R5 resources when already built (R4 derives from them)."""
    resources = build_r5(inp) if r5 is None else r5
    return resources if release == "R5" else [to_r4(r, R4) for r in resources]
