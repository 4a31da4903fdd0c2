"""Registry record -> `<NCT>.xml`, the ClinicalTrials.gov PRS protocol record upload file, validated against
both copies of ProtocolRecordSchema.xsd in `schemas/prs/` (offline: the RRS import resolves to the file
beside it). What the PRS record cannot hold is one PRS-NOT-HELD note listing the registry fields; an
element left out for a missing required fact is a PRS-OMITTED warning; a schema error is PRS-SCHEMA.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from lxml import etree

from trialbridge.mappings.prs import not_held, prs_study
from trialbridge.mappings.registry.model import RegistryRecord
from trialbridge.schemas.findings import Finding, finding

SCHEMAS = ("ProtocolRecordSchema.xsd", "ProtocolRecordSchema-ctgov-2025-download.xsd")


@lru_cache(maxsize=None)
def prs_schema(name: str = SCHEMAS[0]) -> etree.XMLSchema:
    """A PRS protocol record schema, loaded from the package without network access."""
    folder = resources.files("trialbridge.schemas").joinpath("prs")
    with resources.as_file(folder.joinpath(name)) as path:
        parser = etree.XMLParser(no_network=True, resolve_entities=False)
        return etree.XMLSchema(etree.parse(str(path), parser))


def prs_bytes(record: RegistryRecord) -> tuple[bytes, list[tuple[str, str]]]:
    """The PRS XML of a record (UTF-8, declared, indented) and the elements left out."""
    root, omitted = prs_study(record.record)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True), omitted


def check_prs(document: etree._Element, location: str) -> list[Finding]:
    """`document` against each PRS protocol record schema: every error at its line."""
    findings = []
    for name in SCHEMAS:
        schema = prs_schema(name)
        if not schema.validate(document):
            findings += [finding("PRS-SCHEMA", f"{location}:{e.line}", [e.message], schema=name, detail=e.message)
                         for e in schema.error_log]
    return findings


def write_prs(record: RegistryRecord, path: Path) -> list[Finding]:
    """Write the record's PRS XML to `path`, validated; its findings."""
    data, omitted = prs_bytes(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    location = f"prs/{path.name}"
    findings = [finding("PRS-OMITTED", f"{location}:{element}", [why], element=element,
                        why=why if why.startswith("no ") else f"the registry record lacks {why}, which the schema requires there")
                for element, why in omitted]
    findings += check_prs(etree.fromstring(data), location)
    unheld = not_held(record.record)
    if unheld:
        findings.append(finding("PRS-NOT-HELD", location, unheld, count=len(unheld), fields=", ".join(unheld)))
    return findings
