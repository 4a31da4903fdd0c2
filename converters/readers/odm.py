"""CDISC ODM 1.3.x ClinicalData in, a `RawRead` (converters/readers/raw.py) out: one raw dataset per ItemGroup.

One row per ItemGroupData occurrence (REDCap: per form occurrence, see odm_meta.py for the naming rules),
in document order. Columns, every cell a str:
- keys: StudyOID, SubjectKey, SiteRef (SiteRef LocationOID), StudyEventOID, StudyEventRepeatKey,
  StudyEventName (StudyEventDef Name), FormOID, FormRepeatKey, ItemGroupRepeatKey; REDCap exports add
  redcap_event_name, redcap_arm, redcap_arm_name, redcap_repeat_instrument, redcap_repeat_instance and
  redcap_data_access_group, filled as REDCap's flat export fills them;
- vendor attributes of SubjectData as `<prefix>:<name>` (OpenClinica:StudySubjectID, OpenClinica:Status,
  redcap:...), and OpenClinica's group assignments (`<OpenClinica:SubjectGroupData>`, e.g. the arm) as
  `OpenClinica:SubjectGroupData.<group class name>` = group name; of StudyEventData, FormData and ItemGroupData as `StudyEvent.<prefix>:<name>`,
  `Form.<prefix>:<name>`, `ItemGroup.<prefix>:<name>` (OpenClinica start dates, form status, version);
- one column per item in ItemDef order, each coded item followed by `<column>_DECODE` and, when ItemData
  carry a MeasurementUnitRef, `<column>_UNIT`;
- `_file` and `_line` (the line of the ItemGroupData that opened the row).

Transactions are applied in document order (Insert, Update, Upsert, Context, Remove at every level), so
a Snapshot and a Transactional file give the final state. AuditRecords (and vendor audit logs) are not
data: they are skipped and counted in one note. ODM 2.0 is refused.

The file is streamed one SubjectData at a time (the tables, not the XML tree, are held in memory).

Nothing is lost: every ItemData element is accounted for per form (values handed on + empty + superseded
by a later transaction + removed + Remove instructions), the handed-on count is recounted from the tables,
and ItemData the walk did not reach are an error. `values_read` counts the non-empty cells placed in each
table (item values, context values, decodes and units), which `values_in` finds again.
"""
from __future__ import annotations

from pathlib import Path

from lxml import etree

from trialbridge.converters.readers.odm_meta import DAG, REDCAP_NS, children, is_redcap, local, metadata_from_tree
from trialbridge.converters.readers.odm_tables import FormCount, Row, State, build_tables, removed_rows
from trialbridge.converters.readers.raw import RawRead
from trialbridge.schemas.findings import finding
from trialbridge.schemas.safe_xml import ODM2_NS, XmlError, iterparse_file

ODM_NS = "http://www.cdisc.org/ns/odm/"
PREFIXES = {REDCAP_NS: "redcap"}
SKIPPED_NAMESPACES = ("http://www.w3.org/2001/XMLSchema-instance", "http://www.w3.org/XML/1998/namespace")
AUDIT_ELEMENTS = ("AuditRecord", "AuditLog")  # ODM audit records, OpenClinica audit log entries


def is_item_data(element: etree._Element) -> bool:
    """An ODM ItemData element (or a typed ItemDataString, ItemDataInteger, ... of ODM 1.3)."""
    tag = element.tag
    if not isinstance(tag, str):
        return False
    if tag[0] != "{":
        return tag.startswith("ItemData")
    namespace, _, name = tag[1:].partition("}")
    return name.startswith("ItemData") and namespace.startswith(ODM_NS)


def _tx(element: etree._Element) -> str:
    return element.get("TransactionType", "")


def _vendor(element: etree._Element, level: str) -> dict[str, str]:
    """Attributes outside the ODM namespace, named `<prefix>:<name>` (qualified by level below SubjectData)."""
    values = {}
    for key, value in element.attrib.items():
        name = etree.QName(key)
        if not name.namespace or name.namespace.startswith(ODM_NS) \
                or name.namespace in SKIPPED_NAMESPACES:
            continue
        prefix = PREFIXES.get(name.namespace) or ("OpenClinica" if "openclinica" in name.namespace.lower() else
                                                   next((p for p, u in element.nsmap.items() if u == name.namespace and p),
                                                        name.namespace))
        column = f"{prefix}:{name.localname}"
        values[column if level == "Subject" else f"{level}.{column}"] = value
    return values


def _remove(state: State, prefix: tuple, width: int) -> None:
    """Remove every row whose key starts (after the dataset) with `prefix`; their values count as removed."""
    for key in [k for k in state.rows if k[1:1 + width] == prefix]:
        row = state.rows.pop(key)
        state.count(row.form).removed += sum(1 for v in row.items.values() if v != "")


def _unknown(state: State, element: etree._Element, attribute: str, known: dict) -> None:
    oid = element.get(attribute, "")
    if known and oid not in known:
        state.note("ODM-OID-UNKNOWN", local(element), attribute, oid, element.sourceline or 0)


def _redcap_context(state: State, event: etree._Element | None, form_oid: str, context: dict[str, str]) -> None:
    meta = state.metadata
    event_meta = meta.events.get(context["StudyEventOID"])
    unique = (event.get(f"{{{REDCAP_NS}}}UniqueEventName", "") if event is not None else "") or \
        (event_meta.unique_name if event_meta else "")
    instrument = meta.forms[form_oid].instrument if form_oid in meta.forms else ""
    repeat_instrument = any(i == instrument and (e == unique or not unique) for e, i in meta.repeating_instruments)
    context.update({
        "redcap_event_name": unique, "redcap_arm": event_meta.arm if event_meta else "",
        "redcap_arm_name": event_meta.arm_name if event_meta else "",
        "redcap_repeat_instrument": instrument if repeat_instrument else "",
        "redcap_repeat_instance": context["FormRepeatKey"] if repeat_instrument else
        context["StudyEventRepeatKey"] if unique and unique in meta.repeating_events else "",
    })


def _item_group(state: State, group: etree._Element, form_oid: str, context: dict[str, str]) -> None:
    meta = state.metadata
    group_oid = group.get("ItemGroupOID", "")
    _unknown(state, group, "ItemGroupOID", meta.item_groups)
    redcap = is_redcap(meta)
    dataset = form_oid if redcap else group_oid
    row_context = {**context, "ItemGroupRepeatKey": group.get("ItemGroupRepeatKey", ""), **_vendor(group, "ItemGroup")}
    base = (dataset, row_context["StudyOID"], row_context["SubjectKey"], row_context["StudyEventOID"],
            row_context["StudyEventRepeatKey"], form_oid, row_context["FormRepeatKey"],
            "" if redcap else group_oid, row_context["ItemGroupRepeatKey"])
    items = [c for c in group if is_item_data(c)]
    if _tx(group) == "Remove":
        if redcap:
            row = state.rows.get(base + (state.occurrences.get(base, 0),))
            for oid in meta.item_groups[group_oid].items if row and group_oid in meta.item_groups else ():
                if row.items.pop(oid, "") != "":
                    state.count(form_oid).removed += 1
        else:
            _remove(state, base[1:], len(base) - 1)
        for item in items:
            state.count(form_oid).read += 1
            state.count(form_oid).instructions += 1
            state.reached += 1
        return
    occurrence = state.occurrences.get(base, 0)
    if state.snapshot and not redcap and base + (occurrence,) in state.rows:
        occurrence += 1
        state.note("ODM-KEY-DUPLICATE", "ItemGroupData", "ItemGroupOID", group_oid, group.sourceline or 0)
    state.occurrences[base] = occurrence
    row = state.rows.get(base + (occurrence,))
    if row is None:
        row = state.rows[base + (occurrence,)] = Row(dataset, form_oid, row_context, group.sourceline or 0)
    else:
        row.context.update({k: v for k, v in row_context.items() if v != ""})
    for item in items:
        row = _item_data(state, item, base, row)


def _item_data(state: State, item: etree._Element, base: tuple, row: Row) -> Row:
    counted = state.count(row.form)
    counted.read += 1
    state.reached += 1
    oid = item.get("ItemOID", "")
    if not oid:
        state.findings.append(finding("ODM-ATTRIBUTE-MISSING", f"{state.file}:{item.sourceline}", [],
                                      element=local(item), attribute="ItemOID"))
    _unknown(state, item, "ItemOID", state.metadata.items)
    value = item.get("Value")  # ItemData; the typed ItemDataString, ... hold it as text (some writers use Value)
    if value is None and local(item) != "ItemData":
        value = (item.text or "").strip()
    value = "" if value is None or item.get("IsNull") == "Yes" else value
    if oid == DAG and is_redcap(state.metadata) and _tx(item) != "Remove":
        counted.keyed += value != ""
        counted.empty += value == ""
        return row
    if _tx(item) == "Remove":
        counted.instructions += 1
        if row.items.pop(oid, "") != "":
            counted.removed += 1
        return row
    previous = row.items.get(oid, "")
    if previous != "" and state.snapshot and previous != value:
        # a second value for the same item in a snapshot: kept on a new row occurrence, never overwritten
        occurrence = state.occurrences[base] + 1
        state.occurrences[base] = occurrence
        state.note("ODM-KEY-DUPLICATE", "ItemData", "ItemOID", oid, item.sourceline or 0)
        row = state.rows[base + (occurrence,)] = Row(row.dataset, row.form, dict(row.context), item.sourceline or 0)
    elif previous != "":
        counted.superseded += 1
    if value == "":
        counted.empty += 1
    row.items[oid] = value
    for unit in children(item, "MeasurementUnitRef"):
        row.units[oid] = state.metadata.units.get(unit.get("MeasurementUnitOID", ""), unit.get("MeasurementUnitOID", ""))
    return row


def _form(state: State, form: etree._Element, event: etree._Element | None, context: dict[str, str]) -> None:
    form_oid = form.get("FormOID", "")
    _unknown(state, form, "FormOID", state.metadata.forms)
    context = {**context, "FormOID": form_oid, "FormRepeatKey": form.get("FormRepeatKey", ""), **_vendor(form, "Form")}
    if is_redcap(state.metadata):
        _redcap_context(state, event, form_oid, context)
    if _tx(form) == "Remove":
        keys = ("StudyOID", "SubjectKey", "StudyEventOID", "StudyEventRepeatKey", "FormOID", "FormRepeatKey")
        _remove(state, tuple(context[k] for k in keys), 6)
    for child in form:
        name = local(child)
        if name == "ItemGroupData":
            _item_group(state, child, form_oid, context)


def _event(state: State, event: etree._Element, context: dict[str, str]) -> None:
    event_oid = event.get("StudyEventOID", "")
    _unknown(state, event, "StudyEventOID", state.metadata.events)
    meta = state.metadata.events.get(event_oid)
    context = {**context, "StudyEventOID": event_oid, "StudyEventRepeatKey": event.get("StudyEventRepeatKey", ""),
               "StudyEventName": meta.name if meta else "", **_vendor(event, "StudyEvent")}
    if _tx(event) == "Remove":
        _remove(state, tuple(context[k] for k in ("StudyOID", "SubjectKey", "StudyEventOID", "StudyEventRepeatKey")), 4)
    for child in event:
        if local(child) == "FormData":
            _form(state, child, event, context)


def _subject(state: State, clinical: etree._Element, subject: etree._Element) -> None:
    key = subject.get("SubjectKey", "")
    if not key:
        state.findings.append(finding("ODM-ATTRIBUTE-MISSING", f"{state.file}:{subject.sourceline}", [],
                                      element="SubjectData", attribute="SubjectKey"))
    site = next((s.get("LocationOID", "") for s in children(subject, "SiteRef")), "")
    redcap = is_redcap(state.metadata)
    dag = next((e.get("Value", "") for e in subject.iter() if is_item_data(e) and e.get("ItemOID") == DAG), "") \
        if redcap else ""
    context = {"StudyOID": clinical.get("StudyOID", ""), "SubjectKey": key, "SiteRef": site,
               "StudyEventOID": "", "StudyEventRepeatKey": "", "StudyEventName": "",
               **({"redcap_data_access_group": dag} if redcap else {}), **_vendor(subject, "Subject")}
    for group in (c for c in subject if local(c) == "SubjectGroupData"):  # OpenClinica arm / group assignment
        attributes = {etree.QName(k).localname: v for k, v in group.attrib.items()}
        label = attributes.get("StudyGroupClassName") or attributes.get("StudyGroupClassID", "")
        context[f"OpenClinica:SubjectGroupData.{label}"] = attributes.get("StudyGroupName", "")
    if _tx(subject) == "Remove":
        _remove(state, (context["StudyOID"], key), 2)
    for child in subject:
        name = local(child)
        if name == "StudyEventData":
            _event(state, child, context)
        elif name == "FormData":  # REDCap classic projects: forms straight under the subject
            _form(state, child, None, context)


def odm2_layout(node: etree._Element) -> str:
    """What makes an element ODM 2.0-shaped ("" when it is ODM 1.3): ODM 2.0 puts ClinicalData in Study, the
    ItemGroupData (forms are item groups) straight in StudyEventData, and each value in a <Value> element."""
    name, parent = local(node), node.getparent()
    above = local(parent) if parent is not None else ""
    if name == "ClinicalData" and above == "Study":
        return "ClinicalData inside Study"
    if name == "ItemGroupData" and above in ("StudyEventData", "ItemGroupData"):
        return f"ItemGroupData inside {above}"
    if name == "ItemData" and node.get("Value") is None and any(local(c) == "Value" for c in node):
        return "ItemData holding <Value> elements"
    return ""


def _tally(state: State, element: etree._Element) -> int:
    """ItemData in a subtree about to be dropped (the audit records in it are counted on the way)."""
    present = 0
    for node in element.iter():
        if not state.odm2 and isinstance(node.tag, str) and odm2_layout(node):
            state.odm2 = (odm2_layout(node), node.sourceline or 0)
        if is_item_data(node):
            present += 1
        elif isinstance(node.tag, str) and local(node) in AUDIT_ELEMENTS:
            state.audits += 1
        elif isinstance(node.tag, str) and local(node) == "DiscrepancyNote":
            state.notes += 1
    return present


def _refusal(rule: str, file: str, line: int, **fields: object) -> tuple[RawRead, dict[str, FormCount]]:
    return RawRead({}, [finding(rule, f"{file}:{line}", [], **fields)]), {}


def _stream(path: Path) -> tuple[RawRead, dict[str, FormCount]] | tuple[State, int]:
    """Walk the file subject by subject, dropping each SubjectData once read (memory: one subject)."""
    root: etree._Element | None = None
    state: State | None = None
    present = 0
    for event, element in iterparse_file(path):
        if root is None:
            root = element
            if local(root) != "ODM":
                return _refusal("ODM-NOT-ODM", path.name, root.sourceline or 1, element=local(root) or str(root.tag))
            if etree.QName(root).namespace == ODM2_NS or root.get("ODMVersion", "").startswith("2"):
                return _refusal("ODM-VERSION", path.name, root.sourceline or 1, version=root.get("ODMVersion", "2.0"))
            continue
        name = local(element)
        parent = element.getparent()
        if event == "start" and name == "ClinicalData" and odm2_layout(element):
            return _refusal("ODM-LAYOUT-2", path.name, element.sourceline or 1, layout=odm2_layout(element),
                            version=root.get("ODMVersion", "1.3"))
        if event == "start":
            if name == "ClinicalData" and parent is root and state is None:
                # every Study precedes the ClinicalData (ODM 1.3.2 section 3.1.1): the metadata is complete
                metadata = metadata_from_tree(root, path.name)
                state = State(path.name, metadata, root.get("FileType", "Snapshot") != "Transactional")
                if not metadata.items:
                    state.findings.append(finding("ODM-NO-METADATA", f"{path.name}:{root.sourceline}", []))
            continue
        if state is not None and name == "SubjectData" and parent is not None and local(parent) == "ClinicalData":
            present += _tally(state, element)
            if state.odm2:
                return _refusal("ODM-LAYOUT-2", path.name, state.odm2[1], layout=state.odm2[0],
                                version=root.get("ODMVersion", "1.3"))
            _subject(state, parent, element)
            element.clear()
            parent.remove(element)
        elif state is not None and name == "ClinicalData" and parent is root:
            present += _tally(state, element)  # ItemData outside any SubjectData: counted, never reached
            element.clear()
            root.remove(element)
    if state is None:
        return _refusal("ODM-NO-DATA", path.name, root.sourceline or 1 if root is not None else 1)
    return state, present


def read_odm_counts(path: str | Path) -> tuple[RawRead, dict[str, FormCount]]:
    """Read an ODM 1.3.x file: its raw datasets and findings, and the ItemData accounting per FormOID."""
    path = Path(path)
    try:
        walked = _stream(path)
    except XmlError as error:
        return RawRead({}, [error.finding()]), {}
    if isinstance(walked[0], RawRead):
        return walked  # type: ignore[return-value]
    state, present = walked  # type: ignore[misc]
    metadata = state.metadata
    tables, values = build_tables(state)
    state.findings.extend(state.noted_findings())
    state.findings.extend(removed_rows(tables, path.name))
    if present != state.reached:
        state.findings.append(finding("ODM-VALUES-LOST", path.name, [], count=present - state.reached,
                                      detail="outside SubjectData/StudyEventData/FormData/ItemGroupData"))
    for form, counted in sorted(state.counts.items()):
        label = metadata.forms[form].name if form in metadata.forms else form
        fields = dict(form=label, oid=form, read=counted.read, handed=counted.handed + counted.keyed, empty=counted.empty,
                      superseded=counted.superseded, removed=counted.removed, instructions=counted.instructions)
        state.findings.append(finding("ODM-FORM-COUNTS", f"{path.name}:{form}", [], **fields))
        if not counted.balanced():
            state.findings.append(finding("ODM-VALUES-LOST", f"{path.name}:{form}", [],
                                          count=counted.read - counted.handed - counted.keyed - counted.empty
                                          - counted.superseded - counted.removed - counted.instructions,
                                          detail=f"form {label}"))
    if state.audits:
        state.findings.append(finding("ODM-AUDIT-IGNORED", path.name, [], count=state.audits))
    if state.notes:
        state.findings.append(finding("ODM-NOTES-IGNORED", path.name, [], count=state.notes))
    return RawRead(tables, state.findings, values), dict(state.counts)


def read_odm(path: str | Path) -> RawRead:
    """Read an ODM 1.3.x ClinicalData file into raw datasets (see the module docstring)."""
    return read_odm_counts(path)[0]
