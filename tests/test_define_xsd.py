"""define.xml against the official Define-XML 2.1 schema set, offline: line and reason for every error."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from lxml import etree

from test_define import write_package
from trialbridge.converters.define.writer import DEFINE_FILE
from trialbridge.schemas.define_checks import check_define_against_data, check_define_package
from trialbridge.schemas.define_schema import DEFINE_DIR, define_schema, no_network_parser, validate_define

STANDARDS = Path(__file__).resolve().parents[2] / "shared" / "standards"
CDISC_EXAMPLES = STANDARDS / "define-xml-2.1" / "examples"
MSG_DEFINE = STANDARDS / "examples" / "sdtm-msg-v2.0" / "define.xml"
needs_standards = pytest.mark.skipif(
    not STANDARDS.is_dir(), reason=f"the offline CDISC standards snapshot ({STANDARDS}) is not on this machine")


def rules(findings) -> list[tuple[str, str]]:
    return sorted((f.rule, f.location) for f in findings)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sdtm")
    write_package(out)
    return out / DEFINE_FILE


def test_the_written_define_is_valid(written):
    assert validate_define(written) == []


def test_a_wrong_enumeration_is_reported_with_its_line_and_reason(written, tmp_path):
    lines = written.read_text(encoding="utf-8").splitlines(keepends=True)
    line = next(n for n, text in enumerate(lines, start=1) if 'Name="SDTMIG"' in text)
    lines[line - 1] = lines[line - 1].replace('Name="SDTMIG"', 'Name="SDTM-IG"')  # not a StandardName term
    broken = tmp_path / DEFINE_FILE
    broken.write_text("".join(lines), encoding="utf-8")
    found = validate_define(broken)
    assert rules(found) == [("DEFINE-XSD", f"define.xml:{line}")]
    assert "def:Standard" in found[0].message and "'SDTM-IG'" in found[0].message and "enumeration" in found[0].message


def test_a_missing_required_attribute_is_reported(written, tmp_path):
    broken = tmp_path / DEFINE_FILE
    broken.write_text(written.read_text(encoding="utf-8").replace(' def:Structure="One record per subject"', "", 1),
                      encoding="utf-8")
    found = validate_define(broken)
    assert [f.rule for f in found] == ["DEFINE-XSD"] and "def:Structure" in found[0].message


def test_text_that_is_not_xml_is_reported_with_its_line(tmp_path):
    broken = tmp_path / DEFINE_FILE
    broken.write_text('<?xml version="1.0"?>\n<ODM>\n  <Study>\n</ODM>\n', encoding="utf-8")
    assert rules(validate_define(broken)) == [("DEFINE-XML-SYNTAX", "define.xml:4")]


def test_the_parser_never_reaches_the_network(tmp_path):
    schema = tmp_path / "remote.xsd"
    schema.write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        '<xs:import namespace="urn:x" schemaLocation="http://www.example.org/x.xsd"/></xs:schema>', encoding="utf-8")
    with pytest.raises(etree.XMLSchemaParseError) as refused:
        etree.XMLSchema(etree.parse(str(schema), no_network_parser()))
    assert "http://www.example.org/x.xsd" in str(refused.value)
    # the packaged schema set is complete: loading it needs no other file
    assert define_schema() is not None and define_schema(with_arm=True) is not None


def test_a_folder_holding_a_define_is_checked_whole(written):
    assert check_define_package(written.parent) == []
    assert [f.rule for f in check_define_package(written.parent / "nothing-here")] == ["DEFINE-NOT-FOUND"]


@needs_standards
def test_the_packaged_schema_set_is_the_official_one_unmodified():
    manifest = dict(
        reversed(line.split("  ./", 1)) for line in (STANDARDS / "MANIFEST.sha256").read_text().splitlines()
        if "define-xml-2.1/schema/" in line or "define-xml-2.1/stylesheets/" in line
    )
    ours = {f"define-xml-2.1/{p.relative_to(DEFINE_DIR).as_posix()}": hashlib.sha256(p.read_bytes()).hexdigest()
            for p in DEFINE_DIR.rglob("*") if p.is_file()}
    assert ours == manifest


@needs_standards
@pytest.mark.parametrize("example", ["DefineXML-2-1-SDTM/defineV21-SDTM.xml",
                                     "Define-XML-2-1-ADaM/adam/defineV21-ADaM.xml"])
def test_the_cdisc_examples_are_valid(example):
    assert validate_define(CDISC_EXAMPLES / example) == []


@needs_standards
def test_the_msg_sample_define_is_invalid_for_its_stdtmig_typo():
    found = validate_define(MSG_DEFINE)
    assert rules(found) == [("DEFINE-XSD", "define.xml:63")]
    assert "'STDTMIG' is not an element of the set" in found[0].message


# ------------------------------------------------------------------ studies through the real mappings
PIPELINE_ORDER = ("ex", "dm", "ds", "ae", "rs", "lb", "ts")  # the SDTM contract's mapping order, SUPP-- last


def convert_to_sdtm(native: Path, out: Path) -> list:
    """Native folder -> XPT files (every domain mapping, SUPP-- per parent) -> define.xml; the findings."""
    import importlib

    import pandas as pd

    from trialbridge.converters.define.writer import write_define_package
    from trialbridge.converters.pipeline import read_study as read_native
    from trialbridge.converters.xpt.files import write_xpt
    from revallo_domains import study_spec

    trial, read = read_native(native)
    assert trial is not None, [f for f in read if f.severity == "error"][:3]
    from trialbridge.converters.sdtm_package import map_sdtm

    spec, tables = study_spec(), map_sdtm(trial).tables
    out.mkdir(parents=True)
    written = [f for name, table in tables.items() if len(table)
               for f in write_xpt(table, spec.dataset(name), out / f"{name.lower()}.xpt", CREATED_AT)]
    return written + write_define_package(out, spec, trial, CREATED_AT, written)


CREATED_AT = __import__("datetime").datetime(2014, 10, 31, 17, 5, 9)


def test_the_define_of_the_hand_written_study_is_valid_and_agrees_with_its_data(native_folder, tmp_path):
    out = tmp_path / "sdtm"
    findings = convert_to_sdtm(native_folder.path, out)
    assert [f for f in findings if f.rule.startswith("DEFINE") and f.severity == "error"] == []
    assert validate_define(out / DEFINE_FILE) == []
    # the one disagreement is real: subject 002's GVHD is not MedDRA-coded, and AEDECOD is Req (Mandatory)
    assert rules(check_define_against_data(out / DEFINE_FILE, out)) == [("DEFINE-MANDATORY-NULL", "ae:AEDECOD")]


def test_the_define_of_a_generated_study_is_valid_and_agrees_with_its_data(tmp_path):
    from trialbridge.converters.synth.generator import write_synthetic

    native = tmp_path / "native"
    native.mkdir()
    write_synthetic(native, 40, seed=11)
    out = tmp_path / "sdtm"
    findings = convert_to_sdtm(native, out)
    assert [f for f in findings if f.rule.startswith("DEFINE") and f.severity == "error"] == []
    assert validate_define(out / DEFINE_FILE) == []
    assert check_define_against_data(out / DEFINE_FILE, out) == []
