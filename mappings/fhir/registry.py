"""What the registry-built FHIR resources share: reading the ClinicalTrials.gov API v2 record, matching its
sites and arms to the SDTM tables, and writing an R5 element into R4.

ResearchStudy, Organization, Location, Practitioner/PractitionerRole and the eligibility Group come from
the registry record (`FhirInput.registry`); the SDTM tables only lend them their keys:
- sites: the distinct DM.SITEID values, in natural order ("01" before "02" before "10"), are paired by
  position with `contactsLocationsModule.locations`, which `converters/synth/registry.py` writes in site-id
  order (site "01" first). A real downloaded record carries no site ids: with no DM (or fewer sites in DM
  than locations) each location left over is keyed by its position ("location", "3"), and a DM site with
  no location keeps its SITEID with no facility facts. `location.unplaced` reports the mismatch;
- arms: `armGroups[*].label` is DM.ARM (SDTM DM takes the registry label as ARM), so an arm group found in
  DM takes DM's ARMCD; an arm group no subject was assigned to gets the ARMCD DM would have given it.
R4 has no element for several R5 elements; `xver` writes them as the HL7 cross-version extensions
(`http://hl7.org/fhir/5.0/StructureDefinition/extension-<R5 path>`, FHIR R5 "versions" page and the
xver-r5.r4 IG): a primitive or datatype as `value[x]`, a backbone element as one sub-extension per child.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import pandas as pd

from trialbridge.mappings.fhir.common import FhirInput, arm_link_id, coding, concept
from trialbridge.mappings.fhir.registry_codes import R5CS

# Code and identifier systems as HL7 Terminology (THO 7.0.1) names them (NamingSystem uniqueId, preferred).
MESH = "https://www.nlm.nih.gov/mesh"  # NamingSystem MeSH
UNII = "http://fdasis.nlm.nih.gov"  # NamingSystem UNII
ISO3166 = "urn:iso:std:iso:3166"  # NamingSystem ISO3166Part1 (alpha-2, alpha-3 and numeric codes)
LOINC = "http://loinc.org"
# Project identifier systems for the registry-built resources that have no natural identifier.
SYSTEM_FACILITY = "urn:trialbridge:facility"  # a registry location: "<facility>, <city>"
SYSTEM_PRACTITIONER_ROLE = "urn:trialbridge:practitioner-role"  # "<NCT>/<role>/<name>"
SYSTEM_GROUP = "urn:trialbridge:group"  # "<NCT>/eligibility"
REGISTRY_PAGE = "https://clinicaltrials.gov/study/"  # the public page of an NCT number

XVER = "http://hl7.org/fhir/5.0/StructureDefinition/extension-"


# ------------------------------------------------------------------------------------ the record
def module(record: Mapping[str, Any], name: str) -> dict:
    """One module of the record (`identificationModule`, `conditionBrowseModule`...), {} when absent."""
    section = "derivedSection" if name.endswith("BrowseModule") or name == "miscInfoModule" else "protocolSection"
    found = (record.get(section) or {}).get(name)
    return found if isinstance(found, dict) else {}


def nct_id(record: Mapping[str, Any]) -> str:
    return str(module(record, "identificationModule").get("nctId", ""))


def leaves(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar of the record (and every empty list/object) with its JSON path (`a.b[0].c`)."""
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from leaves(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list) and node:
        for i, value in enumerate(node):
            yield from leaves(value, f"{path}[{i}]")
    else:
        yield path, node


def pattern(path: str) -> str:
    """A leaf path with its list positions generalised: `a.b[0].c` -> `a.b[*].c`."""
    return re.sub(r"\[\d+\]", "[*]", path)


def label(enum: str) -> str:
    """A registry enumeration as a reader sees it: ACTIVE_NOT_RECRUITING -> "Active not recruiting"."""
    return {"NA": "N/A"}.get(enum, enum.replace("_", " ").capitalize())


def yes_no(flag: Any) -> str:
    """A registry flag as text: "Yes" or "No"."""
    return "Yes" if flag else "No"


def r5_coded(system: str, pair: tuple[str, str] | None, text: str) -> dict:
    """A concept of the R5 core code system `system` (code, display) when the registry value has one, with its text."""
    return concept(*([coding(R5CS + system, *pair)] if pair else []), text=text)


# ------------------------------------------------------------------------------------ sites
@dataclass(frozen=True)
class Site:
    """One study site: its key (the SITEID, or ("location", n) for a registry location with no DM site),
    its SITEID ("" when none), its registry location ({} when none) and DM's ISO 3166 alpha-3 country."""

    key: tuple[str, ...]
    siteid: str
    location: dict
    country_code: str

    @property
    def facility(self) -> str:
        return str(self.location.get("facility", ""))

    @property
    def place(self) -> str:
        """The site's address as one text ("Birmingham, Alabama, United States"); "" when the record gives none."""
        return ", ".join(str(self.location.get(k, "")) for k in ("city", "state", "country") if self.location.get(k))

    @property
    def name(self) -> str:
        """The facility name, else "Site <SITEID>", else (a registry location with neither) "Site in <place>"."""
        return self.facility or (f"Site {self.siteid}" if self.siteid else f"Site in {self.place}" if self.place
                                 else f"Site {' '.join(self.key)}")

    @property
    def facility_identifier(self) -> str:
        """The FHIR identifier value of the site (SYSTEM_FACILITY): "<facility>, <city>", else, for a registry
        location without a facility name and without a SITEID, its address; "" when it has a SITEID only."""
        if self.facility:
            return f"{self.facility}, {self.location.get('city', '')}".rstrip(", ")
        return "" if self.siteid else self.place


def _natural(siteid: str) -> tuple[bool, int, str]:
    """Natural order of site ids: by the number they hold ("2" before "10"), then as text."""
    digits = re.sub(r"\D", "", siteid)
    return (not digits, int(digits or 0), siteid)


def dm_sites(inp: FhirInput) -> pd.DataFrame:
    """The distinct DM sites (SITEID, COUNTRY) in natural SITEID order; empty when there is no DM."""
    dm = inp.sdtm.get("DM")
    if dm is None or "SITEID" not in dm:
        return pd.DataFrame({"SITEID": [], "COUNTRY": []}, dtype=object)
    country = dm["COUNTRY"] if "COUNTRY" in dm else pd.Series("", index=dm.index)
    sites = pd.DataFrame({"SITEID": dm["SITEID"], "COUNTRY": country})
    sites = sites.loc[sites["SITEID"] != ""].drop_duplicates("SITEID")
    return sites.iloc[sorted(range(len(sites)), key=lambda i: _natural(str(sites["SITEID"].iloc[i])))]


def sites(inp: FhirInput) -> list[Site]:
    """DM sites paired by position with the registry locations; leftovers on either side kept."""
    dm = dm_sites(inp)
    locations = [loc for loc in module(inp.registry, "contactsLocationsModule").get("locations", [])
                 if isinstance(loc, dict)]
    out: list[Site] = []
    for i in range(max(len(dm), len(locations))):
        siteid = str(dm["SITEID"].iloc[i]) if i < len(dm) else ""
        country = str(dm["COUNTRY"].iloc[i]) if i < len(dm) else ""
        location = locations[i] if i < len(locations) else {}
        key = (siteid,) if siteid else ("location", str(i + 1))
        out.append(Site(key, siteid, location, country))
    return out


# ------------------------------------------------------------------------------------ arms
@dataclass(frozen=True)
class Arm:
    """A registry arm group with the ARMCD/ARM DM gives it (link = the FHIR id form of ARMCD)."""

    group: dict
    armcd: str
    arm: str

    @property
    def link(self) -> str:
        return arm_link_id(self.armcd)


def _armcd(label_: str) -> str:
    """The ARMCD SDTM DM derives from a registry label (algorithms.registry_arm: letters and digits)."""
    return re.sub(r"[^A-Z0-9]", "", label_.upper())[:20]


def arms(inp: FhirInput) -> list[Arm]:
    groups = [g for g in module(inp.registry, "armsInterventionsModule").get("armGroups", []) if isinstance(g, dict)]
    dm = inp.sdtm.get("DM")
    known: dict[str, str] = {}
    if dm is not None and {"ARM", "ARMCD"} <= set(dm.columns):
        pairs = dm.loc[dm["ARM"] != "", ["ARM", "ARMCD"]].drop_duplicates("ARM")
        known = dict(zip(pairs["ARM"], pairs["ARMCD"]))
    return [Arm(g, known.get(str(g.get("label", ""))) or _armcd(str(g.get("label", ""))), str(g.get("label", "")))
            for g in groups]


# ------------------------------------------------------------------------------------ R4 helpers
def in_order(resource: dict, elements: tuple[str, ...]) -> dict:
    """The resource with its elements in the declared order (an element not declared is an error)."""
    unknown = set(resource) - set(elements)
    if unknown:
        raise ValueError(f"{resource.get('resourceType')}: elements not in the declared order: {sorted(unknown)}")
    return {name: resource[name] for name in elements if name in resource}


def _value_key(fhir_type: str) -> str:
    return "value" + fhir_type[0].upper() + fhir_type[1:]


def xver(path: str, value: Any, types: str | Mapping[str, str]) -> dict:
    """The R5 element `path` holding `value` as an R4 cross-version extension.

    `types` is the FHIR type of a primitive/datatype element, or for a backbone element the type of each
    child used (children keep their R5 order; a repeating child gives one sub-extension per value).
    """
    if isinstance(types, str):
        return {"url": XVER + path, _value_key(types): value}
    parts = [
        {"url": child, _value_key(types[child]): item}
        for child in types
        for item in (value.get(child) if isinstance(value.get(child), list) else [value.get(child)])
        if item not in (None, "", [], {})
    ]
    return {"url": XVER + path, "extension": parts}
