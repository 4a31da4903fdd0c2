"""Safe XML: bytes or a file in, an lxml tree (or the document's kind) out, or one typed error.

Every XML file trialbridge reads from a user (CDISC ODM, Define-XML, ClinicalTrials.gov legacy and PRS
XML, FHIR XML) goes through here. The parser never loads a DTD, never resolves an entity, never touches
the network and keeps libxml2's limits on (`huge_tree` off: text nodes up to 10 MB, depth up to 256).
A document that declares entities (`<!ENTITY` in its internal DTD subset: XXE and entity-expansion
"billion laughs" payloads alike) is refused before libxml2 parses it, and again from the parsed DTD as a
second guard. A `<!DOCTYPE>` that only names an external DTD is ignored (never fetched, never read); a
reference to an entity it would define is refused. (lxml's `collect_ids=False` makes libxml2 load the
external DTD: never set it.) Files above `MAX_XML_BYTES` are refused
before they are read.

Every failure is one `XmlError` carrying the file, the line and a plain reason; `XmlError.finding()`
turns it into the catalogue finding (XML-SYNTAX, XML-ENCODING, XML-UNSAFE, XML-TOO-LARGE,
XML-UNREADABLE), all errors, so a command exits 2 and writes nothing.

`xml_kind(path)` names what a document is from its root element and namespaces, streaming the file and
stopping as soon as the answer is known (an ODM file is read only up to its first `ClinicalData`, or to
its end when it has none).
"""
from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Iterator, Literal

from lxml import etree

from trialbridge.schemas.findings import Finding, finding

MAX_XML_BYTES = 512 * 1024 * 1024  # 512 MiB: far above real EDC exports, below what an lxml tree can hold in RAM

ErrorKind = Literal["syntax", "encoding", "unsafe", "too-large", "unreadable"]
RULES: dict[str, str] = {
    "syntax": "XML-SYNTAX",
    "encoding": "XML-ENCODING",
    "unsafe": "XML-UNSAFE",
    "too-large": "XML-TOO-LARGE",
    "unreadable": "XML-UNREADABLE",
}

# What xml_kind answers.
KIND_ODM_DATA = "odm-clinical-data"  # CDISC ODM 1.3.x with ClinicalData (EDC export)
KIND_ODM_METADATA = "odm-metadata"  # CDISC ODM 1.3.x with Study metadata only
KIND_ODM_2 = "odm-2"  # CDISC ODM 2.0 (namespace .../odm/v2.0)
KIND_DEFINE = "define-xml"  # Define-XML (ODM root with the def namespace / def:DefineVersion)
KIND_CTGOV_LEGACY = "ctgov-legacy"  # ClinicalTrials.gov legacy <clinical_study>
KIND_PRS = "prs"  # ClinicalTrials.gov PRS <study_collection> (or a PRS <study>)
KIND_FHIR = "fhir"  # HL7 FHIR XML (namespace http://hl7.org/fhir)
KIND_UNKNOWN = "unknown"

ODM_NS_PREFIX = "http://www.cdisc.org/ns/odm/v"
ODM2_NS = "http://www.cdisc.org/ns/odm/v2.0"
DEF_NS_PREFIX = "http://www.cdisc.org/ns/def/v"
FHIR_NS = "http://hl7.org/fhir"
PRS_NS = "http://clinicaltrials.gov/prs"


class XmlError(Exception):
    """An XML document that cannot be read safely: where (file, line) and why."""

    def __init__(self, file: str, line: int, reason: str, kind: ErrorKind = "syntax") -> None:
        super().__init__(f"{file}:{line}: {reason}")
        self.file = file
        self.line = line
        self.reason = reason
        self.kind: ErrorKind = kind

    @property
    def rule(self) -> str:
        return RULES[self.kind]

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"

    def finding(self) -> Finding:
        """The catalogue finding for this error (severity error)."""
        return finding(self.rule, self.location, (), reason=self.reason)


def safe_parser() -> etree.XMLParser:
    """The one parser settings: no DTD, no entities, no network, libxml2 size limits on, comments kept out."""
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_comments=True, remove_pis=True, recover=False,
    )


# ------------------------------------------------------------------------------ prolog (DOCTYPE) guard
_PROLOG_SKIP = re.compile(r"\s+|<\?.*?\?>|<!--.*?-->", re.S)
_ENTITY_DECL = re.compile(r"<!ENTITY\s+(%\s+)?([^\s>]+)")
_ENTITY_REF = re.compile(r"&(?!(?:lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)([A-Za-z_:][\w.:-]*);")


def _prolog_text(data: bytes) -> str:
    """The document as text good enough to find markup in: UTF-16/32 decoded, anything else as Latin-1."""
    head = data[:4]
    for bom, codec in ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"),
                       (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le")):
        if head.startswith(bom):
            return data.decode(codec, errors="replace")
    if head[:2] == b"\x00<":
        return data.decode("utf-16-be", errors="replace")
    if head[:2] == b"<\x00":
        return data.decode("utf-16-le", errors="replace")
    return data.decode("latin-1")


def _check_prolog(data: bytes, file: str) -> None:
    """Refuse a DOCTYPE whose internal subset declares entities, before libxml2 ever sees it."""
    text = _prolog_text(data)
    position = 1 if text.startswith("\ufeff") else 0
    while True:
        skipped = _PROLOG_SKIP.match(text, position)
        if not skipped:
            break
        position = skipped.end()
    if not text.startswith("<!DOCTYPE", position):
        return
    end_of_subset = text.find("]>", position)
    doctype = text[position:] if end_of_subset < 0 else text[position:end_of_subset]
    declared = _ENTITY_DECL.search(doctype)
    if declared:
        line = text.count("\n", 0, position + declared.start()) + 1
        raise XmlError(file, line, f"the document declares the entity '{declared.group(2)}' in its DTD; "
                       "entity declarations (external entities, entity-expansion payloads) are refused", "unsafe")
    # an external DTD is never loaded: a reference to an entity it defines would silently vanish
    # from an attribute value, so it is refused here with its line
    used = _ENTITY_REF.search(text, position + len("<!DOCTYPE"))
    if used:
        line = text.count("\n", 0, used.start()) + 1
        raise XmlError(file, line, f"the entity reference &{used.group(1)}; is refused (entities are never "
                       "resolved and DTDs never loaded)", "unsafe")


def _check_tree(tree: etree._ElementTree, file: str) -> None:
    """Second guard: no entity declaration in the parsed DTD, no unresolved entity node in the tree."""
    dtd = tree.docinfo.internalDTD
    if dtd is not None:
        for entity in dtd.iterentities():
            raise XmlError(file, 1, f"the document declares the entity '{entity.name}' in its DTD; "
                           "entity declarations are refused", "unsafe")
    for node in tree.iter(etree.Entity):
        raise XmlError(file, node.sourceline or 0, f"the entity reference {node.text} is refused (entities are "
                       "never resolved and DTDs never loaded)", "unsafe")


def _syntax_error(error: etree.XMLSyntaxError, file: str) -> XmlError:
    message = str(error.msg or error).strip()
    line = error.lineno or (error.position[0] if error.position else 0) or 0
    lowered = message.lower()
    if "encoding" in lowered or "utf-8" in lowered or "char 0x" in lowered or "bytes:" in lowered:
        kind: ErrorKind = "encoding"
    elif "entity" in lowered and ("amplification" in lowered or "loop" in lowered or "huge" in lowered):
        kind = "unsafe"
    else:
        kind = "syntax"
    return XmlError(file, line, message, kind)


# ------------------------------------------------------------------------------------------- parsing
def parse_bytes(data: bytes, file: str = "<bytes>", max_bytes: int = MAX_XML_BYTES) -> etree._ElementTree:
    """Parse an XML document held in memory; `file` names it in errors. Raises XmlError."""
    if len(data) > max_bytes:
        raise XmlError(file, 0, f"the document is {len(data)} bytes, above the {max_bytes}-byte limit", "too-large")
    if not data.strip():
        raise XmlError(file, 1, "the document is empty", "syntax")
    _check_prolog(data, file)
    try:
        tree = etree.parse(io.BytesIO(data), safe_parser())
    except etree.XMLSyntaxError as error:
        raise _syntax_error(error, file) from None
    _check_tree(tree, file)
    return tree


def parse_file(path: str | Path, max_bytes: int = MAX_XML_BYTES) -> etree._ElementTree:
    """Parse an XML file safely; errors name the file by its name. Raises XmlError."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise XmlError(path.name, 0, f"the file is {size} bytes, above the {max_bytes}-byte limit", "too-large")
        data = path.read_bytes()
    except OSError as error:
        raise XmlError(path.name, 0, f"the file cannot be read: {error.strerror or error}", "unreadable") from None
    return parse_bytes(data, path.name, max_bytes)


_STREAMING = dict(events=("start", "end"), resolve_entities=False, no_network=True, load_dtd=False,
                  huge_tree=False, remove_comments=True, remove_pis=True)


def _check_before_streaming(path: Path, max_bytes: int) -> None:
    """Size, emptiness and the prolog's safety, checked before a streaming parser reads a byte."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(64 * 1024)
    except OSError as error:
        raise XmlError(path.name, 0, f"the file cannot be read: {error.strerror or error}", "unreadable") from None
    if size > max_bytes:
        raise XmlError(path.name, 0, f"the file is {size} bytes, above the {max_bytes}-byte limit", "too-large")
    if not head.strip():
        raise XmlError(path.name, 1, "the document is empty", "syntax")
    if size <= len(head):
        _check_prolog(head, path.name)
    else:  # the DOCTYPE guard needs the whole prolog and, with an external DTD, the whole text
        _check_prolog(path.read_bytes() if b"<!DOCTYPE" in head else head, path.name)


def iterparse_file(path: str | Path, max_bytes: int = MAX_XML_BYTES) -> Iterator[tuple[str, etree._Element]]:
    """("start" | "end", element) events of an XML file, streamed with the same safety as `parse_file`.

    The caller may clear elements it has handled (streaming a large file in little memory). Raises
    XmlError (before the first event when the file is too large, unreadable or unsafe; at the line of
    the fault when it is malformed).
    """
    path = Path(path)
    _check_before_streaming(path, max_bytes)
    events = etree.iterparse(str(path), **_STREAMING)
    try:
        yield from events
    except etree.XMLSyntaxError as error:
        raise _syntax_error(error, path.name) from None


# ----------------------------------------------------------------------------------------- sniffing
def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _namespace(tag: object) -> str:
    return (etree.QName(tag).namespace or "") if isinstance(tag, str) else ""


def _root_kind(root: etree._Element) -> str | None:
    """The kind when the root element alone decides it; None for ODM 1.3 (its content decides)."""
    name, namespace = _local(root.tag), _namespace(root.tag)
    if namespace == FHIR_NS:
        return KIND_FHIR
    if name == "ODM":
        if namespace == ODM2_NS or root.get("ODMVersion", "").startswith("2"):
            return KIND_ODM_2
        if any((uri or "").startswith(DEF_NS_PREFIX) for uri in root.nsmap.values()):
            return KIND_DEFINE
        return None
    if name == "clinical_study" and not namespace:
        return KIND_CTGOV_LEGACY
    if name == "study_collection" or (name == "study" and namespace == PRS_NS):
        return KIND_PRS
    return KIND_UNKNOWN


_KIND_CHUNK = 64 * 1024


def _kind_of_events(events: Iterator[tuple[str, etree._Element]], state: dict[str, etree._Element]) -> str | None:
    """The kind the next parse events reveal, if they do; `state` keeps the root between calls.

    Finished children of the root are dropped as they end, so a long metadata section costs no memory.
    """
    for event, element in events:
        root = state.get("root")
        if root is None:
            state["root"] = element
            kind = _root_kind(element)
            if kind is not None:
                return kind
            continue
        if event == "start":
            name = _local(element.tag)
            if name == "ClinicalData":
                return KIND_ODM_DATA
            if name == "MetaDataVersion" and any(
                    _namespace(key).startswith(DEF_NS_PREFIX) for key in element.attrib):
                return KIND_DEFINE
        elif element.getparent() is root:
            element.clear()
            while element.getprevious() is not None:
                del root[0]
    return None


def xml_kind(path: str | Path, max_bytes: int = MAX_XML_BYTES) -> str:
    """What an XML file is (one of the KIND_* names), streaming it only as far as needed.

    Raises XmlError when the file is unreadable, too large, unsafe or malformed before the answer is
    known (a malformed file whose kind was already known is reported when it is parsed in full).
    """
    path = Path(path)
    _check_before_streaming(path, max_bytes)
    parser = etree.XMLPullParser(**_STREAMING)
    state: dict[str, etree._Element] = {}
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(_KIND_CHUNK), b""):
                try:
                    parser.feed(chunk)
                except etree.XMLSyntaxError as error:
                    # the events parsed before the error may already answer (lxml 6.2's iterparse drops
                    # them, hence the pull parser fed by hand)
                    kind = _kind_of_events(parser.read_events(), state)
                    if kind is not None:
                        return kind
                    raise _syntax_error(error, path.name) from None
                kind = _kind_of_events(parser.read_events(), state)
                if kind is not None:
                    return kind
            parser.close()
    except etree.XMLSyntaxError as error:
        raise _syntax_error(error, path.name) from None
    except OSError as error:
        raise XmlError(path.name, 0, f"the file cannot be read: {error.strerror or error}", "unreadable") from None
    kind = _kind_of_events(parser.read_events(), state)
    if kind is not None:
        return kind
    return KIND_ODM_METADATA if "root" in state else KIND_UNKNOWN
