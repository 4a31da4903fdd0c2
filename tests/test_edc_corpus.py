"""Real EDC exports the way a data manager meets them: read (every ItemData counted here with lxml,
independently of the reader), `spec init`, then convert through the initialised spec with the first edits a
data manager makes (one raw dataset -> DM). Covers what a corpus of real exports broke: a spec init template
converted as written (a KeyError traceback), empty datasets/variables tables (a traceback), ODM with no
MetaDataVersion (Medidata Rave: an empty spec), several ClinicalData elements, a transactional Rave audit
feed, non-ASCII values, and ODM 2.0 given to `spec init` (files written beside an error)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from lxml import etree

from trialbridge.converters.pipeline import convert
from trialbridge.converters.readers.odm import read_odm_counts
from trialbridge.converters.spec_tools.check import check_spec
from trialbridge.converters.spec_tools.init import init_spec
from trialbridge.converters.xpt.files import read_xpt

EDC = Path(__file__).resolve().parent / "fixtures" / "edc"
ODM = "{http://www.cdisc.org/ns/odm/v1.3}"


def _item_data(path: Path) -> list[etree._Element]:
    root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    return [e for e in root.iter(f"{ODM}ItemData")]


def _dm_edit(spec: Path, dataset: str, site: str = "") -> None:
    """A data manager's first edit: `dataset` becomes DM, one record per subject; the rest stays untargeted."""
    mappings = pd.read_csv(spec / "mappings.csv", dtype=str, keep_default_na=False)
    sources = pd.read_csv(spec / "sources.csv", dtype=str, keep_default_na=False).set_index("dataset")
    subject = sources.loc[dataset, "subject"]
    mine = (mappings["source"] == dataset) & mappings["algorithm"].isin(["record_set", "not_submitted"])
    mappings.loc[mine, "domain"] = "DM"
    last = mappings.index[mappings["domain"] == "DM"][-1]  # after DM's block: USUBJID is derived by then
    blank = dict.fromkeys(mappings.columns, "")
    rows = pd.DataFrame([
        {**blank, "domain": "DM", "variable": "STUDYID", "algorithm": "hardcode_no_ct", "value": "{STUDYID}"},
        {**blank, "domain": "DM", "variable": "DOMAIN", "algorithm": "hardcode_no_ct", "value": "DM"},
        {**blank, "domain": "DM", "variable": "USUBJID", "algorithm": "derive_usubjid", "source_variable": subject},
        {**blank, "domain": "DM", "algorithm": "remove_dup", "arguments": "keys=USUBJID"},
        {**blank, "domain": "DM", "variable": "SUBJID", "algorithm": "assign_no_ct", "source_variable": subject},
        {**blank, "domain": "DM", "variable": "SITEID", "algorithm": "assign_no_ct" if site else "hardcode_no_ct",
         "source_variable": site, "value": "" if site else "01"}])
    written = set(mappings.loc[mappings["domain"] == "DM", "variable"])  # spec init may have mapped some already
    rows = rows[~rows["variable"].isin(written - {""})]
    out = pd.concat([mappings.loc[:last], rows, mappings.loc[last + 1:]], ignore_index=True)
    out.to_csv(spec / "mappings.csv", index=False, lineterminator="\n")


def _study(tmp_path: Path, export: Path) -> Path:
    study = tmp_path / "study"
    study.mkdir()
    shutil.copy(export, study / export.name)
    findings, _ = init_spec(study / export.name, study / "spec")
    assert not [f for f in findings if f.severity == "error"], findings
    (study / "spec" / "trialbridge-manifest.sha256").unlink(missing_ok=True)
    return study


def test_the_spec_init_template_is_refused_clearly_then_converts_once_a_domain_is_set(tmp_path: Path) -> None:
    export = EDC / "redcap" / "simple.xml"
    study = _study(tmp_path, export)
    result = convert(study, tmp_path / "untouched", fhir_releases=(), reports=False)
    assert result.exit_code == 2 and not (tmp_path / "untouched").exists()
    (refused,) = [f for f in result.findings if f.severity == "error"]
    assert refused.rule == "SPEC-NO-DOMAIN" and "demographics" in refused.message
    assert "SPEC-NO-DOMAIN" in {f.rule for f in check_spec(study / "spec", study).findings}  # spec check says it too
    _dm_edit(study / "spec", "demographics")
    result = convert(study, tmp_path / "out", fhir_releases=(), reports=False)
    assert result.exit_code in (0, 1), result.summary  # 1: DM's SEX/COUNTRY are not mapped by this first edit
    (waiting,) = [f for f in result.findings if f.rule == "SPEC-SOURCE-UNTARGETED"]
    assert waiting.severity == "warning" and "health, race_and_ethnicity" in waiting.message
    dm = read_xpt(tmp_path / "out" / "sdtm" / "dm.xpt")[0]
    subjects = sorted({e.getparent().getparent().getparent().get("SubjectKey") for e in _item_data(export)})
    assert sorted(dm["SUBJID"]) == subjects and len(subjects) == 5


def test_a_rave_export_without_metadata_is_read_initialised_and_converted(tmp_path: Path) -> None:
    export = EDC / "rave" / "rave-double-byte.xml"
    items = _item_data(export)
    raw, counts = read_odm_counts(export)
    assert sum(c.read for c in counts.values()) == len(items) == 3
    table = raw.datasets["SURGERY_LOG_LINE"]
    assert table.loc[0, "SURGERY.DEVICE"] == "日本語のテスト" and table.loc[0, "SiteRef"] == "0001"
    assert "ODM-NO-METADATA" in {f.rule for f in raw.findings}
    study = _study(tmp_path, export)
    sources = pd.read_csv(study / "spec" / "sources.csv", dtype=str, keep_default_na=False)
    assert sources[["dataset", "sheet", "format"]].values.tolist() == [["surgery_log_line", "SURGERY_LOG_LINE", "odm"]]
    mappings = pd.read_csv(study / "spec" / "mappings.csv", dtype=str, keep_default_na=False)
    assert list(mappings["source_variable"][1:]) == ["SURGERY.SURGERYDATE", "SURGERY.DEVICETYPE", "SURGERY.DEVICE"]
    _dm_edit(study / "spec", "surgery_log_line", site="SiteRef")
    result = convert(study, tmp_path / "out", fhir_releases=(), reports=False)
    assert result.exit_code in (0, 1), result.summary
    dm = read_xpt(tmp_path / "out" / "sdtm" / "dm.xpt")[0]
    assert dm[["SUBJID", "SITEID"]].values.tolist() == [["0001-MH-01 JAN 2000", "0001"]]


def test_a_rave_transactional_audit_feed_gives_the_final_values(tmp_path: Path) -> None:
    export = EDC / "rave" / "rave-car-message-prefix.xml"
    items = _item_data(export)
    raw, counts = read_odm_counts(export)
    assert sum(c.read for c in counts.values()) == len(items) == 8
    assert all(c.balanced() for c in counts.values())
    assert sum(c.superseded for c in counts.values()) == 1  # DM.BRTHDTC corrected by a later Upsert
    dm = raw.datasets["DM"]
    assert dm[["DM.BRTHDTC", "DM.SEX", "DM.RACE", "DM.COUNTRY"]].values.tolist() == [["01 JAN 1990", "MALE", "3", "GBR"]]
    assert dm.loc[0, "mdsol:SubjectName"] == "123 ABC" and dm.loc[0, "StudyEventRepeatKey"] == "SCREEN[1]"
    assert any(f.rule == "ODM-AUDIT-IGNORED" for f in raw.findings)
    assert raw.datasets["EN"].loc[0, "EN.SUBJID"] == "1000015"
    study = _study(tmp_path, export)
    _dm_edit(study / "spec", "dm", site="SiteRef")
    result = convert(study, tmp_path / "out", fhir_releases=(), reports=False)
    assert result.exit_code in (0, 1), result.summary
    sources = pd.read_csv(study / "spec" / "sources.csv", dtype=str, keep_default_na=False).set_index("dataset")
    assert sources.loc["dm", ["subject", "rename"]].tolist() == ["SUBJECT", "mdsol:SubjectName=SUBJECT"]
    mapped = pd.read_csv(study / "spec" / "mappings.csv", dtype=str, keep_default_na=False)
    mapped = mapped[mapped["variable"] != ""].set_index("variable")["source_variable"]
    assert (mapped["SEX"], mapped["COUNTRY"], mapped["BRTHDTC"]) == ("DM.SEX", "DM.COUNTRY", "DM.BRTHDTC")  # FORM.FIELD
    everything = pd.read_csv(study / "spec" / "mappings.csv", dtype=str, keep_default_na=False)
    subjid = everything[everything["source_variable"] == "EN.SUBJID"].iloc[0]
    assert subjid["arguments"] == ""  # the subject number 1000015 is not read as a yyyyMMdd date (1000-01-05)
    dm_out = read_xpt(tmp_path / "out" / "sdtm" / "dm.xpt")[0]
    assert dm_out[["SUBJID", "SITEID", "SEX", "COUNTRY", "BRTHDTC"]].values.tolist() == [
        ["123 ABC", "MDSOL", "M", "GBR", "1990-01-01"]]  # the Upsert's corrected birth date, Rave's subject name


def test_every_clinicaldata_element_of_a_file_is_read() -> None:
    export = EDC / "odmlib-data" / "odmlib-two-clinicaldata.xml"
    raw, counts = read_odm_counts(export)
    assert sum(c.read for c in counts.values()) == len(_item_data(export)) == 10
    lab = raw.datasets["LB"]
    assert sorted(zip(lab["StudyEventOID"], lab["LBORRES"])) == [("Screen", "245"), ("VISIT_1", "300")]


def test_spec_init_refuses_odm_2_and_writes_nothing(tmp_path: Path) -> None:
    odm2 = tmp_path / "odm2.xml"
    odm2.write_text('<ODM xmlns="http://www.cdisc.org/ns/odm/v2.0" ODMVersion="2.0"><ClinicalData StudyOID="S" '
                    'MetaDataVersionOID="M"/></ODM>', encoding="utf-8")
    findings, summary = init_spec(odm2, tmp_path / "spec")
    assert [f.rule for f in findings if f.severity == "error"] == ["ODM-VERSION"]
    assert summary == "" and not (tmp_path / "spec").exists()


@pytest.mark.parametrize("table", ["datasets", "variables"])
def test_an_empty_metadata_table_is_inferred(tmp_path: Path, table: str) -> None:
    study = _study(tmp_path, EDC / "redcap" / "simple.xml")
    _dm_edit(study / "spec", "demographics")
    assert pd.read_csv(study / "spec" / f"{table}.csv").empty  # as spec init writes it
    other = "variables" if table == "datasets" else "datasets"
    (study / "spec" / f"{other}.csv").unlink()
    result = convert(study, tmp_path / "out", fhir_releases=(), reports=False)
    assert result.exit_code in (0, 1), result.summary
    assert (tmp_path / "out" / "sdtm" / "dm.xpt").exists()


def test_redcap_validation_types_give_data_types() -> None:
    from trialbridge.converters.readers.redcap import redcap_metadata

    metadata = redcap_metadata(EDC / "redcap-flat" / "decimal-comma" / "dictionary.csv")
    assert (metadata.items["height"].data_type, metadata.items["weight"].data_type) == ("float", "float")
    from trialbridge.converters.readers.edc import read_source

    raw = read_source(EDC / "redcap-flat" / "decimal-comma" / "data.csv")
    cells = sum(1 for line in (EDC / "redcap-flat" / "decimal-comma" / "data.csv").read_text().splitlines()[1:]
                for cell in __import__("csv").reader([line]).__next__()[1:] if cell)
    (counts,) = [f for f in raw.findings if f.rule == "REDCAP-COUNTS"]
    assert f"{cells} non-empty cell(s) read = {cells} handed on" in counts.message
    assert raw.datasets["demographics"]["height"].tolist() == ["1,54", "1,84", "1,95", "1,61"]  # as exported


def test_an_item_group_declared_without_data_gives_no_records_and_a_warning(tmp_path: Path) -> None:
    export = EDC / "redcap" / "simple.xml"
    study = _study(tmp_path, export)
    _dm_edit(study / "spec", "demographics")
    mappings = pd.read_csv(study / "spec" / "mappings.csv", dtype=str, keep_default_na=False)
    mappings.loc[mappings["source"] == "health", "domain"] = "DM"  # its items marked not submitted, in DM's block
    mappings.to_csv(study / "spec" / "mappings.csv", index=False, lineterminator="\n")
    tree = etree.parse(str(export))
    for form in list(tree.getroot().iter(f"{ODM}FormData")):
        if form.get("FormOID") == "Form.health":  # a later export in which no one has filled the form
            form.getparent().remove(form)
    tree.write(str(study / export.name), xml_declaration=True, encoding="UTF-8")
    result = convert(study, tmp_path / "out", fhir_releases=(), reports=False)
    assert result.exit_code in (0, 1), result.summary
    (empty,) = [f for f in result.findings if f.rule == "SOURCE-EDC-EMPTY"]
    assert empty.severity == "warning" and "'health'" in empty.message


OC = "{http://www.openclinica.org/ns/odm_ext_v130/v3.1}"


def test_openclinica_multi_select_lists_are_decoded_code_by_code(tmp_path: Path) -> None:
    """The real OpenClinica 3 extract with its 'ongoing' checkbox turned into a multi-select item the way
    OpenClinica 3.x writes one (MetaDataReportBean.addMultiSelectList: <OpenClinica:MultiSelectList ID Name
    DataType> of <OpenClinica:MultiSelectListItem CodedOptionValue><Decode>, referred to by the ItemDef's
    <OpenClinica:MultiSelectListRef MultiSelectListID>), with values '1,0' as OpenClinica extracts hold them
    (the JUNO demo extract of lindsay-stevens/openclinica_scripts has Value="1,2"), and a discrepancy note."""
    tree = etree.parse(str(EDC / "openclinica" / "extract-2014-01-31.xml"))
    root = tree.getroot()
    item = next(e for e in root.iter(f"{ODM}ItemDef") if e.get("OID") == "I_CONCO_CON_MED_CONT")
    ref = item.find(f"{ODM}CodeListRef")
    item.replace(ref, etree.Element(f"{OC}MultiSelectListRef", MultiSelectListID="MSL_1"))
    version = item.getparent()
    msl = etree.SubElement(version, f"{OC}MultiSelectList", ID="MSL_1", Name="ongoing", DataType="integer")
    for code, text in (("1", "yes"), ("0", "no")):
        option = etree.SubElement(msl, f"{OC}MultiSelectListItem", CodedOptionValue=code)
        etree.SubElement(etree.SubElement(option, f"{ODM}Decode"), f"{ODM}TranslatedText").text = text
    values = [e for e in root.iter(f"{ODM}ItemData") if e.get("ItemOID") == "I_CONCO_CON_MED_CONT"]
    values[0].set("Value", "1,0")
    values[1].set("Value", "1,7")
    notes = etree.SubElement(values[2], f"{OC}DiscrepancyNotes", EntityID="I_CONCO_CON_MED_CONT")
    etree.SubElement(notes, f"{OC}DiscrepancyNote", ID="DN_1", Status="New", NoteType="Query")
    export = tmp_path / "extract.xml"
    tree.write(str(export), xml_declaration=True, encoding="UTF-8")
    raw, counts = read_odm_counts(export)
    assert sum(c.read for c in counts.values()) == len(_item_data(export)) == 769
    table = raw.datasets["CONCOMITANT MEDICATIONS"]
    decoded = dict(zip(table["Con_Med_Cont"], table["Con_Med_Cont_DECODE"]))
    assert decoded["1,0"] == "yes; no" and decoded["1,7"] == "yes" and decoded["1"] == "yes"
    (unknown,) = [f for f in raw.findings if f.rule == "ODM-CODE-UNKNOWN" and "Con_Med_Cont" in f.location]
    assert unknown.values == ("7",)
    notes = len(list(etree.parse(str(export)).getroot().iter(f"{OC}DiscrepancyNote")))  # 4 in the real extract + 1
    assert notes == 5 and [f.message for f in raw.findings if f.rule == "ODM-NOTES-IGNORED"] == [
        f"{notes} OpenClinica discrepancy note(s) (data queries on the values) are not data and were not read"]
    findings, _ = init_spec(export, tmp_path / "spec")
    ct = pd.read_csv(tmp_path / "spec" / "ct.csv", dtype=str, keep_default_na=False)
    assert {("1", "yes"), ("0", "no")} <= set(zip(ct["collected_value"], ct["term_value"]))  # candidates, as CodeLists


@pytest.mark.parametrize("clinical, layout", [
    ('<Study OID="S"><ClinicalData StudyOID="S" MetaDataVersionOID="M"/></Study>', "ClinicalData inside Study"),
    ('<ClinicalData StudyOID="S" MetaDataVersionOID="M"><SubjectData SubjectKey="001"><StudyEventData '
     'StudyEventOID="SE"><ItemGroupData ItemGroupOID="F"><ItemData ItemOID="I"><Value>1</Value></ItemData>'
     '</ItemGroupData></StudyEventData></SubjectData></ClinicalData>', "ItemGroupData inside StudyEventData"),
    ('<ClinicalData StudyOID="S" MetaDataVersionOID="M"><SubjectData SubjectKey="001"><StudyEventData '
     'StudyEventOID="SE"><FormData FormOID="F"><ItemGroupData ItemGroupOID="G"><ItemData ItemOID="I"><Value>1'
     '</Value></ItemData></ItemGroupData></FormData></StudyEventData></SubjectData></ClinicalData>',
     "ItemData holding <Value> elements"),
])
def test_odm_2_data_under_an_odm_1_3_declaration_is_refused(tmp_path: Path, clinical: str, layout: str) -> None:
    """As CDISC's own ODM examples do (DataExchange-ODM-Examples, Columbia_Suicidal_Scale_kb/odm20.xml: the
    1.3 namespace and ODMVersion="1.3.2" around ODM 2.0 data): refused naming the layout, never read as no
    data or as empty values."""
    export = tmp_path / "odm20-in-13.xml"
    export.write_text(f'<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" ODMVersion="1.3.2" FileType="Snapshot">'
                      f'{clinical}</ODM>', encoding="utf-8")
    raw, _ = read_odm_counts(export)
    (refused,) = [f for f in raw.findings if f.severity == "error"]
    assert refused.rule == "ODM-LAYOUT-2" and layout in refused.message and not raw.datasets


def test_spec_init_writes_nothing_for_odm_2_data_under_an_odm_1_3_declaration(tmp_path: Path) -> None:
    export = tmp_path / "odm20-in-13.xml"
    export.write_text('<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" ODMVersion="1.3.2" FileType="Snapshot"><Study '
                      'OID="S"><MetaDataVersion OID="M" Name="M"><ItemGroupDef OID="G" Name="G" Repeating="No"><ItemRef '
                      'ItemOID="I" Mandatory="No"/></ItemGroupDef><ItemDef OID="I" Name="I" DataType="text"/>'
                      '</MetaDataVersion><ClinicalData StudyOID="S" MetaDataVersionOID="M"/></Study></ODM>',
                      encoding="utf-8")
    findings, summary = init_spec(export, tmp_path / "spec")
    assert [f.rule for f in findings if f.severity == "error"] == ["ODM-LAYOUT-2"]
    assert summary == "" and not (tmp_path / "spec").exists()


def test_rows_an_edc_marks_removed_are_handed_on_with_a_warning(tmp_path: Path) -> None:
    """OpenClinica full extracts carry each form's status (JUNO demo extract: OpenClinica:Status="data entry
    complete"); a removed form ('invalid') is still exported. Here the real extract with its statuses set so."""
    tree = etree.parse(str(EDC / "openclinica" / "extract-2014-01-31.xml"))
    forms = [f for f in tree.getroot().iter(f"{ODM}FormData") if f.get("FormOID") == "F_CONCOMITANTM_V10"]
    for form in forms:
        form.set(f"{OC}Status", "data entry complete")
    forms[0].set(f"{OC}Status", "invalid")
    export = tmp_path / "extract.xml"
    tree.write(str(export), xml_declaration=True, encoding="UTF-8")
    raw, counts = read_odm_counts(export)
    assert sum(c.read for c in counts.values()) == len(_item_data(export))  # nothing dropped
    rows = len(forms[0].findall(f"{ODM}ItemGroupData"))
    (removed,) = [f for f in raw.findings if f.rule == "ODM-STATUS-REMOVED"]
    assert removed.severity == "warning" and removed.values == ("invalid",)
    assert f"{rows} row(s) have a Form.OpenClinica:Status" in removed.message
    table = raw.datasets["CONCOMITANT MEDICATIONS"]
    assert (table["Form.OpenClinica:Status"] == "invalid").sum() == rows
