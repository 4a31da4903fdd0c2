"""define.xml as a reviewer reads it (REVALLO): Define-XML 2.1 origins, external dictionaries, sponsor-defined
codelists, TSVAL value-level metadata, annotated CRF pages and the reviewer's guide; still valid against the XSD."""
from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from lxml import etree

from trialbridge.converters.cli import main
from trialbridge.converters.define.writer import build_define, plan_define, study_info, trial_study_info
from trialbridge.converters.define.facts import facts_from_package
from trialbridge.converters.native_reader import read_native
from trialbridge.schemas.define_checks import check_define_against_data, define_schema
from revallo_domains import study_spec

REVALLO = Path(__file__).resolve().parents[1] / "examples" / "revallo"
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1",
      "xlink": "http://www.w3.org/1999/xlink"}


@pytest.fixture(scope="module")
def sdtm(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("define") / "out"
    assert main(["convert", str(REVALLO), "--out", str(out), "--fhir", "none", "--format", "json"]) in (0, 1)
    return out / "sdtm"


@pytest.fixture(scope="module")
def root(sdtm) -> etree._Element:
    return etree.parse(str(sdtm / "define.xml")).getroot()


def origin(root, oid: str) -> tuple[str, str | None, str]:
    element = root.find(f".//odm:ItemDef[@OID='{oid}']/def:Origin", NS)
    return element.get("Type"), element.get("Source"), element.findtext("odm:Description/odm:TranslatedText", "", NS)


def test_dictionary_coded_terms_are_assigned_with_the_dictionary_version(root):
    for oid in ("IT.AE.AEDECOD", "IT.AE.AELLT", "IT.AE.AEPTCD", "IT.AE.AESOC", "IT.AE.AEBODSYS"):
        assert origin(root, oid) == ("Assigned", "Sponsor", "Coded with MedDRA 17.0"), oid
    assert origin(root, "IT.AE.AETERM")[0] == "Collected"  # the verbatim term is what was collected
    meddra = root.findall(".//odm:ExternalCodeList[@Dictionary='MedDRA']", NS)
    assert meddra and {e.get("Version") for e in meddra} == {"17.0"}


def test_a_copied_value_is_a_predecessor_naming_its_source(root):
    assert origin(root, "IT.DM.RFSTDTC") == ("Predecessor", None, "DM.RFXSTDTC")
    assert origin(root, "IT.DM.RFENDTC") == ("Predecessor", None, "DM.RFXENDTC")
    assert origin(root, "IT.DM.RFXSTDTC")[0] == "Derived"
    assert origin(root, "IT.DM.SEX") == ("Collected", "Investigator", "CRF form enrolment.csv, column SEX")


def test_country_has_the_iso_3166_external_codelist(root):
    ref = root.find(".//odm:ItemDef[@OID='IT.DM.COUNTRY']/odm:CodeListRef", NS).get("CodeListOID")
    external = root.find(f".//odm:CodeList[@OID='{ref}']/odm:ExternalCodeList", NS)
    assert (external.get("Dictionary"), external.get("Version")) == ("ISO 3166-1 alpha-3", "2020")


def test_aerel_has_a_codelist_of_the_study_terms(root):
    ref = root.find(".//odm:ItemDef[@OID='IT.AE.AEREL']/odm:CodeListRef", NS).get("CodeListOID")
    codelist = root.find(f".//odm:CodeList[@OID='{ref}']", NS)
    values = [i.get("CodedValue") for i in codelist.findall("odm:EnumeratedItem", NS)]
    assert "RELATED" in values and "NOT RELATED" in values
    assert codelist.get("{%s}StandardOID" % NS["def"]) is None and codelist.find("odm:Alias", NS) is None


def test_every_controlled_variable_with_values_has_a_codelist(root, sdtm):
    import pyreadstat

    spec = study_spec()
    for name, dataset in spec.datasets.items():
        if not (sdtm / f"{name.lower()}.xpt").is_file():
            continue
        table, _ = pyreadstat.read_xport(str(sdtm / f"{name.lower()}.xpt"))
        for variable in dataset.variables:
            item = root.find(f".//odm:ItemDef[@OID='IT.{name}.{variable.name}']", NS)
            if item is None or not (variable.codelist or variable.sponsor_terms):
                continue
            if not (table[variable.name].astype(str).str.strip() != "").any():
                continue  # no value, no term to list (e.g. ARMNRS when every subject was treated)
            if variable.name.endswith(("ORRES", "STRESC")):
                continue  # a result's codelist governs qualitative results only (numbers are not terms)
            sliced = item.find("def:ValueListRef", NS) is not None
            assert item.find("odm:CodeListRef", NS) is not None or sliced, f"{name}.{variable.name}"


def test_tsval_is_described_per_parameter(root, sdtm):
    refs = root.findall(".//def:ValueListDef[@OID='VL.TS.TSVAL']/odm:ItemRef", NS)
    assert len(refs) >= 40
    ttype = root.find(".//odm:ItemDef[@OID='IT.TS.TSVAL.TTYPE']", NS)
    assert ttype.find("odm:CodeListRef", NS).get("CodeListOID") == "CL.TTYPE"
    assert ttype.findtext("odm:Description/odm:TranslatedText", "", NS) == "Trial Type"
    sstdtc = root.find(".//odm:ItemDef[@OID='IT.TS.TSVAL.SSTDTC']", NS)
    assert sstdtc.get("DataType") in ("date", "partialDate") and sstdtc.find("def:Origin", NS).get("Type") == "Derived"
    method = [r.get("MethodOID") for r in refs if r.get("ItemOID") == "IT.TS.TSVAL.SSTDTC"]
    assert method == ["MT.SSTDTC"]
    assert root.find(".//odm:ItemDef[@OID='IT.TS.TSVAL.AGEMIN']", NS).get("DataType") == "durationDatetime"


def test_crf_pages_and_the_reviewers_guide_are_referenced_and_valid(sdtm):
    """When the specification names annotated CRF pages, the Collected origin points into acrf.pdf."""
    spec = study_spec()
    dm = spec.dataset("DM")
    sex = replace(dm.variable("SEX"), pages="12 13")
    spec = replace(spec, datasets={**spec.datasets, "DM": replace(dm, variables=tuple(
        sex if v.name == "SEX" else v for v in dm.variables))})
    trial, _ = read_native(REVALLO)
    plan = plan_define(spec, facts_from_package(sdtm, spec), trial_study_info(trial),
                       reviewers_guide="csdrg.html")
    tree = build_define(plan, datetime(2015, 7, 23), study_info(trial.registry))
    root = tree.getroot()
    page = root.find(".//odm:ItemDef[@OID='IT.DM.SEX']/def:Origin/def:DocumentRef/def:PDFPageRef", NS)
    assert (page.get("PageRefs"), page.get("Type")) == ("12 13", "PhysicalRef")
    assert root.find(".//def:AnnotatedCRF/def:DocumentRef", NS).get("leafID") == "LF.acrf"
    assert root.find(".//def:SupplementalDoc/def:DocumentRef", NS).get("leafID") == "LF.csdrg"
    leaves = {leaf.get("ID"): leaf.get("{%s}href" % NS["xlink"]) for leaf in root.findall("odm:Study/odm:MetaDataVersion/def:leaf", NS)}
    assert leaves == {"LF.acrf": "acrf.pdf", "LF.csdrg": "csdrg.html"}
    schema = define_schema()
    assert schema.validate(tree), schema.error_log


def test_no_pages_no_annotated_crf(root):
    assert root.find(".//def:AnnotatedCRF", NS) is None  # REVALLO's specification names no CRF pages


def test_procedures_and_death_details_are_described_with_their_cdisc_codelists(root, sdtm):
    groups = [g.get("Name") for g in root.findall(".//odm:ItemGroupDef", NS)]
    assert {"PR", "DD", "SUPPPR"} <= set(groups) and (sdtm / "pr.xpt").is_file() and (sdtm / "dd.xpt").is_file()
    terms = {}
    for oid in ("IT.PR.PRDECOD", "IT.DD.DDTESTCD", "IT.PR.PRENRTPT"):
        ref = root.find(f".//odm:ItemDef[@OID='{oid}']/odm:CodeListRef", NS).get("CodeListOID")
        codelist = root.find(f".//odm:CodeList[@OID='{ref}']", NS)
        terms[oid] = (codelist.find("odm:Alias", NS).get("Name"),
                      [i.get("CodedValue") for i in codelist if i.get("CodedValue")])
    assert terms["IT.PR.PRDECOD"] == ("C101858", ["ALLOGENEIC STEM CELL TRANSPLANT"])
    assert terms["IT.DD.DDTESTCD"] == ("C116108", ["PRCDTH"])
    assert terms["IT.PR.PRENRTPT"][0] == "C66728" and "BEFORE" in terms["IT.PR.PRENRTPT"][1]  # shared with AEENRTPT
    assert origin(root, "IT.DD.DDSTRESC") == ("Predecessor", None, "DD.DDORRES")
    donor = root.findall(".//def:ValueListDef[@OID='VL.SUPPPR.QVAL']/odm:ItemRef", NS)
    assert [r.get("ItemOID") for r in donor] == ["IT.SUPPPR.QVAL.DONOR", "IT.SUPPPR.QVAL.HLAMATCH"]


def test_prtrt_has_a_value_level_origin_per_record_kind(root, sdtm):
    """PRTRT: the conditioning regimen is collected verbatim, the transplant is the procedure the protocol
    names; one ValueListDef with an entry per key variable (PRSCAT, PRDECOD) covers every PR record."""
    refs = root.findall(".//def:ValueListDef[@OID='VL.PR.PRTRT']/odm:ItemRef", NS)
    assert [(r.get("ItemOID"), r.get("OrderNumber")) for r in refs] == [
        ("IT.PR.PRTRT.PRSCAT.REDUCED-INTENSITY_CONDITIONING", "1"),
        ("IT.PR.PRTRT.PRDECOD.ALLOGENEIC_STEM_CELL_TRANSPLANT", "2")]
    assert origin(root, "IT.PR.PRTRT.PRSCAT.REDUCED-INTENSITY_CONDITIONING") == (
        "Collected", "Investigator", "CRF form enrolment.csv, column CONDIT")
    assert origin(root, "IT.PR.PRTRT.PRDECOD.ALLOGENEIC_STEM_CELL_TRANSPLANT")[:2] == ("Protocol", "Sponsor")
    assert root.find(".//odm:ItemDef[@OID='IT.PR.PRTRT']/def:ValueListRef", NS).get("ValueListOID") == "VL.PR.PRTRT"
    assert check_define_against_data(sdtm / "define.xml", sdtm) == []  # every PR row is described, none twice


def test_loinc_is_an_external_codelist_only_with_the_release_the_spec_states(tmp_path, sdtm, root):
    assert root.find(".//odm:ExternalCodeList[@Dictionary='LOINC']", NS) is None  # REVALLO's spec states none
    assert root.find(".//odm:ItemDef[@OID='IT.LB.LBLOINC']/odm:CodeListRef", NS) is None
    study = tmp_path / "revallo"
    shutil.copytree(REVALLO, study)
    with (study / "spec" / "study.csv").open("a", encoding="utf-8") as handle:
        handle.write("VERSION.LOINC,2.78\n")
    trial, _ = read_native(study)
    info = trial_study_info(trial)
    assert info.loinc_version == "2.78"
    spec = study_spec()
    plan = plan_define(spec, facts_from_package(sdtm, spec), info)
    assert not [f for f in plan.findings if f.rule == "DEFINE-DICTIONARY-VERSION"]
    tree = build_define(plan, datetime(2015, 7, 23), info)
    loinc = tree.getroot().find(".//odm:CodeList[@OID='CL.LOINC']", NS)
    external = loinc.find("odm:ExternalCodeList", NS)
    assert (external.get("Dictionary"), external.get("Version"), external.get("href")) == (
        "LOINC", "2.78", "https://loinc.org/")
    for oid in ("IT.LB.LBLOINC", "IT.CP.CPLOINC"):
        assert tree.getroot().find(f".//odm:ItemDef[@OID='{oid}']/odm:CodeListRef", NS).get("CodeListOID") == "CL.LOINC"
    schema = define_schema()
    assert schema.validate(tree), schema.error_log


def test_without_a_loinc_release_a_finding_names_the_variables(sdtm):
    trial, _ = read_native(REVALLO)
    spec = study_spec()
    plan = plan_define(spec, facts_from_package(sdtm, spec), trial_study_info(trial))
    missing = [f for f in plan.findings if f.rule == "DEFINE-DICTIONARY-VERSION"]
    assert [(f.location, f.values) for f in missing] == [("lb:LBLOINC", ("lb:LBLOINC", "cp:CPLOINC"))]
    assert "VERSION.LOINC" in missing[0].hint
