"""The study-level facts define.xml states: registry record + coded data + row schemas -> StudyInfo.

StudyName, StudyDescription and ProtocolName come from the registry record; the MedDRA versions from the
columns the row schemas mark `x-version-of: MedDRA` and the spec's VERSION.MEDDRA; the CTCAE version from
the protocol text; the LOINC release from the spec's VERSION.LOINC; the planned DataType of each collected
date column from the row schemas.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

from trialbridge.mappings.countries import ISO_3166_EDITION
from trialbridge.mappings.sdtm.algorithms import study_identifier
from trialbridge.mappings.trial import Trial
from trialbridge.schemas.native import FormSchema

MEDDRA, CTCAE, ISO_3166, LOINC = "MedDRA", "CTCAE", "ISO 3166-1 alpha-3", "LOINC"
ISO_KIND = {"date": "date", "partial-date": "partialDate"}  # native x-kind -> planned Define-XML DataType


@dataclass(frozen=True)
class StudyInfo:
    """Study-level facts define.xml states, from the registry record and the coded data."""

    study_id: str  # STUDYID, e.g. REVALLO
    name: str  # StudyName
    description: str  # StudyDescription
    protocol_name: str  # ProtocolName, e.g. the sponsor's protocol number
    originator: str = ""  # the sponsor
    meddra_versions: tuple[str, ...] = ()  # MedDRA versions the AE coding used, highest last
    ctcae_version: str = ""  # CTCAE version the protocol grades toxicity with
    planned_kinds: tuple[tuple[str, str], ...] = ()  # ("<file> <column>", planned DataType) of the row schemas
    loinc_version: str = ""  # the LOINC release the lab test catalogue's codes come from (spec VERSION.LOINC)

    @property
    def meddra_version(self) -> str:
        return self.meddra_versions[-1] if self.meddra_versions else ""

    @property
    def dictionaries(self) -> dict[str, str]:
        return {name: v for name, v in ((MEDDRA, self.meddra_version), (CTCAE, self.ctcae_version),
                                        (ISO_3166, ISO_3166_EDITION), (LOINC, self.loinc_version)) if v}


# --------------------------------------------------------------------------------------- study info
_CTCAE_VERSION = re.compile(r"CTCAE\)?\s*,?\s*(?:version|v\.?)\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


def _version_key(text: str) -> tuple[float, ...]:
    return tuple(float(p) if p.isdigit() else 0.0 for p in text.split("."))


def ctcae_version(registry: Mapping[str, Any]) -> str:
    """The CTCAE version the registry record names ("3.0" from "CTCAE) v3.0"), the most precise one."""
    found = _CTCAE_VERSION.findall(json.dumps(registry, ensure_ascii=False))
    return max(found, key=lambda v: (len(v), _version_key(v)), default="")


def study_info(registry: Mapping[str, Any], meddra_versions: Iterable[str] = (),
               planned_kinds: Iterable[tuple[str, str]] = ()) -> StudyInfo:
    """StudyInfo from a ClinicalTrials.gov record, the MedDRA versions the data was coded with (any order,
    empty ones ignored) and the DataType each collected date column plans for (`trial_study_info`)."""
    protocol = registry.get("protocolSection", {})
    ident = protocol.get("identificationModule", {})
    org_id = ident.get("orgStudyIdInfo", {}).get("id", "")
    study_id = study_identifier(dict(registry))  # STUDYID, as the mappings set it
    versions = tuple(sorted({v for v in meddra_versions if v}, key=_version_key))
    return StudyInfo(
        study_id=study_id,
        name=study_id,
        description=ident.get("officialTitle") or ident.get("briefTitle") or study_id,
        protocol_name=" / ".join(p for p in (org_id, ident.get("nctId", "")) if p) or study_id,
        originator=protocol.get("sponsorCollaboratorsModule", {}).get("leadSponsor", {}).get("name", ""),
        meddra_versions=versions,
        ctcae_version=ctcae_version(registry),
        planned_kinds=tuple(planned_kinds),
    )


def trial_study_info(trial: Trial) -> StudyInfo:
    """StudyInfo of a trial read by its spec: the MedDRA versions of the columns its row schemas mark
    `x-version-of: MedDRA` and of the study's VERSION.MEDDRA, the LOINC release its VERSION.LOINC states
    (never guessed: without it define.xml says so in a finding), and the planned DataType of every date
    column of its row schemas."""
    from trialbridge.converters.sdtm_package import study_mapping

    forms = [s.form for s in study_mapping(trial).sources if s.form is not None]
    versions = [value for form in forms if form.name in trial.forms
                for dictionary, column in form.versions().items() if dictionary.upper() == MEDDRA.upper()
                and column in trial.forms[form.name].columns for value in trial.forms[form.name][column].unique()]
    versions += trial.meddra_versions()  # the spec's VERSION.MEDDRA: a version, or RAW.COLUMN of any source
    loinc = (trial.mapping.study.extra.get(f"VERSION.{LOINC}", "") if trial.mapping else "").strip()
    return replace(study_info(trial.registry, versions, planned_kinds(forms)), loinc_version=loinc)


def planned_kinds(forms: Iterable[FormSchema]) -> tuple[tuple[str, str], ...]:
    """("<file> <column>", planned DataType) of every date column of the row schemas (partialDate where
    the form allows partial dates), as `Variable.source` names a collected column."""
    return tuple((f"{form.file} {column}", ISO_KIND[spec["x-kind"]]) for form in forms
                 for column, spec in form.properties.items() if spec["x-kind"] in ISO_KIND)

