"""CDISC ODM 1.3.x metadata in, `EdcMetadata` (mappings/edc_metadata.py) out; also the raw dataset naming rules.

Every `Study/MetaDataVersion` of the file is read, in document order, into one set of definitions keyed
by OID; the first definition of an OID wins. (OpenClinica writes one Study per site whose
MetaDataVersion only `Include`s the parent study's; merging by OID covers that without resolving the
chain.)

Naming rules (the same for the metadata and for the data reader, so a spec pre-filled from
`odm_metadata` names what `read_odm` hands on):
- raw dataset: one per ItemGroupDef, named by its `Name` when that name is non-empty and no other
  ItemGroupDef has it, else by its OID. REDCap exports (ODM `SourceSystem="REDCap"`) are the exception:
  REDCap writes one ItemGroup per form section with no key of its own, so the raw dataset is the form
  (instrument), named by `redcap:FormName` (else FormDef Name, else OID) as in REDCap's flat export.
- item column: the ItemDef `Name` when no other item of the same raw dataset has that name and it is not
  a key column name, else the ItemDef OID.
- coded item: a companion column `<column>_DECODE` with the CodeList's decoded text (REDCap checkbox
  option `field___code`: the option's label when ticked, "" otherwise); a unit column `<column>_UNIT`
  is added by the data reader when ItemData carry a MeasurementUnitRef.
- REDCap's `redcap_data_access_group` item is record-level: it fills the `redcap_data_access_group` key
  column of every row of the record (as in REDCap's flat export) instead of being an item column.
"""
from __future__ import annotations

from pathlib import Path

from lxml import etree

from trialbridge.mappings.edc_metadata import (
    CodeList, CodeListTerm, EdcMetadata, EventMeta, FormMeta, ItemGroupMeta, ItemMeta, RawColumn, RawDatasetMeta,
)
from trialbridge.schemas.safe_xml import parse_file

REDCAP_NS = "https://projectredcap.org"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
DAG = "redcap_data_access_group"  # REDCap's record-level data access group: a key column, not a form item
DECODE_SUFFIX = "_DECODE"
UNIT_SUFFIX = "_UNIT"

# Context columns written before the items, in this order (vendor attribute columns follow their level).
GENERIC_KEYS = ("StudyOID", "SubjectKey", "SiteRef", "StudyEventOID", "StudyEventRepeatKey", "StudyEventName",
                "FormOID", "FormRepeatKey", "ItemGroupRepeatKey")
REDCAP_KEYS = GENERIC_KEYS + ("redcap_event_name", "redcap_arm", "redcap_arm_name", "redcap_repeat_instrument",
                              "redcap_repeat_instance", "redcap_data_access_group")


def local(element: etree._Element) -> str:
    """The element's name without its namespace ("" for comments and processing instructions)."""
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def children(element: etree._Element, name: str) -> list[etree._Element]:
    """Child elements with this local name, whatever the (ODM) namespace."""
    return [child for child in element if isinstance(child.tag, str) and local(child) == name]


def text_of(element: etree._Element | None) -> str:
    """The TranslatedText of a Description/Question/Decode: untagged or English first, else the first."""
    if element is None:
        return ""
    texts = children(element, "TranslatedText")
    if not texts:
        return " ".join((element.text or "").split())
    chosen = next((t for t in texts if t.get(XML_LANG, "") in ("", "en") or t.get(XML_LANG, "").startswith("en")),
                  texts[0])
    return " ".join((chosen.text or "").split())


def _first(element: etree._Element, name: str) -> etree._Element | None:
    found = children(element, name)
    return found[0] if found else None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None


def _aliases(element: etree._Element) -> tuple[tuple[str, str], ...]:
    return tuple((a.get("Context", ""), a.get("Name", "")) for a in children(element, "Alias"))


def _refs(element: etree._Element, ref: str, attribute: str) -> tuple[str, ...]:
    """Referenced OIDs in OrderNumber order when every ref has one, else in document order."""
    found = children(element, ref)
    numbers = [_int(r.get("OrderNumber")) for r in found]
    if found and all(n is not None for n in numbers):
        found = [found[i] for i in sorted(range(len(found)), key=lambda i: (numbers[i], i))]
    return tuple(r.get(attribute, "") for r in found)


def _redcap(element: etree._Element, name: str) -> str:
    return element.get(f"{{{REDCAP_NS}}}{name}", "")


def source_system(root: etree._Element) -> str:
    system = root.get("SourceSystem", "")
    if "redcap" in system.lower() or REDCAP_NS in root.nsmap.values():
        return "REDCap"
    if "openclinica" in system.lower() or any("openclinica" in (uri or "").lower() for uri in root.nsmap.values()):
        return "OpenClinica"
    return system


MULTI_SELECT = "multi-select"  # field_type of an OpenClinica checkbox / multi-select item: "1,2" holds two codes


def _multi_select(element: etree._Element) -> str:
    """The OpenClinica MultiSelectList an ItemDef refers to (its ID attribute is prefixed in some versions)."""
    ref = _first(element, "MultiSelectListRef")
    if ref is None:
        return ""
    return next((v for k, v in ref.attrib.items() if etree.QName(k).localname == "MultiSelectListID"), "")


def _multi_select_list(element: etree._Element) -> CodeList:
    """An OpenClinica MultiSelectList (ID, Name, MultiSelectListItem CodedOptionValue + Decode) as a CodeList."""
    terms = tuple(CodeListTerm(t.get("CodedOptionValue", ""), text_of(_first(t, "Decode")))
                  for t in children(element, "MultiSelectListItem"))
    return CodeList(oid=element.get("ID", ""), name=element.get("Name", ""), data_type=element.get("DataType", ""),
                    terms=terms)


def _item(element: etree._Element) -> ItemMeta:
    codelist = _first(element, "CodeListRef")
    multi = _multi_select(element) if codelist is None else ""
    aliases = _aliases(element)
    sdtm = tuple(name for context, name in aliases if "sdtm" in context.lower() and name)
    if element.get("SDSVarName"):
        sdtm += (element.get("SDSVarName", ""),)
    choices: tuple[tuple[str, str], ...] = ()
    return ItemMeta(
        oid=element.get("OID", ""), name=element.get("Name", "") or element.get("OID", ""),
        data_type=element.get("DataType", ""), length=_int(element.get("Length")),
        significant_digits=_int(element.get("SignificantDigits")),
        label=text_of(_first(element, "Description")) or element.get("Comment", ""),
        question=text_of(_first(element, "Question")),
        codelist=codelist.get("CodeListOID", "") if codelist is not None else multi,
        units=tuple(u.get("MeasurementUnitOID", "") for u in children(element, "MeasurementUnitRef")),
        aliases=aliases, sdtm=tuple(dict.fromkeys(sdtm)), choices=choices,
        field_type=_redcap(element, "FieldType") or (MULTI_SELECT if multi else ""),
    )


def _codelist(element: etree._Element) -> CodeList:
    terms = [CodeListTerm(t.get("CodedValue", ""), text_of(_first(t, "Decode")), _aliases(t))
             for t in children(element, "CodeListItem")]
    terms += [CodeListTerm(t.get("CodedValue", ""), t.get("CodedValue", ""), _aliases(t))
              for t in children(element, "EnumeratedItem")]
    external = _first(element, "ExternalCodeList")
    return CodeList(
        oid=element.get("OID", ""), name=element.get("Name", ""), data_type=element.get("DataType", ""),
        terms=tuple(terms), dictionary=external.get("Dictionary", "") if external is not None else "",
        version=external.get("Version", "") if external is not None else "", aliases=_aliases(element),
    )


def parse_checkbox_choices(text: str) -> tuple[tuple[str, str], ...]:
    """REDCap choices text 'code, label | code, label' as (code, label) pairs."""
    pairs = []
    for part in text.split("|"):
        code, _, label = part.partition(",")
        if code.strip():
            pairs.append((code.strip(), label.strip()))
    return tuple(pairs)


def metadata_from_tree(root: etree._Element, source: str) -> EdcMetadata:
    """All definitions of every MetaDataVersion of an ODM document, merged by OID (first wins)."""
    events: dict[str, EventMeta] = {}
    forms: dict[str, FormMeta] = {}
    groups: dict[str, ItemGroupMeta] = {}
    items: dict[str, ItemMeta] = {}
    codelists: dict[str, CodeList] = {}
    units: dict[str, str] = {}
    repeating_instruments: set[tuple[str, str]] = set()
    repeating_events: set[str] = set()
    studies = children(root, "Study")
    study = studies[0] if studies else None
    for each in studies:
        for basic in children(each, "BasicDefinitions"):
            for unit in children(basic, "MeasurementUnit"):
                units.setdefault(unit.get("OID", ""), text_of(_first(unit, "Symbol")) or unit.get("Name", ""))
        for variables in children(each, "GlobalVariables"):
            for node in variables.iter(f"{{{REDCAP_NS}}}RepeatingInstrument"):
                repeating_instruments.add((_redcap(node, "UniqueEventName"), _redcap(node, "RepeatInstrument")))
            for node in variables.iter(f"{{{REDCAP_NS}}}RepeatingEvent"):
                repeating_events.add(_redcap(node, "UniqueEventName"))
        for version in children(each, "MetaDataVersion"):
            for node in children(version, "StudyEventDef"):
                events.setdefault(node.get("OID", ""), EventMeta(
                    node.get("OID", ""), node.get("Name", ""), node.get("Repeating") == "Yes", node.get("Type", ""),
                    _refs(node, "FormRef", "FormOID"), _redcap(node, "UniqueEventName"), _redcap(node, "ArmNum"),
                    _redcap(node, "ArmName")))
            for node in children(version, "FormDef"):
                forms.setdefault(node.get("OID", ""), FormMeta(
                    node.get("OID", ""), node.get("Name", ""), node.get("Repeating") == "Yes",
                    _refs(node, "ItemGroupRef", "ItemGroupOID"), _redcap(node, "FormName")))
            for node in children(version, "ItemGroupDef"):
                aliases = _aliases(node)
                domain = node.get("Domain", "") or next((n for c, n in aliases if "sdtm" in c.lower()), "")
                groups.setdefault(node.get("OID", ""), ItemGroupMeta(
                    node.get("OID", ""), node.get("Name", ""), node.get("Repeating") == "Yes", domain,
                    text_of(_first(node, "Description")) or node.get("Comment", ""),
                    _refs(node, "ItemRef", "ItemOID")))
            for node in children(version, "ItemDef"):
                item = _item(node)
                if item.field_type == "checkbox":
                    codelist = next((c for c in children(version, "CodeList") if c.get("OID") == item.codelist), None)
                    text = _redcap(codelist, "CheckboxChoices") if codelist is not None else ""
                    item = ItemMeta(**{**item.__dict__, "choices": parse_checkbox_choices(text)})
                items.setdefault(item.oid, item)
            for node in children(version, "CodeList"):
                codelists.setdefault(node.get("OID", ""), _codelist(node))
            for node in children(version, "MultiSelectList"):  # OpenClinica's extension, beside the CodeLists
                codelists.setdefault(node.get("ID", ""), _multi_select_list(node))
    variables = _first(study, "GlobalVariables") if study is not None else None
    metadata = EdcMetadata(
        source=source, system=source_system(root), study_oid=study.get("OID", "") if study is not None else "",
        study_name=text_of(_first(variables, "StudyName")) if variables is not None else "",
        protocol_name=text_of(_first(variables, "ProtocolName")) if variables is not None else "",
        events=events, forms=forms, item_groups=groups, items=items, codelists=codelists, units=units,
        repeating_instruments=frozenset(repeating_instruments), repeating_events=frozenset(repeating_events),
    )
    return EdcMetadata(**{**metadata.__dict__, "datasets": raw_datasets(metadata)})


def odm_metadata(path: str | Path) -> EdcMetadata:
    """The metadata of an ODM 1.3.x file (raises schemas.safe_xml.XmlError when it cannot be read safely)."""
    path = Path(path)
    return metadata_from_tree(parse_file(path).getroot(), path.name)


# --------------------------------------------------------------------------------------- naming rules
def is_redcap(metadata: EdcMetadata) -> bool:
    return metadata.system == "REDCap"


def dataset_names(metadata: EdcMetadata) -> dict[str, str]:
    """Source OID (ItemGroupDef; REDCap: FormDef) -> raw dataset name, by the module's naming rule."""
    if is_redcap(metadata):
        wanted = {oid: form.instrument or form.name or oid for oid, form in metadata.forms.items()}
    else:
        wanted = {oid: group.name or oid for oid, group in metadata.item_groups.items()}
    counts: dict[str, int] = {}
    for name in wanted.values():
        counts[name] = counts.get(name, 0) + 1
    return {oid: name if counts[name] == 1 else oid for oid, name in wanted.items()}


def column_names(item_oids: list[str] | tuple[str, ...], metadata: EdcMetadata, reserved: tuple[str, ...]) -> dict[str, str]:
    """ItemDef OID -> column name within one raw dataset (Name when unique there, else OID)."""
    wanted = {oid: (metadata.items[oid].name if oid in metadata.items else oid) or oid for oid in item_oids}
    counts: dict[str, int] = {}
    for name in wanted.values():
        counts[name] = counts.get(name, 0) + 1
    chosen = {oid: name if counts[name] == 1 and name not in reserved else oid for oid, name in wanted.items()}
    taken: set[str] = set(reserved)
    for oid, name in chosen.items():  # an OID equal to another item's Name: numbered, never two equal columns
        n, candidate = 1, name
        while candidate in taken:
            n += 1
            candidate = f"{name}_{n}"
        chosen[oid] = candidate
        taken.add(candidate)
    return chosen


def declared_items(source_oid: str, metadata: EdcMetadata) -> tuple[str, ...]:
    """The item OIDs a raw dataset declares, in order (REDCap: every item group of the form)."""
    if is_redcap(metadata):
        form = metadata.forms.get(source_oid)
        groups = form.item_groups if form else ()
        oids = [oid for group in groups for oid in (metadata.item_groups[group].items if group in metadata.item_groups else ())]
        return tuple(oid for oid in dict.fromkeys(oids) if oid != DAG)
    group = metadata.item_groups.get(source_oid)
    return group.items if group else ()


def raw_datasets(metadata: EdcMetadata) -> dict[str, RawDatasetMeta]:
    """The raw datasets and item columns the data reader hands on for this metadata."""
    keys = REDCAP_KEYS if is_redcap(metadata) else GENERIC_KEYS
    datasets = {}
    for oid, name in dataset_names(metadata).items():
        oids = declared_items(oid, metadata)
        columns = column_names(oids, metadata, keys)
        raw_columns = tuple(RawColumn(columns[item], item, columns[item] + DECODE_SUFFIX
                                      if item in metadata.items and metadata.items[item].codelist else "")
                            for item in oids)
        if is_redcap(metadata):
            form = metadata.forms[oid]
            label, repeating, domain = form.name, form.repeating, ""
        else:
            group = metadata.item_groups[oid]
            label, repeating, domain = group.label or group.name, group.repeating, group.domain
        datasets[name] = RawDatasetMeta(name, oid, label, repeating, domain, keys, raw_columns)
    return datasets
