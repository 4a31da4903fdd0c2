"""ODM 1.3 reader: every ItemData of the real exports accounted for, keys, vendor meaning, decodes, transactions."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from trialbridge.converters.readers.odm import read_odm, read_odm_counts
from trialbridge.converters.readers.odm_meta import odm_metadata
from trialbridge.converters.readers.raw import values_in

EDC = Path(__file__).parent / "fixtures" / "edc"
DATA_FILES = ["redcap/simple.xml", "redcap/longitudinal.xml", "redcap/repeating-instruments.xml",
              "openclinica/extract-2014-01-31.xml"]
ODM = "{http://www.cdisc.org/ns/odm/v1.3}"


def _independent_counts(path: Path) -> tuple[Counter, Counter]:
    """ItemData per FormOID and non-empty values per FormOID, counted with the standard library's parser."""
    read, filled = Counter(), Counter()
    for form in ET.parse(path).getroot().iter(f"{ODM}FormData"):
        for item in form.iter():
            if item.tag.startswith(f"{ODM}ItemData"):  # ItemData and the typed ItemDataBase64Binary, ...
                read[form.get("FormOID")] += 1
                filled[form.get("FormOID")] += (item.get("Value") or item.text or "") != ""
    return read, filled


def _rules(found) -> list[tuple[str, str]]:
    return [(f.rule, f.location) for f in found if f.severity != "info"]


@pytest.mark.parametrize("name", DATA_FILES)
def test_every_item_data_of_a_real_export_is_handed_on(name: str) -> None:
    result, counts = read_odm_counts(EDC / name)
    expected_read, expected_filled = _independent_counts(EDC / name)
    assert {form: c.read for form, c in counts.items()} == dict(expected_read)
    assert {form: c.handed + c.keyed for form, c in counts.items()} == dict(expected_filled)
    assert all(c.balanced() for c in counts.values())
    assert not [f for f in result.findings if f.severity == "error"]
    reported = [f for f in result.findings if f.rule == "ODM-FORM-COUNTS"]
    assert len(reported) == len(expected_read)
    for name_, table in result.datasets.items():
        assert values_in(table) == result.values_read[name_]
        assert (table.drop(columns=["_line"]).map(type) == str).all().all()
        assert len(set(table.columns)) == len(table.columns)


def test_openclinica_rows_keys_units_and_decodes() -> None:
    result = read_odm(EDC / "openclinica" / "extract-2014-01-31.xml")
    assert list(result.datasets) == ["IG_PHYSI_UNGROUPED", "IG_AGENT_UNGROUPED", "DOSETABLE", "IG_VERIF_UNGROUPED",
                                     "IG_ELIGI_UNGROUPED", "IG_ADVER_UNGROUPED", "CONCOMITANT MEDICATIONS"]
    dose = result.datasets["DOSETABLE"]
    row = dose[dose["SubjectKey"] == "SS_SCRC001"].iloc[0]
    assert (row["StudyOID"], row["StudyEventOID"], row["StudyEventName"], row["FormOID"]) == \
        ("S_R0112345_7258", "SE_INITIALTREATMENT", "Initial Treatment", "F_AGENTADMINIS_V10")
    assert (row["OpenClinica:StudySubjectID"], row["ItemGroupRepeatKey"]) == ("SCRC001", "1")
    assert (row["AGEN_NAME"], row["AGEN_DOSE"], row["AGEN_DOSE_UNIT"]) == ("Docetaxel", "10", "mg/m2")
    assert row["_file"] == "extract-2014-01-31.xml" and row["_line"] == 5619
    exam = result.datasets["IG_PHYSI_UNGROUPED"]
    assert set(exam["SKIN_DECODE"]) <= {"Normal", "Anormal", "Abnormal", "Not examined", "No examinado", ""}
    unknown = [f for f in result.findings if f.rule == "ODM-CODE-UNKNOWN"]
    assert unknown and all(f.severity == "warning" for f in unknown)
    audit = [f for f in result.findings if f.rule == "ODM-AUDIT-IGNORED"]
    assert audit[0].message.startswith("179 audit record(s)")


def test_redcap_rows_are_instruments_with_flat_export_columns() -> None:
    result = read_odm(EDC / "redcap" / "longitudinal.xml")
    assert list(result.datasets)[:3] == ["demographics", "contact_info", "baseline_data"]
    lab = result.datasets["visit_lab_data"]
    first = lab.iloc[0]
    assert (first["SubjectKey"], first["redcap_event_name"], first["redcap_arm"], first["redcap_arm_name"]) == \
        ("100", "visit_1_arm_1", "1", "Drug A")
    assert (first["vld1"], first["visit_lab_data_complete_DECODE"]) == ("5.6", "Complete")
    demographics = result.datasets["demographics"]
    checked = demographics[demographics["gym___0"] == "1"]
    assert set(checked["gym___0_DECODE"]) == {"Monday"}
    assert set(demographics.loc[demographics["gym___0"] == "0", "gym___0_DECODE"]) <= {""}
    assert set(demographics["sex_DECODE"]) <= {"Female", "Male", ""}


def test_redcap_repeating_instrument_and_data_access_group() -> None:
    result = read_odm(EDC / "redcap" / "repeating-instruments.xml")
    bp = result.datasets["bp"]
    assert list(bp["redcap_repeat_instrument"]) == ["bp"] * 4
    assert list(bp["redcap_repeat_instance"]) == ["1", "2", "3", "1"]
    assert list(bp["bp_systolic"]) == ["110", "111", "112", "114"]
    assert set(result.datasets["demographics"]["redcap_repeat_instrument"]) == {""}
    simple = read_odm(EDC / "redcap" / "simple.xml").datasets
    assert "redcap_data_access_group" not in [c for c in simple["demographics"].columns[15:]]
    assert list(simple["health"]["redcap_data_access_group"]) == list(simple["demographics"]["redcap_data_access_group"])
    assert list(simple["demographics"]["redcap_data_access_group"]) == ["dag_1", "dag_1", "dag_1", "", "dag_2"]
    assert simple["health"]["mugshot"].str.len().min() > 1000  # file upload fields (base64) are kept


TRANSACTIONAL = """<?xml version="1.0" encoding="UTF-8"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" FileType="Transactional" ODMVersion="1.3.2" FileOID="T" CreationDateTime="2024-01-01T00:00:00">
 <Study OID="S"><MetaDataVersion OID="M" Name="M">
  <StudyEventDef OID="SE" Name="Visit" Repeating="Yes" Type="Scheduled"><FormRef FormOID="F" Mandatory="No"/></StudyEventDef>
  <FormDef OID="F" Name="Vitals" Repeating="No"><ItemGroupRefItemGroupOID="IG" Mandatory="No"/></FormDef>
  <ItemGroupDef OID="IG" Name="VS" Repeating="Yes"><ItemRef ItemOID="I.SBP" Mandatory="No"/><ItemRef ItemOID="I.POS" Mandatory="No"/></ItemGroupDef>
  <ItemDef OID="I.SBP" Name="SBP" DataType="integer"/>
  <ItemDef OID="I.POS" Name="POS" DataType="text"><CodeListRef CodeListOID="CL.POS"/></ItemDef>
  <CodeList OID="CL.POS" Name="Position" DataType="text">
   <CodeListItem CodedValue="S"><Decode><TranslatedText xml:lang="fr">Assis</TranslatedText><TranslatedText xml:lang="en">Sitting</TranslatedText></Decode></CodeListItem>
   <EnumeratedItem CodedValue="STANDING"/>
  </CodeList>
 </MetaDataVersion></Study>
 <ClinicalData StudyOID="S" MetaDataVersionOID="M">
  <SubjectData SubjectKey="001" TransactionType="Insert"><SiteRef LocationOID="SITE1"/>
   <StudyEventData StudyEventOID="SE" StudyEventRepeatKey="1" TransactionType="Insert"><FormData FormOID="F" TransactionType="Insert">
    <ItemGroupData ItemGroupOID="IG" ItemGroupRepeatKey="1" TransactionType="Insert">
     <ItemData ItemOID="I.SBP" Value="120" TransactionType="Insert"><AuditRecord><UserRef UserOID="U"/><LocationRef LocationOID="SITE1"/><DateTimeStamp>2024-01-01T00:00:00</DateTimeStamp></AuditRecord></ItemData>
     <ItemData ItemOID="I.POS" Value="S" TransactionType="Insert"/>
    </ItemGroupData>
    <ItemGroupData ItemGroupOID="IG" ItemGroupRepeatKey="2" TransactionType="Insert"><ItemDataString ItemOID="I.POS" TransactionType="Insert">STANDING</ItemDataString></ItemGroupData>
   </FormData></StudyEventData>
  </SubjectData>
  <SubjectData SubjectKey="002" TransactionType="Insert">
   <StudyEventData StudyEventOID="SE" StudyEventRepeatKey="1"><FormData FormOID="F"><ItemGroupData ItemGroupOID="IG" ItemGroupRepeatKey="1"><ItemData ItemOID="I.SBP" Value="99"/></ItemGroupData></FormData></StudyEventData>
  </SubjectData>
 </ClinicalData>
 <ClinicalData StudyOID="S" MetaDataVersionOID="M">
  <SubjectData SubjectKey="001" TransactionType="Update">
   <StudyEventData StudyEventOID="SE" StudyEventRepeatKey="1" TransactionType="Context"><FormData FormOID="F" TransactionType="Update">
    <ItemGroupData ItemGroupOID="IG" ItemGroupRepeatKey="1" TransactionType="Update">
     <ItemData ItemOID="I.SBP" Value="125" TransactionType="Update"/>
     <ItemData ItemOID="I.POS" TransactionType="Remove"/>
    </ItemGroupData>
    <ItemGroupData ItemGroupOID="IG" ItemGroupRepeatKey="2" TransactionType="Remove"/>
   </FormData></StudyEventData>
  </SubjectData>
  <SubjectData SubjectKey="002" TransactionType="Remove"/>
 </ClinicalData>
</ODM>
""".replace("ItemGroupRefItemGroupOID", "ItemGroupRef ItemGroupOID")


def test_transactions_are_applied_in_order_and_accounted(tmp_path: Path) -> None:
    path = tmp_path / "transactions.xml"
    path.write_text(TRANSACTIONAL, encoding="utf-8")
    result, counts = read_odm_counts(path)
    assert _rules(result.findings) == []
    table = result.datasets["VS"]
    assert table[["SubjectKey", "SiteRef", "StudyEventRepeatKey", "ItemGroupRepeatKey", "SBP", "POS", "POS_DECODE"]] \
        .values.tolist() == [["001", "SITE1", "1", "1", "125", "", ""]]
    form = counts["F"]
    # 6 ItemData: 125 handed, 120 superseded, S removed by its Remove instruction, STANDING removed with its
    # group, 99 removed with its subject
    assert (form.read, form.handed, form.superseded, form.removed, form.instructions) == (6, 1, 1, 3, 1)
    assert any(f.rule == "ODM-AUDIT-IGNORED" and f.message.startswith("1 ") for f in result.findings)


def test_multilanguage_decode_and_enumerated_items(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.xml"
    path.write_text(TRANSACTIONAL.split("<ClinicalData")[0] + TRANSACTIONAL.split("</ClinicalData>")[0].split(
        "<ClinicalData", 1)[1].join(["<ClinicalData", "</ClinicalData></ODM>"]).replace(
        'FileType="Transactional"', 'FileType="Snapshot"'), encoding="utf-8")
    table = read_odm(path).datasets["VS"]
    assert table[["SubjectKey", "POS", "POS_DECODE"]].values.tolist() == \
        [["001", "S", "Sitting"], ["001", "STANDING", "STANDING"], ["002", "", ""]]


def test_snapshot_duplicates_keep_both_values(tmp_path: Path) -> None:
    path = tmp_path / "dup.xml"
    text = TRANSACTIONAL.split("</ClinicalData>")[0] + "</ClinicalData></ODM>"
    text = text.replace('FileType="Transactional"', 'FileType="Snapshot"').replace(
        'ItemGroupRepeatKey="2"', 'ItemGroupRepeatKey="1"')
    path.write_text(text, encoding="utf-8")
    result, counts = read_odm_counts(path)
    assert [f.rule for f in result.findings if f.severity == "warning"] == ["ODM-KEY-DUPLICATE"]
    assert len(result.datasets["VS"]) == 3 and counts["F"].handed == 4


@pytest.mark.parametrize(("text", "rule", "line"), [
    ('<ODM xmlns="http://www.cdisc.org/ns/odm/v2.0" ODMVersion="2.0"><ClinicalData/></ODM>', "ODM-VERSION", 1),
    ('<?xml version="1.0"?>\n<clinical_study/>', "ODM-NOT-ODM", 2),
    ('<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3">\n<Study OID="S"/></ODM>', "ODM-NO-DATA", 1),
    ('<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3">\n<ClinicalData>\n<SubjectData SubjectKey="1">\n</ODM>',
     "XML-SYNTAX", 4),
])
def test_bad_files_are_refused_with_their_line(tmp_path: Path, text: str, rule: str, line: int) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(text, encoding="utf-8")
    result = read_odm(path)
    assert result.datasets == {}
    assert [(f.rule, f.severity, f.location) for f in result.findings] == [(rule, "error", f"bad.xml:{line}")]


def test_unknown_oids_are_errors_and_values_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "unknown.xml"
    path.write_text(TRANSACTIONAL.replace('<ItemData ItemOID="I.SBP" Value="99"/>',
                                          '<ItemData ItemOID="I.DBP" Value="70"/>'), encoding="utf-8")
    result, counts = read_odm_counts(path)
    unknown = [f for f in result.findings if f.rule == "ODM-OID-UNKNOWN"]
    assert [(f.severity, f.values[0], f.message.split(" ")[0]) for f in unknown] == [("error", "I.DBP", "1")]
    line = next(n for n, text in enumerate(TRANSACTIONAL.splitlines(), 1) if 'Value="99"' in text)
    assert unknown[0].location == f"unknown.xml:{line}"
    assert counts["F"].balanced()


def test_odm_metadata_of_the_cdash_file() -> None:
    meta = odm_metadata(EDC / "odmlib" / "cdash-odm-test.xml")
    assert meta.study_oid == "trace-xml-safety01" and len(meta.items) == 52 and len(meta.codelists) == 16
    study_id = meta.items["ODM.IT.Common.StudyID"]
    assert (study_id.name, study_id.data_type, study_id.length, study_id.sdtm) == ("Protocol/Study", "text", 20, ("STUDYID",))
    assert meta.items["ODM.IT.Common.Visit"].sdtm == ("RFSTDTC",)
    severity = meta.codelists["ODM.CL.AESEV"]
    assert [(t.coded, t.decoded) for t in severity.terms] == [("MILD", "MILD"), ("MODERATE", "MODERATE"), ("SEVERE", "SEVERE")]
    demographics = meta.datasets["Demographics"]
    assert demographics.source == "ODM.IG.DM"
    assert [(c.name, c.decode) for c in demographics.columns][3] == ("Sex", "Sex_DECODE")
    assert "ODM.IG.VS_GENERAL" in meta.datasets  # its Name is shared with another group: named by OID


def test_metadata_names_what_the_reader_hands_on() -> None:
    for name in DATA_FILES:
        meta = odm_metadata(EDC / name)
        result = read_odm(EDC / name)
        for dataset, table in result.datasets.items():
            declared = meta.datasets[dataset]
            for column in declared.columns:
                assert column.name in table.columns
                assert not column.decode or column.decode in table.columns
            assert list(table.columns[:len(declared.key_columns)]) == list(declared.key_columns)


def test_openclinica_subject_event_and_form_attributes_become_columns(tmp_path: Path) -> None:
    """The attributes OpenClinica 3 writes in a full extract (subject status, sex, event dates, CRF version)."""
    text = (EDC / "openclinica" / "extract-2014-01-31.xml").read_text(encoding="utf-8")
    text = text.replace('<SubjectData SubjectKey="SS_CAM101" OpenClinica:StudySubjectID="CAM101">',
                        '<SubjectData SubjectKey="SS_CAM101" OpenClinica:StudySubjectID="CAM101" '
                        'OpenClinica:UniqueIdentifier="PID-9" OpenClinica:Status="signed" OpenClinica:Sex="f" '
                        'OpenClinica:DateOfBirth="1950-02-03"><OpenClinica:SubjectGroupData OpenClinica:StudyGroupClassID='
                        '"SGC_ARM" OpenClinica:StudyGroupClassName="Arm" OpenClinica:StudyGroupName="Docetaxel"/>', 1)
    text = text.replace('<StudyEventData StudyEventOID="SE_REGISTRATIONVISIT">',
                        '<StudyEventData StudyEventOID="SE_REGISTRATIONVISIT" OpenClinica:StartDate="2011-07-06" '
                        'OpenClinica:Status="completed">', 1)
    text = text.replace('<FormData FormOID="F_VERIFICATION_V20">',
                        '<FormData FormOID="F_VERIFICATION_V20" OpenClinica:Version="v2.0" OpenClinica:Status="initial '
                        'data entry completed"><ItemGroupData ItemGroupOID="IG_VERIF_UNGROUPED" ItemGroupRepeatKey="1">'
                        '<ItemDataString ItemOID="I_VERIF_VERI_INIT">  AG  </ItemDataString></ItemGroupData>', 1)
    path = tmp_path / "full.xml"
    path.write_text(text, encoding="utf-8")
    result, counts = read_odm_counts(path)
    table = result.datasets["IG_VERIF_UNGROUPED"]
    first = table.iloc[0]
    assert (first["OpenClinica:UniqueIdentifier"], first["OpenClinica:Status"], first["OpenClinica:Sex"],
            first["OpenClinica:DateOfBirth"]) == ("PID-9", "signed", "f", "1950-02-03")
    assert first["OpenClinica:SubjectGroupData.Arm"] == "Docetaxel"
    assert (first["StudyEvent.OpenClinica:StartDate"], first["StudyEvent.OpenClinica:Status"]) == ("2011-07-06", "completed")
    assert (first["Form.OpenClinica:Version"], first["VERI_INIT"]) == ("v2.0", "AG")  # typed ItemData text, trimmed
    others = table[table["SubjectKey"] != "SS_CAM101"]
    assert set(others["StudyEvent.OpenClinica:StartDate"]) == {""} and set(others["OpenClinica:Status"]) == {""}
    assert all(c.balanced() for c in counts.values()) and counts["F_VERIFICATION_V20"].read == 37


def test_item_data_outside_an_item_group_is_an_error_not_a_silent_loss(tmp_path: Path) -> None:
    path = tmp_path / "stray.xml"
    path.write_text(TRANSACTIONAL.replace('<FormData FormOID="F"><ItemGroupData ItemGroupOID="IG" ItemGroupRepeatKey="1">',
                                          '<FormData FormOID="F"><ItemData ItemOID="I.SBP" Value="88"/>'
                                          '<ItemGroupData ItemGroupOID="IG" ItemGroupRepeatKey="1">'), encoding="utf-8")
    result = read_odm(path)
    lost = [f for f in result.findings if f.rule == "ODM-VALUES-LOST"]
    assert [(f.severity, f.message.split(" ")[0]) for f in lost] == [("error", "1")]


def test_item_column_names_never_collide() -> None:
    from trialbridge.converters.readers.odm_meta import column_names
    from trialbridge.mappings.edc_metadata import EdcMetadata, ItemMeta

    meta = EdcMetadata("x", items={"A": ItemMeta("A", "X"), "X": ItemMeta("X", "Y"), "B": ItemMeta("B", "Y"),
                                   "C": ItemMeta("C", "SubjectKey")})
    # A keeps its unique Name; X and B share a Name so take their OIDs, and X's OID is A's Name: numbered;
    # C's Name is a key column: its OID
    assert column_names(["A", "X", "B", "C"], meta, ("SubjectKey",)) == {"A": "X", "X": "X_2", "B": "B", "C": "C"}


def test_repeated_faults_are_one_finding_with_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "many.xml"
    text = TRANSACTIONAL.replace('<ItemData ItemOID="I.SBP" Value="99"/>',
                                 '<ItemData ItemOID="I.DBP" Value="70"/>\n<ItemData ItemOID="I.DBP2" Value="71"/>'
                                 '\n<ItemData ItemOID="I.DBP" Value="72"/>')
    path.write_text(text, encoding="utf-8")
    unknown = [f for f in read_odm(path).findings if f.rule == "ODM-OID-UNKNOWN"]
    assert [(f.values[0], f.message.split(" ")[0], len(f.values)) for f in unknown] == [("I.DBP", "2", 3), ("I.DBP2", "1", 2)]


def test_redcap_repeating_event_instances(tmp_path: Path) -> None:
    """A REDCap event that repeats as a whole: its forms carry the event's instance (StudyEventRepeatKey)."""
    text = (EDC / "redcap" / "longitudinal.xml").read_text(encoding="utf-8")
    text = text.replace("</GlobalVariables>", "\t<redcap:RepeatingInstrumentsAndEvents>\n\t\t<redcap:RepeatingEvent "
                        'redcap:UniqueEventName="visit_1_arm_1"/>\n\t</redcap:RepeatingInstrumentsAndEvents>\n'
                        "</GlobalVariables>", 1)
    first = text.index('<StudyEventData StudyEventOID="Event.visit_1_arm_1" StudyEventRepeatKey="1"')
    end = text.index("</StudyEventData>", first) + len("</StudyEventData>")
    second = text[first:end].replace('StudyEventRepeatKey="1"', 'StudyEventRepeatKey="2"')
    path = tmp_path / "repeating-event.xml"
    path.write_text(text[:end] + "\n" + second + text[end:], encoding="utf-8")
    result, counts = read_odm_counts(path)
    lab = result.datasets["visit_lab_data"]
    visit_1 = lab[lab["redcap_event_name"] == "visit_1_arm_1"]
    assert (visit_1["redcap_repeat_instance"] == visit_1["StudyEventRepeatKey"]).all()
    assert set(visit_1["redcap_repeat_instance"]) == {"1", "2"} and set(visit_1["redcap_repeat_instrument"]) == {""}
    assert set(lab.loc[lab["redcap_event_name"] != "visit_1_arm_1", "redcap_repeat_instance"]) == {""}
    assert all(c.balanced() for c in counts.values())
