"""The REDCap ODM reader and the REDCap flat-export reader agree on the same project.

For each real REDCap ODM project of the fixtures, the test writes the project's flat export and data
dictionary in REDCap's documented layout (one row per record and event, one per repeat instance;
checkbox options as `field___code`; `<instrument>_complete` after each instrument's fields), using
the standard library's XML parser only, then reads both files with their readers and compares every
item value of every instrument, keyed by record, event and repeat instance.
"""
from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from trialbridge.converters.readers.odm import read_odm
from trialbridge.converters.readers.redcap import read_redcap

EDC = Path(__file__).parent / "fixtures" / "edc" / "redcap"
O, R = "{http://www.cdisc.org/ns/odm/v1.3}", "{https://projectredcap.org}"
TYPES = {"textarea": "notes", "select": "dropdown"}  # REDCap's ODM field types -> its dictionary's
SKIPPED = ("redcap_data_access_group", "redcap_survey_identifier")


def _flat_from_odm(source: Path, folder: Path) -> tuple[Path, set[str]]:
    """Write data.csv and dictionary.csv for the project; returns the data file and the file-upload fields."""
    root = ET.parse(source).getroot()
    version = root.find(f"{O}Study/{O}MetaDataVersion")
    items = {i.get("OID"): i for i in version.iter(f"{O}ItemDef")}
    groups = {g.get("OID"): g for g in version.iter(f"{O}ItemGroupDef")}
    codelists = {c.get("OID"): c for c in version.iter(f"{O}CodeList")}
    dictionary, columns, forms, uploads = [], [], {}, set()
    for form in version.iter(f"{O}FormDef"):
        name = form.get(f"{R}FormName")
        forms[form.get("OID")] = name
        for ref in form.iter(f"{O}ItemGroupRef"):
            for item_ref in groups[ref.get("ItemGroupOID")].iter(f"{O}ItemRef"):
                item = items[item_ref.get("ItemOID")]
                oid, variable = item.get("OID"), item.get(f"{R}Variable")
                if oid in SKIPPED or oid.endswith(("_complete", "_timestamp")):
                    continue
                columns.append(oid)
                if item.get(f"{R}FieldType") == "file":
                    uploads.add(oid)
                if dictionary and dictionary[-1][0] == variable:  # a checkbox's further options
                    continue
                kind = item.get(f"{R}FieldType", "text")
                choices = item.get(f"{R}CheckboxChoices", "")
                codelist = item.find(f"{O}CodeListRef")
                if codelist is not None and kind != "checkbox":
                    choices = " | ".join(f"{c.get('CodedValue')}, {c.findtext(f'{O}Decode/{O}TranslatedText')}"
                                         for c in codelists[codelist.get("CodeListOID")])
                elif kind == "checkbox":
                    choices = codelists[codelist.get("CodeListOID")].get(f"{R}CheckboxChoices", "")
                dictionary.append((variable, name, TYPES.get(kind, kind), choices))
        columns.append(f"{name}_complete")
    repeating = {(r.get(f"{R}UniqueEventName"), r.get(f"{R}RepeatInstrument"))
                 for r in root.iter(f"{R}RepeatingInstrument")}
    rows: dict[tuple[str, str, str, str], dict[str, str]] = {}
    for subject in root.iter(f"{O}SubjectData"):
        dag = next((i.get("Value") for i in subject.iter(f"{O}ItemData")
                    if i.get("ItemOID") == "redcap_data_access_group"), "")
        events = subject.findall(f"{O}StudyEventData") or [subject]
        for event in events:
            event_name = event.get(f"{R}UniqueEventName", "")
            for form in event.findall(f"{O}FormData"):
                name = forms[form.get("FormOID")]
                repeat = any(i == name for _, i in repeating)
                key = (subject.get("SubjectKey"), event_name, name if repeat else "",
                       form.get("FormRepeatKey") if repeat else "")
                row = rows.setdefault(key, {"redcap_data_access_group": dag})
                for item in form.iter():
                    if item.tag.startswith(f"{O}ItemData") and item.get("ItemOID") not in SKIPPED:
                        row[item.get("ItemOID")] = item.get("Value") or (item.text or "").strip()
    record = columns[0]
    longitudinal = any(k[1] for k in rows)
    header = [record] + (["redcap_event_name"] if longitudinal else []) + \
        ["redcap_repeat_instrument", "redcap_repeat_instance", "redcap_data_access_group"] + columns[1:]
    with (folder / "data.csv").open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for (subject, event, instrument, instance), row in rows.items():
            values = {record: subject, "redcap_event_name": event, "redcap_repeat_instrument": instrument,
                      "redcap_repeat_instance": instance, **{k: v for k, v in row.items() if k != record}}
            writer.writerow([values.get(column, "") for column in header])
    with (folder / "dictionary.csv").open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["Variable / Field Name", "Form Name", "Field Type", "Choices, Calculations, OR Slider Labels"])
        writer.writerows(dictionary)
    return folder / "data.csv", uploads


@pytest.mark.parametrize("project", ["simple.xml", "longitudinal.xml", "repeating-instruments.xml"])
def test_odm_and_flat_export_readers_agree(tmp_path: Path, project: str) -> None:
    data, uploads = _flat_from_odm(EDC / project, tmp_path)
    odm, flat = read_odm(EDC / project), read_redcap(data)
    assert [f.rule for f in flat.findings if f.severity != "info"] == []
    assert sorted(flat.datasets) == sorted(odm.datasets)
    keys = ["SubjectKey", "redcap_event_name", "redcap_repeat_instance", "redcap_data_access_group"]
    for name, from_flat in flat.datasets.items():
        from_odm = odm.datasets[name]
        items = [c for c in from_flat.columns if c not in keys and not c.startswith(("_", "redcap_"))
                 and c not in uploads]
        assert set(items) <= set(from_odm.columns), name
        assert any(c.endswith("_DECODE") for c in items)  # the decoded text is compared too
        both = from_flat[keys + items].merge(from_odm[keys + items], how="outer", indicator=True)
        assert len(from_flat) == len(from_odm) == len(both) and both["_merge"].eq("both").all(), name
