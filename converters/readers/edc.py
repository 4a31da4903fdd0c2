"""An EDC export (ODM 1.3 XML, or a REDCap flat CSV with its dictionary) in, its `RawRead` or `EdcMetadata` out.

The one entry point for commands: the file's kind decides the reader. An XML file is sniffed with
`schemas.safe_xml.xml_kind` (ODM with ClinicalData -> `read_odm`; ODM 2.0 is refused by it); a CSV
file is a REDCap flat export and needs its data dictionary (given, or the one dictionary CSV beside
it). Anything else is one error finding naming what was found and what is accepted.
"""
from __future__ import annotations

from pathlib import Path

from trialbridge.converters.readers.odm import read_odm
from trialbridge.converters.readers.odm_meta import odm_metadata
from trialbridge.converters.readers.raw import RawRead
from trialbridge.converters.readers.redcap import CsvError, find_dictionary, read_redcap, redcap_metadata
from trialbridge.mappings.edc_metadata import EdcMetadata
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.safe_xml import KIND_ODM_2, KIND_ODM_DATA, KIND_ODM_METADATA, XmlError, xml_kind

ACCEPTED = "a CDISC ODM 1.3 export with ClinicalData (.xml) or a REDCap CSV export with its data dictionary (.csv)"


def _refused(path: Path, what: str) -> Finding:
    return finding("READ-KIND", path.name, [what], file=path.name, kind=what, accepted=ACCEPTED)


def _is_dictionary(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            head = handle.readline().strip().lower()
    except OSError:
        return False
    return head.startswith(('"variable / field name"', "variable / field name", "field_name,"))


def read_source(path: str | Path, dictionary: str | Path | None = None) -> RawRead:
    """The raw datasets of one EDC export, whatever its kind (never raises for bad input)."""
    path = Path(path)
    if not path.is_file():
        return RawRead({}, [finding("READ-MISSING", str(path), [str(path)], path=str(path))])
    suffix = path.suffix.lower()
    if suffix == ".csv":
        if _is_dictionary(path):
            return RawRead({}, [_refused(path, "a REDCap data dictionary (give the data export, the dictionary beside it)")])
        return read_redcap(path, dictionary)
    if suffix != ".xml":
        return RawRead({}, [_refused(path, f"a '{suffix or 'extensionless'}' file")])
    try:
        kind = xml_kind(path)
    except XmlError as error:
        return RawRead({}, [error.finding()])
    if kind in (KIND_ODM_DATA, KIND_ODM_2, KIND_ODM_METADATA):
        return read_odm(path)
    return RawRead({}, [_refused(path, f"XML of kind '{kind}'")])


def source_metadata(path: str | Path, dictionary: str | Path | None = None) -> tuple[EdcMetadata | None, list[Finding]]:
    """The study metadata of an EDC export (ODM MetaDataVersion, or the REDCap data dictionary) for `spec init`."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        beside = find_dictionary(path)
        chosen = Path(dictionary) if dictionary else beside or path  # `path` may be the dictionary itself
        try:
            return redcap_metadata(chosen), []
        except CsvError as error:
            return None, [error.found]
    try:
        kind = xml_kind(path)
        if kind == KIND_ODM_2:  # refused by the reader with its version (ODM-VERSION), as `read` says it
            return None, [f for f in read_odm(path).findings if f.severity == "error"]
        if kind not in (KIND_ODM_DATA, KIND_ODM_METADATA):
            return None, [_refused(path, f"XML of kind '{kind}'")]
        return odm_metadata(path), []
    except XmlError as error:
        return None, [error.finding()]
