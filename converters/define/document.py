"""Rendering define.xml: Plan + StudyInfo -> the Define-XML 2.1 document (lxml tree, then bytes).

Elements are written in the order the Define-XML 2.1 / ODM 1.3.2 schema declares; datasets and variables
in the declared order of the specification, codelists and dictionaries by OID: the same plan gives the
same bytes. Each dataset's ItemGroupDef carries its `def:leaf` (the XPT file, relative to define.xml).
"""
from __future__ import annotations

from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Mapping

from lxml import etree

from trialbridge.converters.define.model import (
    ACRF_LEAF, DICTIONARY_HREF, CodeListPlan, GroupPlan, ItemPlan, Plan, RefPlan, oid_part,
)
from trialbridge.converters.define.study import StudyInfo
from trialbridge.schemas.define_schema import STYLESHEET_NAME
from trialbridge.schemas.sdtm_spec import CT_VERSION, SDTMIG_VERSION

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.1"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
NSMAP = {None: ODM_NS, "def": DEF_NS, "xlink": XLINK_NS}
DEFINE_VERSION = "2.1.0"  # the Define-XML standard version, as CDISC's own 2.1 examples write it (the schema package is 2.1.10)
STD_IG = "STD.SDTMIG"
STD_CT = "STD.CT.SDTM"


def _odm(tag: str) -> str:
    return f"{{{ODM_NS}}}{tag}"


def _def(tag: str) -> str:
    return f"{{{DEF_NS}}}{tag}"


def _sub(parent: etree._Element, tag: str, attrs: Mapping[str, object] | None = None) -> etree._Element:
    """A child element with the attributes that have a value, in the given order."""
    element = etree.SubElement(parent, tag)
    for name, value in (attrs or {}).items():
        if value is not None and value != "":
            element.set(name, str(value))
    return element


def _text(parent: etree._Element, tag: str, text: str) -> etree._Element:
    """`<tag><TranslatedText xml:lang="en">text</TranslatedText></tag>`."""
    holder = _sub(parent, tag)
    translated = _sub(holder, _odm("TranslatedText"), {XML_LANG: "en"})
    translated.text = text
    return holder


def _yes_no(flag: bool) -> str:
    return "Yes" if flag else "No"


def _ref(parent: etree._Element, ref: RefPlan) -> None:
    element = _sub(parent, _odm("ItemRef"), {
        "ItemOID": ref.item_oid, "OrderNumber": ref.order, "Mandatory": _yes_no(ref.mandatory),
        "KeySequence": ref.key_sequence, "MethodOID": ref.method_oid, "Role": ref.role,
        _def("HasNoData"): "Yes" if ref.has_no_data else None,
    })
    if ref.where_clause_oid:
        _sub(element, _def("WhereClauseRef"), {"WhereClauseOID": ref.where_clause_oid})


def _standards(mdv: etree._Element) -> None:
    standards = _sub(mdv, _def("Standards"))
    _sub(standards, _def("Standard"), {"OID": STD_IG, "Name": "SDTMIG", "Type": "IG",
                                       "Version": SDTMIG_VERSION, "Status": "Final"})
    _sub(standards, _def("Standard"), {"OID": STD_CT, "Name": "CDISC/NCI", "Type": "CT", "PublishingSet": "SDTM",
                                       "Version": CT_VERSION, "Status": "Final"})


def _define_class(cls: str) -> str:
    """SDTMIG class -> Define-XML ItemGroupClass term ("Special-Purpose" -> "SPECIAL PURPOSE")."""
    return cls.replace("-", " ").upper()


def _item_group(mdv: etree._Element, group: GroupPlan) -> None:
    dataset = group.dataset
    define_class = _define_class(dataset.cls)
    one_per_subject = dataset.structure.strip().lower() == "one record per subject"
    leaf_id = f"LF.{dataset.name}"
    element = _sub(mdv, _odm("ItemGroupDef"), {
        "OID": f"IG.{dataset.name}", "Name": dataset.name, "Domain": group.domain,
        "Repeating": _yes_no(not one_per_subject and define_class != "TRIAL DESIGN"),
        "IsReferenceData": _yes_no(define_class == "TRIAL DESIGN"), "SASDatasetName": dataset.name,
        _def("Structure"): dataset.structure, "Purpose": "Tabulation", _def("StandardOID"): STD_IG,
        _def("ArchiveLocationID"): leaf_id,
    })
    _text(element, _odm("Description"), dataset.label)
    for ref in group.refs:
        _ref(element, ref)
    if group.alias:
        _sub(element, _odm("Alias"), {"Context": "DomainDescription", "Name": group.alias})
    _sub(element, _def("Class"), {"Name": define_class})
    leaf = _sub(element, _def("leaf"), {"ID": leaf_id, f"{{{XLINK_NS}}}href": group.facts.xpt_file})
    _sub(leaf, _def("title")).text = group.facts.xpt_file


def _item_def(mdv: etree._Element, item: ItemPlan) -> None:
    element = _sub(mdv, _odm("ItemDef"), {
        "OID": item.oid, "Name": item.name, "DataType": item.data_type, "Length": item.length,
        "SignificantDigits": item.significant_digits, "SASFieldName": item.name,
        _def("CommentOID"): item.comment_oid,
    })
    _text(element, _odm("Description"), item.label)
    if item.codelist_oid:
        _sub(element, _odm("CodeListRef"), {"CodeListOID": item.codelist_oid})
    origin = _sub(element, _def("Origin"), {"Type": item.origin.type, "Source": item.origin.source or None})
    if item.origin.description:
        _text(origin, _odm("Description"), item.origin.description)
    if item.origin.pages:
        reference = _sub(origin, _def("DocumentRef"), {"leafID": ACRF_LEAF})
        _sub(reference, _def("PDFPageRef"), {"PageRefs": item.origin.pages, "Type": "PhysicalRef"})
    if item.value_list_oid:
        _sub(element, _def("ValueListRef"), {"ValueListOID": item.value_list_oid})


def _codelist(mdv: etree._Element, plan: CodeListPlan) -> None:
    element = _sub(mdv, _odm("CodeList"), {
        "OID": plan.oid, "Name": plan.name, "DataType": plan.data_type,
        _def("StandardOID"): STD_CT if plan.c_code else None,
    })
    if plan.dictionary:
        _sub(element, _odm("ExternalCodeList"), {"Dictionary": plan.dictionary, "Version": plan.dictionary_version,
                                                  "href": DICTIONARY_HREF.get(plan.dictionary)})
        return
    for value, decode, code, extended in plan.items:
        tag = "CodeListItem" if plan.decoded else "EnumeratedItem"
        item = _sub(element, _odm(tag), {"CodedValue": value, _def("ExtendedValue"): "Yes" if extended else None})
        if plan.decoded:
            _text(item, _odm("Decode"), decode)
        if code:
            _sub(item, _odm("Alias"), {"Context": "nci:ExtCodeID", "Name": code})
    if plan.c_code:  # a sponsor-defined codelist has no NCI code
        _sub(element, _odm("Alias"), {"Context": "nci:ExtCodeID", "Name": plan.c_code})


def _method_name(oid: str) -> str:
    return "Algorithm " + oid.removeprefix("MT.").replace("_", " ").replace(".", " ")


def tool_version() -> str:
    try:
        return version("trialbridge")
    except PackageNotFoundError:  # a source tree never installed
        return "unknown"


def define_oids(study: StudyInfo) -> tuple[str, str, str]:
    """(Study OID, MetaDataVersion OID, FileOID) of the study's define.xml; Dataset-JSON files refer to them."""
    part = oid_part(study.study_id)
    return f"STDY.{part}", f"MDV.{part}.SDTMIG.{SDTMIG_VERSION}", f"DEF.{part}.SDTM"


def build_define(plan: Plan, created: datetime, study: StudyInfo) -> etree._ElementTree:
    """The define.xml document of a plan, elements in the order the Define-XML 2.1 schema declares."""
    root = etree.Element(_odm("ODM"), nsmap=NSMAP)
    stamp = created.replace(microsecond=0, tzinfo=None).isoformat()
    study_oid, mdv_oid, file_oid = define_oids(study)
    for name, value in (("ODMVersion", "1.3.2"), ("FileOID", file_oid), ("FileType", "Snapshot"),
                        ("CreationDateTime", stamp), ("Originator", study.originator),
                        ("SourceSystem", "trialbridge"), ("SourceSystemVersion", tool_version()),
                        (_def("Context"), "Submission")):
        if value:
            root.set(name, value)
    root.addprevious(etree.ProcessingInstruction("xml-stylesheet", f'type="text/xsl" href="{STYLESHEET_NAME}"'))
    study_el = _sub(root, _odm("Study"), {"OID": study_oid})
    variables = _sub(study_el, _odm("GlobalVariables"))
    _sub(variables, _odm("StudyName")).text = study.name
    _sub(variables, _odm("StudyDescription")).text = study.description
    _sub(variables, _odm("ProtocolName")).text = study.protocol_name
    mdv = _sub(study_el, _odm("MetaDataVersion"), {
        "OID": mdv_oid,
        "Name": f"{study.name} SDTM data definitions",
        "Description": f"SDTM datasets of study {study.name} (SDTMIG {SDTMIG_VERSION}, CDISC CT {CT_VERSION})",
        _def("DefineVersion"): DEFINE_VERSION,
    })
    _standards(mdv)
    if ACRF_LEAF in plan.documents:
        _sub(_sub(mdv, _def("AnnotatedCRF")), _def("DocumentRef"), {"leafID": ACRF_LEAF})
    supplemental = [leaf for leaf in plan.documents if leaf != ACRF_LEAF]
    if supplemental:
        documents = _sub(mdv, _def("SupplementalDoc"))
        for leaf in supplemental:
            _sub(documents, _def("DocumentRef"), {"leafID": leaf})
    for oid, refs in plan.value_lists.items():
        value_list = _sub(mdv, _def("ValueListDef"), {"OID": oid})
        for ref in refs:
            _ref(value_list, ref)
    for where in plan.where_clauses.values():
        clause = _sub(mdv, _def("WhereClauseDef"), {"OID": where.oid})
        check = _sub(clause, _odm("RangeCheck"),
                     {"Comparator": "EQ", "SoftHard": "Soft", _def("ItemOID"): where.item_oid})
        _sub(check, _odm("CheckValue")).text = where.value
    for group in plan.groups:
        _item_group(mdv, group)
    for item in plan.items.values():
        _item_def(mdv, item)
    for codelist in plan.codelists.values():
        _codelist(mdv, codelist)
    for oid, description in plan.methods.items():
        method = _sub(mdv, _odm("MethodDef"), {"OID": oid, "Name": _method_name(oid), "Type": "Computation"})
        _text(method, _odm("Description"), description)
    for oid, text in plan.comments.items():
        _text(_sub(mdv, _def("CommentDef"), {"OID": oid}), _odm("Description"), text)
    for leaf_id, (href, title) in plan.documents.items():
        leaf = _sub(mdv, _def("leaf"), {"ID": leaf_id, f"{{{XLINK_NS}}}href": href})
        _sub(leaf, _def("title")).text = title
    return etree.ElementTree(root)


def define_bytes(tree: etree._ElementTree) -> bytes:
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)

