"""A define.xml of any version -> its version, the standard it declares, and findings by its own rules.

Define-XML 2.1 goes through `define_checks` (the 2.1 schema and the data cross-checks). Define-XML 2.0 is
validated against the official 2.0 schema (`define-xml-2.0/`, copied unmodified) and cross-checked with
the data by the same ODM-level rules (ItemGroupDef/ItemRef/ItemDef/CodeList and def:leaf are the same
in 2.0 and 2.1: the document is read with its def namespace taken as 2.1's, in memory). Define-XML 1.0
(ODM 1.2) has no schema in this installation: the report says so; it is cross-checked with the data by
the same rules, read with its ODM 1.2 and def 1.0 namespaces taken as 1.3's and 2.1's (its labels are
def:Label attributes, `define_read`; its value lists have no WhereClauses, so they are not matched to
rows), with the ISO 8601 types of 1.0 (`date`/`datetime` also held partial dates: 1.0 had no
partialDate), and every other file its def:leaf elements name is checked to exist.
"""
from __future__ import annotations

import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path

from lxml import etree

from trialbridge.schemas.define_checks import (
    ODM_NS,
    XptReader,
    check_define_against_data,
    check_define_package,
    no_network_parser,
    validate_define,
)
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.safe_xml import XmlError, parse_file

DEF_PREFIX = "http://www.cdisc.org/ns/def/v"
VERSIONS = {f"{DEF_PREFIX}1.0": "1.0", f"{DEF_PREFIX}2.0": "2.0", f"{DEF_PREFIX}2.1": "2.1"}
SCHEMAS = {"2.0": "define-xml-2.0/schema/cdisc-define-2.0/define2-0-0.xsd"}
XLINK = "{http://www.w3.org/1999/xlink}href"


def _def_namespace(root: etree._Element) -> str:
    for uri in root.nsmap.values():
        if (uri or "").startswith(DEF_PREFIX):
            return uri
    return ""


def define_version(root: etree._Element) -> str:
    """"1.0", "2.0" or "2.1" from the def namespace (or def:DefineVersion); "" when neither says."""
    namespace = _def_namespace(root)
    if namespace in VERSIONS:
        return VERSIONS[namespace]
    version = root.find(f".//{{{ODM_NS}}}MetaDataVersion")
    text = version.get(f"{{{namespace}}}DefineVersion", "") if version is not None and namespace else ""
    return text[:3] if text[:3] in VERSIONS.values() else ""


def declared_standard(root: etree._Element) -> tuple[str, str]:
    """(name, version) of the standard the define.xml declares: def:Standard of 2.1 (the first IG), or
    MetaDataVersion def:StandardName/def:StandardVersion of 1.0 and 2.0; ("", "") when none."""
    namespace = _def_namespace(root)
    if not namespace:
        return "", ""
    for standard in root.iter(f"{{{namespace}}}Standard"):
        if standard.get("Type") == "IG":
            return standard.get("Name", ""), standard.get("Version", "")
    mdv = root.find(f".//{{{ODM_NS}}}MetaDataVersion")
    if mdv is None:
        return "", ""
    return mdv.get(f"{{{namespace}}}StandardName", ""), mdv.get(f"{{{namespace}}}StandardVersion", "")


@lru_cache(maxsize=None)
def _schema(version: str) -> etree.XMLSchema:
    path = resources.files("trialbridge.schemas").joinpath(SCHEMAS[version])
    return etree.XMLSchema(etree.parse(str(path), no_network_parser()))


def _schema_findings(path: Path, document: etree._ElementTree, version: str) -> list[Finding]:
    schema = _schema(version)
    if schema.validate(document):
        return []
    return [finding("DEFINE-XSD-VERSION", f"{path.name}:{error.line}", (), version=version,
                    reason=error.message.replace(f"{{{DEF_PREFIX}{version}}}", "def:").replace(f"{{{ODM_NS}}}", ""))
            for error in schema.error_log]


ODM_12 = "http://www.cdisc.org/ns/odm/v1.2"


def _as_21(path: Path, namespace: str, work: Path) -> Path:
    """A copy of the document with its def namespace renamed to 2.1's and an ODM 1.2 namespace to 1.3's
    (same bytes otherwise, so the line numbers of findings are the original's)."""
    text = path.read_bytes().replace(namespace.encode(), f"{DEF_PREFIX}2.1".encode())
    text = text.replace(f'"{ODM_12}"'.encode(), f'"{ODM_NS}"'.encode())
    copy = work / path.name
    copy.write_bytes(text)
    return copy


def _leaf_findings(path: Path, root: etree._Element, namespace: str, folder: Path) -> list[Finding]:
    """Every def:leaf but the datasets' (the data cross-checks name those) points to a file that is there."""
    found = []
    for leaf in root.iter(f"{{{namespace}}}leaf"):
        href = leaf.get(XLINK, "")
        if leaf.getparent() is not None and etree.QName(leaf.getparent()).localname == "ItemGroupDef":
            continue
        if href and "://" not in href and not (folder / href.split("#")[0]).is_file():
            found.append(finding("DEFINE-XPT-MISSING", f"{path.name}:{leaf.sourceline}", (href,),
                                 dataset=leaf.get("ID", ""), where=f"line {leaf.sourceline}", file=href))
    return found


def _partial_date_of_10(found: Finding) -> bool:
    """A DEFINE-TYPE of a Define-XML 1.0 `date`/`datetime` holding partial dates: 1.0 (ODM 1.2) had no
    partialDate type, so its ISO 8601 variables are typed date or datetime whatever their precision."""
    declared = any(f"DataType {kind} (" in found.message for kind in ("date", "datetime"))
    return found.rule == "DEFINE-TYPE" and declared and bool(found.values) \
        and set(found.values) <= {"date", "partialDate", "datetime", "partialDatetime"}


def check_define_any(path: Path, data_folder: Path | None = None,
                     read: XptReader | None = None) -> tuple[str, list[Finding]]:
    """The version of the define.xml at `path` and its findings by the rules of that version; the data
    files are looked for in `data_folder` (default: beside it) and read with `read`."""
    path = Path(path)
    folder = Path(data_folder) if data_folder is not None else path.parent
    try:
        document = parse_file(path)
    except XmlError:
        return "", check_define_package(path)  # unreadable: define_checks words it (DEFINE-XML-SYNTAX, XML-*)
    root = document.getroot()
    version = define_version(root)
    if version == "2.1" or not version:
        findings = validate_define(path)
        if not any(f.rule == "DEFINE-XML-SYNTAX" or f.rule.startswith("XML-") for f in findings):
            findings += check_define_against_data(path, folder, read=read)
        return version or "2.1", findings
    namespace = _def_namespace(root)
    note = [finding("DEFINE-VERSION", path.name, (version,), version=version,
                    how="its own schema and the data" if version in SCHEMAS else
                    "the data only: the Define-XML 1.0 schema is not available in this installation")]
    if version not in SCHEMAS:
        findings = note + [finding("DEFINE-SCHEMA-UNAVAILABLE", path.name, (version,), version=version)]
        findings += _leaf_findings(path, root, namespace, folder)
        with tempfile.TemporaryDirectory(prefix="trialbridge-define-") as work:
            found = check_define_against_data(_as_21(path, namespace, Path(work)), folder, read=read)
        return version, findings + [f for f in found if not _partial_date_of_10(f)]
    findings = note + _schema_findings(path, document, version)
    with tempfile.TemporaryDirectory(prefix="trialbridge-define-") as work:
        findings += check_define_against_data(_as_21(path, namespace, Path(work)), folder, read=read)
    return version, findings
