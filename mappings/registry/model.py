"""Any ClinicalTrials.gov record -> one registry model: the API v2 record (`protocolSection`, `derivedSection`),
with where it came from and what could not be carried.

Forms read (`RecordForm`): API v2 JSON (one study, or each study of a search page `studies[]`), the classic
v1 JSON (`FullStudiesResponse.FullStudies[].Study`, or a bare `Study`; each entry of a `StudyFieldsResponse`,
through `study_fields.py`) and the legacy `<clinical_study>` XML.
`split_json` says which studies a parsed JSON document holds; `normalise` turns one into the model:
- v2 is kept as downloaded, less its `resultsSection` and `annotationSection`;
- v1 and legacy XML are converted (`v1.py`, `legacy.py`); a value that is no ClinicalTrials.gov value is
  left out with a REGISTRY-VALUE warning naming its path;
- results are NOT carried, in any form: TS, TA, TE, TI, the FHIR ResearchStudy and the PRS protocol record
  describe the protocol; a REGISTRY-RESULTS note says which section was left;
- the model is then checked against the API v2 JSON Schema (`schemas/native/registry.schema.json`): a value
  of the wrong type or outside its enumeration, or a list item without its required name or label, is left
  out with a REGISTRY-SCHEMA warning (`repair`), so the mappings can rely on the v2 types; what is still
  missing (a whole module) is a REGISTRY-SCHEMA warning and nothing is invented.
No file I/O: the reader (`converters/readers/registry.py`) parses the files.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal

from trialbridge.mappings.registry.common import age
from trialbridge.mappings.registry.legacy import RESULTS_ELEMENTS, legacy_to_v2
from trialbridge.mappings.registry.study_fields import study_fields_to_v1
from trialbridge.mappings.registry.v1 import RESULTS_SECTIONS, v1_to_v2
from trialbridge.mappings.studyid import registry_study_identifier
from trialbridge.schemas.findings import Finding, finding

RecordForm = Literal["v2", "v1", "v1-fields", "legacy-xml"]
FORM_NAMES: dict[str, str] = {"v2": "ClinicalTrials.gov API v2 JSON", "v1": "classic ClinicalTrials.gov API (v1) JSON",
                              "v1-fields": "classic ClinicalTrials.gov API (v1) StudyFieldsResponse",
                              "legacy-xml": "legacy ClinicalTrials.gov XML (clinical_study)"}
V2_DROPPED = ("resultsSection", "annotationSection")


@dataclass(frozen=True)
class RegistryRecord:
    """One study in the registry model, with its origin and the findings of reading it."""

    record: dict[str, Any]  # the API v2 record
    source: str  # the file, and the study's place in it ("page.json#studies[3]")
    form: str  # a RecordForm
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def nct_id(self) -> str:
        return str(self.record.get("protocolSection", {}).get("identificationModule", {}).get("nctId", ""))

    @property
    def studyid(self) -> str:
        return registry_study_identifier(self.record)

    @property
    def name(self) -> str:
        """The record's folder name: its NCT number, else its STUDYID made safe for a file name."""
        raw = self.nct_id or self.studyid
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in raw).strip("._") or "STUDY"


def split_json(data: Any) -> Iterator[tuple[str, str, Any]]:
    """The studies a parsed JSON document holds, as (form, place in the document, study object).

    Raises ValueError (with what was expected) when the document is no ClinicalTrials.gov record."""
    if isinstance(data, dict) and isinstance(data.get("studies"), list):
        for i, study in enumerate(data["studies"]):
            yield "v2", f"studies[{i}]", study
    elif isinstance(data, dict) and "protocolSection" in data:
        yield "v2", "", data
    elif isinstance(data, dict) and isinstance(data.get("FullStudiesResponse"), dict):
        for i, entry in enumerate(data["FullStudiesResponse"].get("FullStudies") or []):
            yield "v1", f"FullStudiesResponse.FullStudies[{i}]", (entry or {}).get("Study", {})
    elif isinstance(data, dict) and isinstance(data.get("StudyFieldsResponse"), dict):
        for i, entry in enumerate(data["StudyFieldsResponse"].get("StudyFields") or []):
            yield "v1-fields", f"StudyFieldsResponse.StudyFields[{i}]", entry
    elif isinstance(data, dict) and isinstance(data.get("Study"), dict):
        yield "v1", "Study", data["Study"]
    elif isinstance(data, dict) and "ProtocolSection" in data:
        yield "v1", "", data
    elif isinstance(data, list) and data and all(isinstance(s, dict) and "protocolSection" in s for s in data):
        for i, study in enumerate(data):
            yield "v2", f"[{i}]", study
    else:
        raise ValueError("expected an API v2 study (protocolSection), an API v2 search page (studies[]), "
                         "a classic API response (FullStudiesResponse or StudyFieldsResponse) or a classic Study "
                         "(ProtocolSection)")


class _Problems:
    """Collects the values a converter could not carry as REGISTRY-VALUE findings."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: list[Finding] = []

    def __call__(self, path: str, value: str, expected: str) -> None:
        self.found.append(finding("REGISTRY-VALUE", f"{self.source}:{path}", [value], path=path, value=value,
                                  expected=expected))


def _v2(study: dict, problem: _Problems) -> dict:
    """An API v2 study as downloaded, without results; ages in another spelling ("18 years") in the v2 form,
    an age that is no age reported and left out."""
    record = {k: v for k, v in study.items() if k not in V2_DROPPED}
    protocol = record.get("protocolSection")
    eligibility = protocol.get("eligibilityModule") if isinstance(protocol, dict) else None
    if isinstance(eligibility, dict):
        for key in ("minimumAge", "maximumAge"):
            if key in eligibility and isinstance(eligibility[key], str):
                value, known = age(eligibility[key])
                if value is None:
                    if not known:
                        problem(f"eligibilityModule.{key}", str(eligibility[key]), "an age such as '18 Years'")
                    del eligibility[key]
                else:
                    eligibility[key] = value
    return record


def _results_sections(form: str, study: Any) -> list[str]:
    if form == "legacy-xml":
        return [tag for tag in RESULTS_ELEMENTS if study.find(tag) is not None]
    names = V2_DROPPED if form == "v2" else RESULTS_SECTIONS
    return [name for name in names if isinstance(study, dict) and name in study]


REPAIRED = ("type", "enum", "pattern", "minLength", "maxLength", "minimum", "maximum", "format", "const", "minItems")


def _path_key(error: Any) -> tuple:
    """Sort key of an error's path: list indices numerically, deepest and last first when reversed."""
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.absolute_path)


def _drop(record: dict, path: list) -> bool:
    """Remove the value at `path` (keys and list indices); False when it is no longer there."""
    node: Any = record
    for key in path[:-1]:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return False
    try:
        del node[path[-1]]
    except (KeyError, IndexError, TypeError):
        return False
    return True


def repair(record: dict, source: str) -> list[Finding]:
    """Leave out, in place, every value the API v2 JSON Schema refuses (a value of the wrong type or outside
    its enumeration or pattern, a list item without its required name or label), each a REGISTRY-SCHEMA
    warning; then report what is still not as the schema wants (a module the record lacks: nothing is
    invented). The mappings can then rely on the v2 types."""
    from jsonschema import Draft202012Validator

    from trialbridge.schemas.native import registry_schema

    validator = Draft202012Validator(registry_schema())
    findings: list[Finding] = []
    for _ in range(10):  # a removal can shift list indices or uncover another error: repeat until stable
        removable = []
        for error in sorted(validator.iter_errors(record), key=_path_key, reverse=True):
            path = list(error.absolute_path)
            if path and (error.validator in REPAIRED or (error.validator == "required" and isinstance(path[-1], int))):
                removable.append((path, error))
        if not removable:
            break
        for path, error in removable:
            if _drop(record, path):
                what = "the list item is left out" if error.validator == "required" else "the value is left out"
                findings.append(finding("REGISTRY-SCHEMA", f"{source}:{error.json_path}", [str(error.instance)[:80]],
                                        detail=f"{error.message[:300]}; {what}"))
    findings += [finding("REGISTRY-SCHEMA", f"{source}:{e.json_path}", [str(e.instance)[:80]],
                         detail=f"{e.message[:300]}; the record is converted as it is")
                 for e in sorted(validator.iter_errors(record), key=lambda e: (_path_key(e), e.message))]
    return findings


def normalise(form: str, study: Any, source: str) -> RegistryRecord:
    """One study (a v2 or v1 JSON object, or a `<clinical_study>` element) -> the registry model."""
    problems = _Problems(source)
    if form == "v2":
        record = _v2(copy.deepcopy(study), problems)
    elif form == "v1":
        record = v1_to_v2(study, problems)
    elif form == "v1-fields":
        classic, left = study_fields_to_v1(study if isinstance(study, dict) else {}, source)
        record = v1_to_v2(classic, problems)
        problems.found += left
    else:
        record = legacy_to_v2(study, problems)
    findings = list(problems.found)
    findings += [finding("REGISTRY-RESULTS", source, [s], section=s, form=FORM_NAMES[form])
                 for s in _results_sections(form, study)]
    findings += repair(record, source)
    return RegistryRecord(record=record, source=source, form=form, findings=tuple(findings))
