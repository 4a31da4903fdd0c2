"""Define-XML 2.1 schema validation: a define.xml path -> XSD findings, read offline.

The official Define-XML 2.1 schema set is copied unmodified in `define-xml-2.1/schema/`; the parser never
touches the network and a resolver refuses any http(s) location, so only the local schema files can be
loaded. `validate_define` gives one finding per schema error, with its line and the schema's reason;
`find_define` names the define.xml of a package folder. The paths and namespaces the other define modules
share live here too.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from lxml import etree

from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.safe_xml import XmlError, parse_file

DEFINE_DIR = Path(__file__).resolve().parent / "define-xml-2.1"
SCHEMA_DIR = DEFINE_DIR / "schema"
DEFINE_SCHEMA = SCHEMA_DIR / "cdisc-define-2.1" / "define2-1-0.xsd"
ARM_SCHEMA = SCHEMA_DIR / "cdisc-arm-1.0" / "arm1-0-0.xsd"  # entry point for defines with analysis results
STYLESHEET_NAME = "define2-1.xsl"
DEFINE_FILE = "define.xml"

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.1"
ARM_NS = "http://www.cdisc.org/ns/arm/v1.0"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
NS = {"odm": ODM_NS, "def": DEF_NS}


def stylesheet_path() -> Path:
    """The official Define-XML 2.1 stylesheet (Lex Jansen / CDISC 2019), copied unmodified."""
    return DEFINE_DIR / "stylesheets" / STYLESHEET_NAME


# ----------------------------------------------------------------------------------- offline parsing
class _RefuseNetwork(etree.Resolver):
    """Lets local files through (by returning None) and refuses every network location."""

    def resolve(self, url: str | None, pubid: str | None, context: object) -> None:
        if url and url.split(":", 1)[0].lower() in ("http", "https", "ftp"):
            raise OSError(f"network access refused while reading Define-XML: {url}")
        return None


def no_network_parser() -> etree.XMLParser:
    """An XML parser that cannot reach the network, load DTDs or expand external entities."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    parser.resolvers.add(_RefuseNetwork())
    return parser


@lru_cache(maxsize=2)
def define_schema(with_arm: bool = False) -> etree.XMLSchema:
    """The Define-XML 2.1 schema (with the ARM 1.0 extension when asked), loaded from local files only."""
    entry = ARM_SCHEMA if with_arm else DEFINE_SCHEMA
    return etree.XMLSchema(etree.parse(str(entry), no_network_parser()))


def _short_names(text: str) -> str:
    """Schema messages with namespace URIs written as the usual prefixes."""
    return text.replace(f"{{{DEF_NS}}}", "def:").replace(f"{{{ODM_NS}}}", "").replace(f"{{{ARM_NS}}}", "arm:")


def _parse(path: Path) -> tuple[etree._ElementTree | None, list[Finding]]:
    """The define.xml tree, read through the safe parser (no DTD, no entities, no network)."""
    try:
        return parse_file(path), []
    except XmlError as error:
        if error.kind in ("syntax", "encoding", "unreadable"):
            return None, [finding("DEFINE-XML-SYNTAX", error.location, (), reason=error.reason)]
        return None, [error.finding()]


def validate_define(path: Path) -> list[Finding]:
    """Check one define.xml against the official Define-XML 2.1 XSD: one finding per schema error."""
    path = Path(path)
    document, findings = _parse(path)
    if document is None:
        return findings
    with_arm = document.getroot().find(f".//{{{ARM_NS}}}AnalysisResultDisplays") is not None
    schema = define_schema(with_arm)
    if schema.validate(document):
        return []
    return [
        finding("DEFINE-XSD", f"{path.name}:{error.line}", (), reason=_short_names(error.message))
        for error in schema.error_log
    ]


def find_define(path: Path) -> Path | None:
    """The define.xml a path names: the file itself, or `define.xml` in the folder (or its `sdtm/`)."""
    path = Path(path)
    if path.is_file():
        return path
    for candidate in (path / DEFINE_FILE, path / "sdtm" / DEFINE_FILE):
        if candidate.is_file():
            return candidate
    return None
