"""The study's constants as data: identifier, standards, treatments and conditions with their codes.

A `StudyInfo` is read from the study mapping specification (its `study` and `treatments` tables) and is
the only place the mappings, TS and the FHIR side take a study constant from (the drug name, its UNII,
RxNorm and ATC codes, dose form, route, frequency, the sponsor's identifier namespace). Nothing here
names a particular study: REVALLO's values live in `examples/revallo/spec/`.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Treatment:
    """One protocol treatment (EXTRT / TS TRT / FHIR Medication)."""

    name: str  # EXTRT and TS TRT, upper case as submitted
    unii: str = ""  # FDA UNII of the substance (TS TRT TSVALCD, FHIR coding)
    rxnorm: str = ""  # RxNorm ingredient code (FHIR Medication.code)
    atc: str = ""  # WHO ATC code (FHIR Medication.code)
    dose_form: str = ""  # CDISC CT C66726 submission value, e.g. "CAPSULE"
    route: str = ""  # CDISC CT C66729 submission value, e.g. "ORAL"
    frequency: str = ""  # CDISC CT C71113 submission value, e.g. "QD"
    dose_unit: str = ""  # CDISC CT C71620 submission value, e.g. "mg"
    dose_levels: tuple[float, ...] = ()  # planned doses per administration, e.g. (5.0, 10.0, 15.0)


@dataclass(frozen=True)
class Condition:
    """A condition the study treats (TS INDIC / TDIGRP, FHIR ResearchStudy.condition)."""

    name: str  # as the registry names it
    snomed: str = ""  # SNOMED CT concept id
    mesh: str = ""  # MeSH descriptor id


@dataclass(frozen=True)
class StudyInfo:
    """The study-level facts of a study mapping specification."""

    studyid: str  # STUDYID (never empty)
    sdtmig_version: str = "3.4"
    ct_version: str = "2025-03-28"
    sponsor_namespace: str = ""  # URI prefix of the sponsor's identifier systems (FHIR Identifier.system)
    treatments: tuple[Treatment, ...] = ()
    conditions: tuple[Condition, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)  # further study-level key/values of the spec

    def treatment(self, name: str) -> Treatment | None:
        """The treatment of that name (case-insensitive), None when the spec does not declare it."""
        wanted = name.strip().upper()
        return next((t for t in self.treatments if t.name.upper() == wanted), None)
