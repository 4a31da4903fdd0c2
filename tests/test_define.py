"""define.xml: written from the study specification and the written files, and cross-checked against them.

The package here is small and built by hand (a mini specification whose variable facts come from SDTMIG,
four datasets written with the real XPT writer), so each test names the rule it pins.
"""
from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lxml import etree

from trialbridge.converters.define.writer import (
    DEFINE_FILE, HTML_FILE, StudyInfo, plan_define, planned_kinds, study_info, write_define,
)
from trialbridge.converters.synth.forms import revallo_forms
from trialbridge.converters.define.facts import dataset_facts, facts_from_package
from trialbridge.converters.readers.spec_files import read_spec
from trialbridge.converters.synth.registry import REVALLO_SITE, build_registry
from trialbridge.converters.xpt.files import write_xpt
from trialbridge.mappings.trial import Trial
from trialbridge.schemas.define_checks import STYLESHEET_NAME, check_define_against_data, validate_define
from trialbridge.schemas.findings import Finding
from trialbridge.schemas.sdtm_spec import SUPP_MODEL, Dataset, StudySpec, ValueLevel, Variable
from trialbridge.schemas.sdtm_standards import sdtmig_datasets, sdtmig_variables

CREATED = datetime(2014, 10, 31, 17, 5, 9)
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1",
      "xlink": "http://www.w3.org/1999/xlink"}
RACE_NOTE = "Race is not collected: French law forbids recording it."

REVALLO_SPEC = Path(__file__).resolve().parents[1] / "converters" / "synth" / "revallo_spec"


# ------------------------------------------------------------------------------- the mini package
def ig(dataset: str, name: str, origin: str, source: str = "", method: str = "", comment: str = "",
       model: str | None = None) -> Variable:
    """A study variable whose label, type, order, core, role and codelist come from SDTMIG 3.4."""
    rows = sdtmig_variables()
    row = rows[(rows["Dataset Name"] == (model or dataset)) & (rows["Variable Name"] == name)].iloc[0]
    codelists = [c for c in row["CDISC CT Codelist Code(s)"].split(";") if c.strip()]
    return Variable(dataset=dataset, name=name, label=row["Variable Label"], type=row["Type"],
                    order=int(row["Variable Order"]), core=row["Core"], role=row["Role"],
                    codelist=codelists[0].strip() if codelists else "", origin=origin, source=source,
                    method=method, comment=comment)


def dataset(name: str, keys: tuple[str, ...], *variables: Variable, model: str | None = None,
            label: str | None = None) -> Dataset:
    meta = sdtmig_datasets().set_index("Dataset Name").loc[model or name]
    return Dataset(name=name, label=label or meta["Dataset Label"], cls=meta["Class"], structure=meta["Structure"],
                   keys=keys, variables=variables)


def mini_spec() -> StudySpec:
    dm = dataset(
        "DM", ("STUDYID", "USUBJID"),
        ig("DM", "STUDYID", "Protocol"), ig("DM", "DOMAIN", "Assigned"),
        ig("DM", "USUBJID", "Derived", method="MT.USUBJID"),
        ig("DM", "SUBJID", "Collected", "enrolment.csv SUBJID"),
        ig("DM", "RFSTDTC", "Derived", method="MT.RFSTDTC"),
        ig("DM", "SITEID", "Collected", "enrolment.csv SITEID"),
        ig("DM", "BRTHDTC", "Collected", "enrolment.csv BRTHDAT"),
        ig("DM", "AGE", "Collected", "enrolment.csv AGE"),
        ig("DM", "SEX", "Collected", "enrolment.csv SEX"),
        ig("DM", "RACE", "Assigned", comment=RACE_NOTE),
        ig("DM", "COUNTRY", "Collected", "enrolment.csv SITECTRY"),
    )
    ae = dataset(
        "AE", ("STUDYID", "USUBJID", "AEDECOD", "AESTDTC"),
        ig("AE", "STUDYID", "Protocol"), ig("AE", "DOMAIN", "Assigned"),
        ig("AE", "USUBJID", "Derived", method="MT.USUBJID"), ig("AE", "AESEQ", "Derived", method="MT.SEQ"),
        ig("AE", "AETERM", "Collected", "adverse_events.csv AETERM"),
        ig("AE", "AEDECOD", "Collected", "adverse_events.csv AEDECOD"),
        ig("AE", "AEPTCD", "Collected", "adverse_events.csv AEPTCD"),
        ig("AE", "AEBODSYS", "Collected", "adverse_events.csv AESOC"),
        ig("AE", "AESER", "Collected", "adverse_events.csv AESER"),
        ig("AE", "AETOXGR", "Collected", "adverse_events.csv AEGRADE"),
        ig("AE", "AESTDTC", "Collected", "adverse_events.csv AESTDAT"),
        ig("AE", "AESTDY", "Derived", method="MT.STUDYDAY"),
    )
    lb = dataset(
        "LB", ("STUDYID", "USUBJID", "LBTESTCD", "LBDTC"),
        ig("LB", "STUDYID", "Protocol"), ig("LB", "DOMAIN", "Assigned"),
        ig("LB", "USUBJID", "Derived", method="MT.USUBJID"), ig("LB", "LBSEQ", "Derived", method="MT.SEQ"),
        ig("LB", "LBTESTCD", "Assigned"), ig("LB", "LBTEST", "Assigned"),
        ig("LB", "LBORRES", "Collected", "laboratory.csv LBRES"),
        ig("LB", "LBORRESU", "Collected", "laboratory.csv LBUNIT"),
        ig("LB", "LBSTRESN", "Derived", method="MT.LBSTRESN"),
        ig("LB", "LBDTC", "Collected", "laboratory.csv LBDAT"),
    )
    supp = [ig("SUPPAE", n, o, method=m, model=SUPP_MODEL) for n, o, m in (
        ("STUDYID", "Protocol", ""), ("RDOMAIN", "Assigned", ""), ("USUBJID", "Derived", "MT.USUBJID"),
        ("IDVAR", "Assigned", ""), ("IDVARVAL", "Assigned", ""), ("QNAM", "Assigned", ""),
        ("QLABEL", "Assigned", ""), ("QVAL", "Collected", ""), ("QORIG", "Assigned", ""))]
    suppae = dataset("SUPPAE", ("STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM"), *supp,
                     model=SUPP_MODEL, label="Supplemental Qualifiers for AE")
    value_level = (
        ValueLevel("LB", "LBORRES", "LBTESTCD", "PLAT", "text", "Platelets", "10^6/L", "Collected", "",
                   source="laboratory.csv LBRES"),
        ValueLevel("LB", "LBORRES", "LBTESTCD", "HGB", "text", "Hemoglobin", "g/dL", "Collected", "",
                   source="laboratory.csv LBRES"),
        ValueLevel("LB", "LBSTRESN", "LBTESTCD", "PLAT", "float", "Platelets", "10^9/L", "Derived", "MT.LBSTRESN"),
        ValueLevel("LB", "LBSTRESN", "LBTESTCD", "HGB", "float", "Hemoglobin", "g/L", "Derived", "MT.LBSTRESN"),
        ValueLevel("SUPPAE", "QVAL", "QNAM", "GVHDTYPE", "text", "GVHD Type", "", "Collected", "",
                   source="adverse_events.csv GVHDTYPE"),
    )
    methods = {
        "MT.USUBJID": "USUBJID = STUDYID || '-' || SITEID || '-' || SUBJID.",
        "MT.RFSTDTC": "RFSTDTC = first lenalidomide dose (earliest EXSTDTC).",
        "MT.SEQ": "--SEQ = 1, 2, ... per USUBJID in key order.",
        "MT.STUDYDAY": "--DY = date - RFSTDTC + 1 on or after RFSTDTC, date - RFSTDTC before.",
        "MT.LBSTRESN": "LBSTRESN = numeric LBORRES x the unit conversion factor of the test.",
        "MT.UNUSED": "A method no written variable uses.",
    }
    return StudySpec(datasets={d.name: d for d in (dm, ae, lb, suppae)}, value_level=value_level,
                     methods=methods, parents={"SUPPAE": "AE"})


def mini_tables() -> dict[str, pd.DataFrame]:
    ids = ["REVALLO-01-001", "REVALLO-01-002"]
    return {
        "DM": pd.DataFrame({
            "STUDYID": ["REVALLO"] * 2, "DOMAIN": ["DM"] * 2, "USUBJID": ids, "SUBJID": ["001", "002"],
            "RFSTDTC": ["2011-10-03", "2011-10-14"], "SITEID": ["01", "01"],
            "BRTHDTC": ["1958-03-12", "1961-07-30"],  # complete here, but the CRF allows partial dates
            "AGE": [53.0, 50.0], "SEX": ["M", "F"], "RACE": ["NOT REPORTED"] * 2, "COUNTRY": ["FRA"] * 2,
        }),
        "AE": pd.DataFrame({
            "STUDYID": ["REVALLO"] * 2, "DOMAIN": ["AE"] * 2, "USUBJID": ids, "AESEQ": [1.0, 1.0],
            "AETERM": ["Neutropénie", "GVH aiguë digestive"],  # accents: the XPT writer makes them ASCII
            "AEDECOD": ["Neutropenia", "Acute graft versus host disease"],
            "AEPTCD": [10029354.0, 10066263.0], "AEBODSYS": ["Blood and lymphatic system disorders",
                                                              "Immune system disorders"],
            "AESER": ["N", "Y"], "AETOXGR": ["3", "4"],
            "AESTDTC": ["2011-11-14", "2011-12"],  # a partial onset date
            "AESTDY": [43.0, np.nan],
        }),
        "LB": pd.DataFrame({
            "STUDYID": ["REVALLO"] * 4, "DOMAIN": ["LB"] * 4, "USUBJID": [ids[0]] * 3 + [ids[1]],
            "LBSEQ": [1.0, 2.0, 3.0, 1.0],
            "LBTESTCD": ["PLAT", "HGB", "NEUT", "PLAT"],  # NEUT: no value-level entry in the specification
            "LBTEST": ["Platelets", "Hemoglobin", "Neutrophils", "Platelets"],
            "LBORRES": ["182000", "11.8", "2300", "<5000"],
            "LBORRESU": ["10^6/L", "g/dL", "10^6/L", "10^6/L"],
            "LBSTRESN": [182.0, 118.0, 2.3, np.nan],
            "LBDTC": ["2011-09-28"] * 3 + ["2011-10-13"],
        }),
        "SUPPAE": pd.DataFrame({
            "STUDYID": ["REVALLO"], "RDOMAIN": ["AE"], "USUBJID": [ids[1]], "IDVAR": ["AESEQ"], "IDVARVAL": ["1"],
            "QNAM": ["GVHDTYPE"], "QLABEL": ["GVHD Type"], "QVAL": ["ACUTE"], "QORIG": ["CRF"],
        }),
    }


STUDY = StudyInfo(study_id="REVALLO", name="REVALLO", description="Lenalidomide maintenance after allo-SCT",
                  protocol_name="CHUBX 2010/01 / NCT01421927", originator="University Hospital, Bordeaux",
                  meddra_versions=("17.0",), ctcae_version="3.0",
                  planned_kinds=planned_kinds(revallo_forms().values()))  # REVALLO's date columns


def write_package(out: Path, tables: dict[str, pd.DataFrame] | None = None, spec: StudySpec | None = None,
                  study: StudyInfo = STUDY) -> list[Finding]:
    """XPT files with the real writer, then define.xml (+ stylesheet + html) from their facts."""
    spec = spec or mini_spec()
    out.mkdir(parents=True, exist_ok=True)
    written: list[Finding] = []
    for name, table in (tables or mini_tables()).items():
        written += write_xpt(table, spec.dataset(name), out / f"{name.lower()}.xpt", CREATED)
    assert not [f for f in written if f.severity == "error"], written
    return write_define(spec, facts_from_package(out, spec, written), out, CREATED, study)


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Finding]]:
    out = tmp_path_factory.mktemp("sdtm")
    return out, write_package(out)


def load(out: Path) -> etree._Element:
    return etree.parse(str(out / DEFINE_FILE)).getroot()


def one(root: etree._Element, xpath: str) -> etree._Element:
    found = root.xpath(xpath, namespaces=NS)
    assert len(found) == 1, f"{xpath}: {len(found)} matches"
    return found[0]


def item(root: etree._Element, oid: str) -> etree._Element:
    return one(root, f"//odm:ItemDef[@OID='{oid}']")


def rules(findings: list[Finding]) -> list[tuple[str, str]]:
    return sorted((f.rule, f.location) for f in findings)


# ------------------------------------------------------------------------------------------ writer
def test_the_package_is_written_with_the_stylesheet_and_the_html_page_beside_it(package):
    out, findings = package
    assert (out / STYLESHEET_NAME).read_bytes() == (Path(__file__).parents[1] / "schemas" / "define-xml-2.1"
                                                    / "stylesheets" / STYLESHEET_NAME).read_bytes()
    assert (out / HTML_FILE).stat().st_size > 0
    head = (out / DEFINE_FILE).read_bytes()[:200]
    assert b'<?xml-stylesheet type="text/xsl" href="define2-1.xsl"?>' in head
    written = [f for f in findings if f.rule == "DEFINE-WRITTEN"]
    assert [w.values for w in written] == [("DM", "AE", "LB", "SUPPAE")]


def test_findings_of_the_writer_are_the_expected_ones(package):
    _, findings = package
    assert rules([f for f in findings if f.rule != "DEFINE-WRITTEN"]) == [
        ("DEFINE-VLM-UNSPECIFIED", "lb:LBORRES:LBTESTCD=NEUT"),   # NEUT is in the data, not in the spec
        ("DEFINE-VLM-UNSPECIFIED", "lb:LBSTRESN:LBTESTCD=NEUT"),
    ]


def test_the_output_is_valid_define_xml_2_1(package):
    out, _ = package
    assert validate_define(out / DEFINE_FILE) == []


def test_standards_name_sdtmig_3_4_and_the_ct_release(package):
    root = load(package[0])
    standards = [dict(s.attrib) for s in root.xpath("//def:Standard", namespaces=NS)]
    assert standards == [
        {"OID": "STD.SDTMIG", "Name": "SDTMIG", "Type": "IG", "Version": "3.4", "Status": "Final"},
        {"OID": "STD.CT.SDTM", "Name": "CDISC/NCI", "Type": "CT", "PublishingSet": "SDTM",
         "Version": "2025-03-28", "Status": "Final"},
    ]
    assert root.get("CreationDateTime") == "2014-10-31T17:05:09"
    assert root.get("{http://www.cdisc.org/ns/def/v2.1}Context") == "Submission"
    assert one(root, "//odm:GlobalVariables/odm:ProtocolName").text == "CHUBX 2010/01 / NCT01421927"


def test_one_item_group_per_dataset_with_class_structure_keys_and_leaf(package):
    root = load(package[0])
    groups = root.xpath("//odm:ItemGroupDef", namespaces=NS)
    assert [g.get("Name") for g in groups] == ["DM", "AE", "LB", "SUPPAE"]
    dm = groups[0]
    assert (dm.get("Repeating"), dm.get("Purpose"), dm.get("{%s}Structure" % NS["def"])) == (
        "No", "Tabulation", "One record per subject")
    assert one(dm, "def:Class").get("Name") == "SPECIAL PURPOSE"
    assert one(dm, "def:leaf").get("{%s}href" % NS["xlink"]) == "dm.xpt"
    assert one(dm, "odm:Description/odm:TranslatedText").text == "Demographics"
    keys = {r.get("ItemOID"): r.get("KeySequence") for r in groups[1].xpath("odm:ItemRef", namespaces=NS)}
    assert {k: v for k, v in keys.items() if v} == {"IT.AE.STUDYID": "1", "IT.AE.USUBJID": "2",
                                                      "IT.AE.AEDECOD": "3", "IT.AE.AESTDTC": "4"}
    supp = groups[3]
    assert (supp.get("Domain"), one(supp, "def:Class").get("Name")) == ("AE", "RELATIONSHIP")
    assert supp.get("{%s}IsNonStandard" % NS["def"]) is None  # SUPP-- datasets are standard (SDTMIG 8.4)
    assert one(supp, "odm:Alias").get("Name") == "Adverse Events"


def test_item_refs_carry_order_mandatory_role_and_method(package):
    root = load(package[0])
    ref = one(root, "//odm:ItemGroupDef[@Name='AE']/odm:ItemRef[@ItemOID='IT.AE.AESEQ']")
    assert dict(ref.attrib) == {"ItemOID": "IT.AE.AESEQ", "OrderNumber": "4", "Mandatory": "Yes",
                                "MethodOID": "MT.SEQ", "Role": "Identifier"}
    assert one(root, "//odm:MethodDef[@OID='MT.SEQ']").get("Type") == "Computation"
    assert not root.xpath("//odm:MethodDef[@OID='MT.UNUSED']", namespaces=NS)  # only methods in use


def test_char_length_is_the_xpt_length_and_numbers_get_digits(package):
    root = load(package[0])
    assert item(root, "IT.DM.USUBJID").get("Length") == "14"
    assert item(root, "IT.AE.AETERM").get("Length") == str(len("GVH aigue digestive"))  # as written, in ASCII
    age = item(root, "IT.DM.AGE")
    assert (age.get("DataType"), age.get("Length"), age.get("SignificantDigits")) == ("integer", "2", None)
    stresn = item(root, "IT.LB.LBSTRESN")
    assert (stresn.get("DataType"), stresn.get("Length"), stresn.get("SignificantDigits")) == ("float", "4", "1")


def test_iso_8601_variables_are_typed_by_their_planned_specificity(package):
    root = load(package[0])
    types = {oid: (item(root, oid).get("DataType"), item(root, oid).get("Length"))
             for oid in ("IT.DM.RFSTDTC", "IT.DM.BRTHDTC", "IT.AE.AESTDTC", "IT.LB.LBDTC")}
    assert types == {
        "IT.DM.RFSTDTC": ("date", None),        # complete dates, derived
        "IT.DM.BRTHDTC": ("partialDate", None),  # complete in the data, but the CRF allows partial dates
        "IT.AE.AESTDTC": ("partialDate", None),  # a partial date in the data
        "IT.LB.LBDTC": ("date", None),           # laboratory.csv LBDAT is a complete date
    }


def test_origins_name_the_source_form_and_column(package):
    root = load(package[0])
    sex = one(root, "//odm:ItemDef[@OID='IT.DM.SEX']/def:Origin")
    assert (sex.get("Type"), sex.get("Source")) == ("Collected", "Investigator")
    assert one(sex, "odm:Description/odm:TranslatedText").text == "CRF form enrolment.csv, column SEX"
    derived = one(root, "//odm:ItemDef[@OID='IT.DM.RFSTDTC']/def:Origin")
    assert dict(derived.attrib) == {"Type": "Derived", "Source": "Sponsor"}
    assert dict(one(root, "//odm:ItemDef[@OID='IT.DM.STUDYID']/def:Origin").attrib) == {
        "Type": "Protocol", "Source": "Sponsor"}


def test_codelists_list_the_terms_used_with_their_c_codes(package):
    root = load(package[0])
    sex = one(root, "//odm:CodeList[@OID='CL.SEX']")
    assert one(sex, "odm:Alias").get("Name") == "C66731"
    assert [(i.get("CodedValue"), one(i, "odm:Decode/odm:TranslatedText").text, one(i, "odm:Alias").get("Name"))
            for i in sex.xpath("odm:CodeListItem", namespaces=NS)] == [("F", "Female", "C16576"),
                                                                        ("M", "Male", "C20197")]
    race = one(root, "//odm:CodeList[@OID='CL.RACE']")  # decode = value up to case: EnumeratedItem
    assert [(i.get("CodedValue"), one(i, "odm:Alias").get("Name"))
            for i in race.xpath("odm:EnumeratedItem", namespaces=NS)] == [("NOT REPORTED", "C43234")]
    coded = root.xpath("//odm:CodeList[not(odm:ExternalCodeList)]"
                       "/*[self::odm:CodeListItem or self::odm:EnumeratedItem]", namespaces=NS)
    assert coded and all(i.xpath("odm:Alias[@Context='nci:ExtCodeID']", namespaces=NS) for i in coded)


def test_meddra_and_ctcae_are_external_dictionaries(package):
    root = load(package[0])
    refs = {oid: one(root, f"//odm:ItemDef[@OID='{oid}']/odm:CodeListRef").get("CodeListOID")
            for oid in ("IT.AE.AEDECOD", "IT.AE.AEBODSYS", "IT.AE.AEPTCD", "IT.AE.AETOXGR")}
    assert refs == {"IT.AE.AEDECOD": "CL.MEDDRA", "IT.AE.AEBODSYS": "CL.MEDDRA", "IT.AE.AEPTCD": "CL.MEDDRA.CODE",
                    "IT.AE.AETOXGR": "CL.CTCAE"}
    external = {c.get("OID"): dict(one(c, "odm:ExternalCodeList").attrib)
                for c in root.xpath("//odm:CodeList[odm:ExternalCodeList]", namespaces=NS)}
    assert external["CL.MEDDRA"]["Dictionary"] == "MedDRA" and external["CL.MEDDRA"]["Version"] == "17.0"
    assert (external["CL.CTCAE"]["Dictionary"], external["CL.CTCAE"]["Version"]) == ("CTCAE", "3.0")


def test_lb_results_are_described_for_every_lbtestcd_present(package):
    root = load(package[0])
    refs = root.xpath("//def:ValueListDef[@OID='VL.LB.LBORRES']/odm:ItemRef", namespaces=NS)
    assert [r.get("ItemOID") for r in refs] == ["IT.LB.LBORRES.PLAT", "IT.LB.LBORRES.HGB", "IT.LB.LBORRES.NEUT"]
    check = one(root, "//def:WhereClauseDef[@OID='WC.LB.LBTESTCD.HGB']/odm:RangeCheck")
    assert (check.get("Comparator"), check.get("{%s}ItemOID" % NS["def"]), one(check, "odm:CheckValue").text) == (
        "EQ", "IT.LB.LBTESTCD", "HGB")
    plat = item(root, "IT.LB.LBSTRESN.PLAT")
    assert (plat.get("DataType"), plat.get("Length"), plat.get("SignificantDigits")) == ("integer", "3", None)
    assert one(plat, "odm:Description/odm:TranslatedText").text == "Platelets (10^9/L)"
    assert one(root, "//def:ValueListDef[@OID='VL.LB.LBSTRESN']/odm:ItemRef[1]").get("MethodOID") == "MT.LBSTRESN"
    assert one(root, "//odm:ItemDef[@OID='IT.LB.LBORRES']/def:ValueListRef").get("ValueListOID") == "VL.LB.LBORRES"


def test_supp_qval_is_described_by_qnam(package):
    root = load(package[0])
    ref = one(root, "//def:ValueListDef[@OID='VL.SUPPAE.QVAL']/odm:ItemRef")
    assert one(ref, "def:WhereClauseRef").get("WhereClauseOID") == "WC.SUPPAE.QNAM.GVHDTYPE"
    qval = item(root, "IT.SUPPAE.QVAL.GVHDTYPE")
    assert (qval.get("Name"), qval.get("Length"), one(qval, "odm:Description/odm:TranslatedText").text) == (
        "QVAL", "5", "GVHD Type")


def test_comments_explain_ascii_transliteration_and_race(package):
    root = load(package[0])
    comments = {c.get("OID"): one(c, "odm:Description/odm:TranslatedText").text
                for c in root.xpath("//def:CommentDef", namespaces=NS)}
    assert item(root, "IT.AE.AETERM").get("{%s}CommentOID" % NS["def"]) == "COM.ASCII"
    assert "ASCII" in comments["COM.ASCII"]
    assert comments[item(root, "IT.DM.RACE").get("{%s}CommentOID" % NS["def"])] == RACE_NOTE


def test_same_inputs_give_the_same_bytes(tmp_path, package):
    write_package(tmp_path)
    for name in (DEFINE_FILE, HTML_FILE):
        assert (tmp_path / name).read_bytes() == (package[0] / name).read_bytes()


def test_an_unknown_dictionary_version_is_reported_not_invented(tmp_path):
    findings = write_package(tmp_path, study=StudyInfo("REVALLO", "REVALLO", "x", "x"))
    unknown = [f for f in findings if f.rule == "DEFINE-DICTIONARY-VERSION"]
    assert [(f.location, f.values) for f in unknown] == [
        ("ae:AEDECOD", ("ae:AEDECOD", "ae:AEPTCD", "ae:AEBODSYS")),  # one finding per dictionary
        ("ae:AETOXGR", ("ae:AETOXGR",)),
    ]
    root = load(tmp_path)  # only ISO 3166 (COUNTRY), whose edition does not depend on the study
    assert [e.get("Dictionary") for e in root.xpath("//odm:ExternalCodeList", namespaces=NS)] == ["ISO 3166-1 alpha-3"]
    assert validate_define(tmp_path / DEFINE_FILE) == []


def test_a_sponsor_term_in_an_extensible_codelist_is_flagged_extended(tmp_path):
    tables = mini_tables()
    tables["LB"].loc[2, "LBORRESU"] = "/mm3"  # not a CDISC Unit (C71620) submission value
    findings = write_package(tmp_path, tables)
    assert ("DEFINE-CT-EXTENDED", "CL.UNIT") in rules(findings)
    extended = one(load(tmp_path), "//odm:CodeList[@OID='CL.UNIT']/*[@CodedValue='/mm3']")
    assert extended.get("{%s}ExtendedValue" % NS["def"]) == "Yes" and not extended.xpath("odm:Alias", namespaces=NS)


def test_value_level_codelists_take_over_from_the_variable_codelist(tmp_path):
    spec = mini_spec()
    by_unit = (ValueLevel("LB", "LBORRESU", "LBTESTCD", "PLAT", "text", "Platelets unit", "", "Collected", "",
                          codelist="C71620", source="laboratory.csv LBUNIT"),)
    spec = replace(spec, value_level=spec.value_level + by_unit)
    assert rules([f for f in write_package(tmp_path, spec=spec) if f.severity != "info"]) == [
        ("DEFINE-VLM-UNSPECIFIED", "lb:LBORRES:LBTESTCD=NEUT"), ("DEFINE-VLM-UNSPECIFIED", "lb:LBORRESU:LBTESTCD=HGB"),
        ("DEFINE-VLM-UNSPECIFIED", "lb:LBORRESU:LBTESTCD=NEUT"),
        ("DEFINE-VLM-UNSPECIFIED", "lb:LBSTRESN:LBTESTCD=NEUT")]
    root = load(tmp_path)
    assert not root.xpath("//odm:ItemDef[@OID='IT.LB.LBORRESU']/odm:CodeListRef", namespaces=NS)  # the slices say
    assert one(root, "//odm:ItemDef[@OID='IT.LB.LBORRESU.PLAT']/odm:CodeListRef").get("CodeListOID") == "CL.UNIT"
    assert root.xpath("//odm:CodeList[@OID='CL.UNIT']/*/@CodedValue", namespaces=NS) == ["10^6/L"]
    assert check_define_against_data(tmp_path / DEFINE_FILE, tmp_path) == []


def test_study_info_comes_from_the_registry_and_the_meddra_versions_the_spec_points_to():
    registry = build_registry(13, (REVALLO_SITE,))
    mapping, _ = read_spec(REVALLO_SPEC)  # VERSION.MEDDRA = adverse_events.MEDDRAV: each coded record's version
    trial = Trial(Path("."), registry, {"adverse_events": pd.DataFrame({"MEDDRAV": ["17.0", "", "16.1"]})}, mapping)
    assert trial.meddra_versions() == ("16.1", "17.0")
    literal = replace(mapping, study=replace(mapping.study, extra={**mapping.study.extra, "VERSION.MEDDRA": "26.0"}))
    assert replace(trial, mapping=literal).meddra_versions() == ("26.0",)
    info = study_info(registry, trial.meddra_versions())
    assert (info.study_id, info.protocol_name, info.ctcae_version) == ("REVALLO", "CHUBX 2010/01 / NCT01421927", "3.0")
    assert (info.meddra_versions, info.meddra_version) == (("16.1", "17.0"), "17.0")


def test_facts_measure_decimals_and_dates_whole_columns():
    spec = mini_spec()
    facts = dataset_facts(mini_tables()["LB"], spec.dataset("LB"), spec, "lb.xpt")
    stresn = facts.variables["LBSTRESN"]
    assert (stresn.data_type, stresn.digits, stresn.decimals) == ("float", 4, 1)
    assert facts.variables["LBDTC"].data_type == "date"
    assert facts.value_level[("LBORRES", "LBTESTCD", "PLAT")].length == 6  # "182000", "<5000"
    assert facts.where_values("LBTESTCD") == ["HGB", "NEUT", "PLAT"]


# ------------------------------------------------------------------------------------ cross-checks
@pytest.fixture
def copy_of_package(package, tmp_path) -> Path:
    out = tmp_path / "sdtm"
    shutil.copytree(package[0], out)
    return out


def edit_define(out: Path, old: str, new: str) -> None:
    path = out / DEFINE_FILE
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_written_define_agrees_with_the_data(package):
    out, _ = package
    assert check_define_against_data(out / DEFINE_FILE, out) == []


def test_a_length_that_differs_from_the_xpt_length_is_reported(copy_of_package):
    edit_define(copy_of_package, 'Name="USUBJID" DataType="text" Length="14"',
                'Name="USUBJID" DataType="text" Length="20"')
    assert rules(check_define_against_data(copy_of_package / DEFINE_FILE, copy_of_package)) == [
        ("DEFINE-LENGTH", "dm:USUBJID")]


def test_a_label_that_differs_from_the_xpt_label_is_reported(copy_of_package):
    edit_define(copy_of_package, "<TranslatedText xml:lang=\"en\">Sex</TranslatedText>",
                "<TranslatedText xml:lang=\"en\">Gender</TranslatedText>")
    found = check_define_against_data(copy_of_package / DEFINE_FILE, copy_of_package)
    assert rules(found) == [("DEFINE-LABEL", "dm:SEX")]
    assert "'Gender'" in found[0].message and "'Sex'" in found[0].message


def test_a_variable_missing_from_define_is_reported(copy_of_package):
    edit_define(copy_of_package, '<ItemRef ItemOID="IT.DM.COUNTRY"', '<ItemRef ItemOID="IT.DM.NOSUCH"')
    assert rules(check_define_against_data(copy_of_package / DEFINE_FILE, copy_of_package)) == [
        ("DEFINE-ITEMDEF-MISSING", "dm"),                 # the ItemRef now points nowhere
        ("DEFINE-VARIABLE-NOT-IN-DEFINE", "dm:COUNTRY"),  # and dm.xpt's COUNTRY has no ItemRef
    ]


def test_a_ct_value_missing_from_its_codelist_is_reported(copy_of_package):
    edit_define(copy_of_package, '<CodeListItem CodedValue="F">', '<CodeListItem CodedValue="U">')
    found = check_define_against_data(copy_of_package / DEFINE_FILE, copy_of_package)
    assert rules(found) == [("DEFINE-CT-VALUE", "dm:SEX")]
    assert found[0].values == ("F",)


def test_a_value_level_entry_without_rows_and_a_key_without_entry_are_reported(copy_of_package):
    edit_define(copy_of_package, "<CheckValue>NEUT</CheckValue>", "<CheckValue>WBC</CheckValue>")
    assert rules(check_define_against_data(copy_of_package / DEFINE_FILE, copy_of_package)) == [
        ("DEFINE-VLM-NO-ROWS", "lb:LBORRES:LBTESTCD EQ WBC"),
        ("DEFINE-VLM-NO-ROWS", "lb:LBSTRESN:LBTESTCD EQ WBC"),
        ("DEFINE-VLM-UNCOVERED", "lb:LBORRES"),   # NEUT results are described by nothing now
        ("DEFINE-VLM-UNCOVERED", "lb:LBSTRESN"),
    ]


def test_a_data_file_that_changed_after_define_was_written_is_caught(copy_of_package):
    spec = mini_spec()
    table = mini_tables()["DM"]
    table.loc[1, "SEX"] = "U"       # a term the CodeList does not list
    table.loc[1, "SUBJID"] = "0002"  # one character longer than define.xml says
    write_xpt(table, spec.dataset("DM"), copy_of_package / "dm.xpt", CREATED)
    (copy_of_package / "ex.xpt").write_bytes((copy_of_package / "suppae.xpt").read_bytes())  # an undescribed file
    assert rules(check_define_against_data(copy_of_package / DEFINE_FILE, copy_of_package)) == [
        ("DEFINE-CT-VALUE", "dm:SEX"), ("DEFINE-DATASET-NOT-IN-DEFINE", "ex"), ("DEFINE-LENGTH", "dm:SUBJID")]


def test_a_missing_xpt_file_and_a_type_mismatch_are_reported(copy_of_package):
    (copy_of_package / "suppae.xpt").unlink()
    edit_define(copy_of_package, 'Name="AGE" DataType="integer"', 'Name="AGE" DataType="text"')
    assert rules(check_define_against_data(copy_of_package / DEFINE_FILE, copy_of_package)) == [
        ("DEFINE-TYPE", "dm:AGE"), ("DEFINE-XPT-MISSING", "suppae")]


def test_a_value_level_slice_declared_as_numbers_must_hold_numbers(copy_of_package):
    edit_define(copy_of_package, 'OID="IT.SUPPAE.QVAL.GVHDTYPE" Name="QVAL" DataType="text"',
                'OID="IT.SUPPAE.QVAL.GVHDTYPE" Name="QVAL" DataType="integer"')
    found = check_define_against_data(copy_of_package / DEFINE_FILE, copy_of_package)
    assert [(f.rule, f.location, f.values) for f in found] == [
        ("DEFINE-TYPE", "suppae:QVAL:QNAM EQ GVHDTYPE", ("ACUTE",))]


def test_what_the_specification_does_not_describe_is_reported_not_invented():
    spec = mini_spec()
    dm_spec = spec.dataset("DM")
    no_method = tuple(replace(v, method="") if v.name == "RFSTDTC" else v for v in dm_spec.variables)
    spec = replace(spec, datasets={**spec.datasets, "DM": replace(dm_spec, variables=no_method)})
    dm = mini_tables()["DM"].drop(columns=["COUNTRY"]).assign(EXTRA="x")  # one missing, one unknown column
    facts = {"DM": dataset_facts(dm, spec.dataset("DM"), spec, "dm.xpt"),
             "XX": dataset_facts(dm, spec.dataset("DM"), spec, "xx.xpt")}
    plan = plan_define(spec, facts, STUDY)
    assert rules(plan.findings) == [
        ("DEFINE-DATASET-NOT-IN-SPEC", "xx"),
        ("DEFINE-METHOD-MISSING", "dm:RFSTDTC"),          # Derived, but no MethodDef to point to
        ("DEFINE-VARIABLE-NOT-IN-SPEC", "dm:EXTRA"),
        ("DEFINE-VARIABLE-NOT-WRITTEN", "dm:COUNTRY"),
    ]
    assert [g.dataset.name for g in plan.groups] == ["DM"]
    assert "IT.DM.EXTRA" not in plan.items and "IT.DM.COUNTRY" not in plan.items
