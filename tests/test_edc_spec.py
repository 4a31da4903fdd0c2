"""EDC exports through a spec, end to end: the OpenClinica 3 extract of examples/openclinica-docetaxel converted
to DM, EX, CM and VS through a spec in the documented format (XPT read back, every value compared with the
ItemData of the XML, parsed here independently of the reader), nothing lost between the export and the spec,
and `spec init` pre-filled from ODM / REDCap metadata (SDTM annotations, codelists, events)."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from lxml import etree

from trialbridge.converters.pipeline import convert
from trialbridge.converters.spec_tools.check import check_spec
from trialbridge.converters.spec_tools.init import init_spec
from trialbridge.converters.xpt.files import read_xpt

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "openclinica-docetaxel"
XML = EXAMPLE / "extract-2014-01-31.xml"
EDC = ROOT / "tests" / "fixtures" / "edc"
ODM = "{http://www.cdisc.org/ns/odm/v1.3}"
OC = "{http://www.openclinica.org/ns/odm_ext_v130/v3.1}"
VITALS = {"HEIGHT": "HEIGHT", "WEIGHT": "WEIGHT", "TEMPERATURE": "TEMP", "PULSE": "PULSE",
          "RESPIRATION": "RESP", "SYSTOLIC": "SYSBP", "DIASTOLIC": "DIABP", "BMI": "BMI"}


def _item_data() -> pd.DataFrame:
    """Every ItemData of the extract with its subject label, event and item name (straight from the XML)."""
    root = etree.parse(str(XML)).getroot()
    names = {d.get("OID"): d.get("Name") for d in root.iter(f"{ODM}ItemDef")}
    rows = []
    for subject in root.iter(f"{ODM}SubjectData"):
        label = subject.get(f"{OC}StudySubjectID")
        for event in subject.iter(f"{ODM}StudyEventData"):
            for group in event.iter(f"{ODM}ItemGroupData"):
                for item in group.iter(f"{ODM}ItemData"):
                    rows.append({"subject": label, "event": event.get("StudyEventOID"),
                                 "repeat": group.get("ItemGroupRepeatKey", ""), "group": group.get("ItemGroupOID"),
                                 "item": names[item.get("ItemOID")], "value": item.get("Value", "")})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("oc") / "out"
    result = convert(EXAMPLE, out, fhir_releases=(), reports=False)
    assert result.exit_code in (0, 1), result.summary  # 1: conformance findings (DM SEX/COUNTRY not collected)
    return out / "sdtm", result


def _numbers(text: str, pattern: str) -> tuple[int, ...]:
    match = re.search(pattern, text)
    assert match, text
    return tuple(int(n) for n in match.groups())


def _xpt(folder: Path, name: str) -> pd.DataFrame:
    return read_xpt(folder / f"{name}.xpt")[0]


def test_every_subject_of_the_extract_is_in_dm(converted) -> None:
    sdtm, _ = converted
    dm = _xpt(sdtm, "dm")
    subjects = sorted(_item_data()["subject"].unique())
    assert len(subjects) == 13
    assert sorted(dm["SUBJID"]) == subjects
    assert (dm["USUBJID"] == "R01-123456-" + dm["SUBJID"]).all()
    assert dm.set_index("SUBJID").loc["CAM101", "SITEID"] == "CCSO"
    consent = _item_data().query("item == 'INFORMED_CONSENT_DAT'").set_index("subject")["value"]
    assert dm.set_index("SUBJID")["RFICDTC"].reindex(consent.index).tolist() == consent.tolist()


def test_vital_signs_equal_the_item_data(converted) -> None:
    sdtm, _ = converted
    vs = _xpt(sdtm, "vs")
    items = _item_data()
    vitals = items[items["item"].isin(list(VITALS)) & (items["value"] != "")]
    expected = sorted(zip(vitals["subject"], vitals["event"].map(
        {"SE_REGISTRATIONVISIT": "REGISTRATION VISIT", "SE_INITIALTREATMENT": "INITIAL TREATMENT",
         "SE_FOLLOWUPTREATMENT": "FOLLOW-UP TREATMENT"}), vitals["item"].map(VITALS), vitals["value"]))
    got = sorted(zip(vs["USUBJID"].str.removeprefix("R01-123456-"), vs["VISIT"], vs["VSTESTCD"], vs["VSORRES"]))
    assert len(vs) == len(vitals) == 18 * 8 and got == expected
    units = dict(zip(vs["VSTESTCD"], vs["VSORRESU"]))
    assert units == {"HEIGHT": "in", "WEIGHT": "LB", "TEMP": "F", "PULSE": "beats/min", "RESP": "breaths/min",
                     "SYSBP": "mmHg", "DIABP": "mmHg", "BMI": "kg/m2"}
    first = vs[(vs["USUBJID"] == "R01-123456-CAM101") & (vs["VISITNUM"] == 1)]
    assert set(first["VSDTC"]) == {"2011-07-01T09:30"}  # PEDAT + PETIM
    untimed = vs[(vs["USUBJID"] == "R01-123456-SCRC003")]
    assert set(untimed["VSDTC"]) == {"2011-07-01"}  # no PETIM: the date alone


def test_conmeds_and_exposure_equal_the_item_data(converted) -> None:
    sdtm, _ = converted
    cm, ex = _xpt(sdtm, "cm"), _xpt(sdtm, "ex")
    items = _item_data()
    names = items[items["item"] == "Con_Med_Name"]
    assert sorted(zip(cm["USUBJID"].str.removeprefix("R01-123456-"), cm["CMTRT"])) == sorted(
        zip(names["subject"], names["value"]))
    ongoing = items[(items["item"] == "Con_Med_Cont") & (items["value"] == "1")]
    assert (cm["CMENRTPT"] == "ONGOING").sum() == len(ongoing) == 3
    doses = items[items["item"] == "DOSE_DAT"]
    assert sorted(zip(ex["USUBJID"].str.removeprefix("R01-123456-"), ex["EXSTDTC"])) == sorted(
        zip(doses["subject"], doses["value"]))
    assert sorted(ex["EXDOSE"].dropna().tolist()) == [10.0, 50.0]
    assert set(ex["EXTRT"]) == {"DOCETAXEL", "Docetaxel"}  # as collected, else the protocol's agent


def test_nothing_lost_between_the_export_and_the_spec(converted) -> None:
    _, result = converted
    rules = [f.rule for f in result.findings]
    forms = [f for f in result.findings if f.rule == "ODM-FORM-COUNTS"]
    assert len(forms) == len({f.location for f in forms}) == 6  # once per form, however many sources read it
    assert "ODM-VALUES-LOST" not in rules and "SOURCE-EDC-UNUSED" not in rules
    (handover,) = [f for f in result.findings if f.rule == "SOURCE-EDC-COUNTS"]
    read, handed, unused = _numbers(handover.message, r"(\d+) value\(s\) read = (\d+) handed.* \+ (\d+) in raw")
    assert unused == 0 and read == handed > 0
    assert handover.message in result.summary  # the convert summary says it, with each form's count
    counted = [_numbers(f.message, r"(\d+) ItemData read = (\d+) values handed on \+ (\d+) empty") for f in forms]
    assert all(f.message in result.summary for f in forms)
    assert all(n == handed + empty for n, handed, empty in counted)
    assert len(_item_data()) == sum(n for n, _, _ in counted) == 769


def test_a_raw_dataset_no_source_names_is_a_warning(tmp_path: Path) -> None:
    study = tmp_path / "study"
    (study / "spec").mkdir(parents=True)
    (study / XML.name).write_bytes(XML.read_bytes())
    for table in (EXAMPLE / "spec").glob("*.csv"):
        text = table.read_text(encoding="utf-8")
        if table.name == "sources.csv":
            text = "\n".join(line for line in text.splitlines() if not line.startswith("ae_prompt")) + "\n"
        if table.name == "mappings.csv":
            text = "\n".join(line for line in text.splitlines() if "ae_prompt" not in line) + "\n"
        (study / "spec" / table.name).write_text(text, encoding="utf-8")
    result = convert(study, tmp_path / "out", fhir_releases=(), reports=False)
    (unused,) = [f for f in result.findings if f.rule == "SOURCE-EDC-UNUSED"]
    assert unused.severity == "warning" and "'IG_ADVER_UNGROUPED' (1 row(s), 8 value(s))" in unused.message
    (handover,) = [f for f in result.findings if f.rule == "SOURCE-EDC-COUNTS"]
    assert handover.message.endswith("+ 8 in raw datasets no source names")


def test_spec_init_prefills_from_cdash_annotations(tmp_path: Path) -> None:
    findings, _ = init_spec(EDC / "odmlib" / "cdash-odm-test.xml", tmp_path / "spec")
    assert not [f for f in findings if f.severity == "error"]
    (edc,) = [f for f in findings if f.rule == "SPEC-INIT-EDC"]
    (annotated,) = _numbers(edc.message, r"(\d+) item\(s\) with SDTM annotations")
    assert annotated > 30
    spec = tmp_path / "spec"
    mappings = pd.read_csv(spec / "mappings.csv", dtype=str, keep_default_na=False)
    sources = pd.read_csv(spec / "sources.csv", dtype=str, keep_default_na=False)
    assert set(sources["format"]) == {"odm"} and "Demographics" in set(sources["sheet"])
    sets = mappings[mappings["algorithm"] == "record_set"].set_index("source")["domain"]
    assert sets["demographics"] == "DM" and sets["vital_sign_measurement"] == "VS"
    mapped = mappings[mappings["variable"] != ""].set_index(["domain", "variable"])
    assert mapped.loc[("DM", "SEX"), ["algorithm", "codelist", "source_variable"]].tolist() == ["assign_ct", "C66731", "Sex"]  # ItemDef Name
    assert mapped.loc[("AE", "AESEV"), "codelist"] == "C66769"
    assert mapped.loc[("AE", "AESTDTC"), ["algorithm", "arguments"]].tolist() == ["assign_datetime", "format=iso"]
    brth = mappings[mappings["source_variable"] == "Birth Year"].iloc[0]
    assert brth["algorithm"] == "not_submitted" and "BRTHDTC" in brth["comment"]  # three items, one date
    height = mappings[mappings["source_variable"] == "HEIGHT"].iloc[0] if "HEIGHT" in set(mappings["source_variable"]) \
        else mappings[mappings["comment"].str.contains("VSORRES\\+VSORRESU")].iloc[0]
    assert "record_set per test" in height["comment"]
    ct = pd.read_csv(spec / "ct.csv", dtype=str, keep_default_na=False)
    severity = ct[ct["codelist_code"] == "C66769"]  # ODM.CL.AESEV (SEX names CL.SEX, a CodeList the file lacks)
    assert set(zip(severity["collected_value"], severity["term_value"])) == {
        ("MILD", "MILD"), ("MODERATE", "MODERATE"), ("SEVERE", "SEVERE")}
    visits = pd.read_csv(spec / "visits.csv", dtype=str, keep_default_na=False)
    assert visits[["visit", "VISITNUM"]].values.tolist() == [["Baseline Visit", "1"]]


def test_spec_init_on_an_export_with_data_names_what_the_reader_hands_on(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / XML.name).write_bytes(XML.read_bytes())
    findings, _ = init_spec(raw, tmp_path / "spec")
    assert not [f for f in findings if f.severity == "error"]
    sources = pd.read_csv(tmp_path / "spec" / "sources.csv", dtype=str, keep_default_na=False)
    assert "CONCOMITANT MEDICATIONS" in set(sources["sheet"]) and set(sources["subject"]) == {"SUBJECT"}
    assert set(sources["rename"]) == {"OpenClinica:StudySubjectID=SUBJECT"}  # the label people use, not SS_ OIDs
    mappings = pd.read_csv(tmp_path / "spec" / "mappings.csv", dtype=str, keep_default_na=False)
    start = mappings[mappings["source_variable"] == "Con_Med_Start"].iloc[0]
    assert "format=iso" in start["arguments"] and "4 of 4 values" in start["comment"]
    ct = pd.read_csv(tmp_path / "spec" / "ct.csv", dtype=str, keep_default_na=False)
    assert {("1", "yes"), ("0", "no")} <= set(zip(ct["collected_value"], ct["term_value"]))  # CL of Con_Med_Cont
    result = check_spec(tmp_path / "spec", raw)  # every source and column it names is found in the export
    assert not [f for f in result.findings if f.rule in ("SOURCE-SHEET", "SOURCE-SUBJECT", "SPEC-CHECK-COLUMN")]


def test_spec_init_on_redcap_exports(tmp_path: Path) -> None:
    findings, _ = init_spec(EDC / "redcap" / "longitudinal.xml", tmp_path / "odm")
    assert not [f for f in findings if f.severity == "error"]
    visits = pd.read_csv(tmp_path / "odm" / "visits.csv", dtype=str, keep_default_na=False) \
        if (tmp_path / "odm" / "visits.csv").exists() else None
    sources = pd.read_csv(tmp_path / "odm" / "sources.csv", dtype=str, keep_default_na=False)
    assert "demographics" in set(sources["sheet"])
    ct = pd.read_csv(tmp_path / "odm" / "ct.csv", dtype=str, keep_default_na=False)
    assert ("Female" in set(ct["term_value"])) and visits is None or len(visits) >= 1
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ("data.csv", "dictionary.csv"):
        (flat / name).write_bytes((EDC / "redcap-flat" / "dag-write" / name).read_bytes())
    findings, _ = init_spec(flat, tmp_path / "spec")
    assert not [f for f in findings if f.severity == "error"]
    sources = pd.read_csv(tmp_path / "spec" / "sources.csv", dtype=str, keep_default_na=False)
    assert set(sources["format"]) == {"redcap"} and set(sources["file"]) == {"data.csv"}
    result = check_spec(tmp_path / "spec", flat)
    assert not [f for f in result.findings if f.rule in ("SOURCE-SHEET", "SOURCE-SUBJECT", "SOURCE-MISSING")]
