"""PRS protocol record XML: the real PRS examples pass the schema check and fail it when broken; every real
registry record gives a PRS record valid against both ProtocolRecordSchema.xsd copies; the round trip
record -> model -> PRS keeps every fact the PRS record can hold (each held field's value is in the XML)
and lists the others."""
from pathlib import Path

import pytest
from lxml import etree

from trialbridge.converters.prs_writer import check_prs, prs_bytes, write_prs
from trialbridge.converters.readers.registry import read_file
from trialbridge.mappings import prs_codes
from trialbridge.mappings.prs import leaf_paths, not_held, prs_study
from trialbridge.mappings.prs_codes import HELD

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = sorted((FIXTURES / "prs").glob("*.xml"))
REAL = (sorted((FIXTURES / "registry").glob("NCT*")) + sorted((FIXTURES / "ctgov").glob("NCT*.json"))
        + sorted((FIXTURES / "registry-pair").glob("NCT00023673.*")))
DISPLAY = [v for v in vars(prs_codes).values() if isinstance(v, dict)]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_real_prs_examples_pass_the_schema_check(path):
    assert check_prs(etree.parse(str(path)).getroot(), path.name) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_broken_prs_examples_fail_it(path):
    root = etree.parse(str(path)).getroot()
    study = root.find("clinical_study")
    study.insert(study.index(study.find("acronym")) + 1, etree.Element("not_a_prs_element"))
    assert {f.rule for f in check_prs(root, path.name)} == {"PRS-SCHEMA"}
    root = etree.parse(str(path)).getroot()
    design = root.find("clinical_study/study_design")
    design.remove(design.find("study_type"))  # study_type is required in study_design
    assert any("study_type" in f.message for f in check_prs(root, path.name))


def records():
    return [r for path in REAL for r in read_file(path).records]


@pytest.mark.parametrize("record", records(), ids=lambda r: r.nct_id)
def test_every_real_record_gives_a_valid_prs_record(record, tmp_path):
    findings = write_prs(record, tmp_path / "prs" / f"{record.nct_id}.xml")
    assert [f for f in findings if f.rule == "PRS-SCHEMA"] == []
    assert (tmp_path / "prs" / f"{record.nct_id}.xml").read_bytes().startswith(b"<?xml version='1.0' encoding='UTF-8'?>")


def _candidates(value) -> set[str]:
    """The texts a registry value may take in PRS: as it is, its display text, Yes/No, the phase text."""
    if isinstance(value, bool):
        return {"Yes" if value else "No"}
    text = str(value)
    found = {text} | {table[value] for table in DISPLAY if isinstance(value, str) and value in table}
    found |= {prs_codes.PHASE[key] for key in prs_codes.PHASE if text in key}
    found |= {"Anticipated"} if text == "ESTIMATED" else {"Actual"} if text == "ACTUAL" else set()
    if text in ("PARTICIPANT", "CARE_PROVIDER", "INVESTIGATOR", "OUTCOMES_ASSESSOR", "STUDY_PROTOCOL", "SAP", "ICF",
                "CSR", "ANALYTIC_CODE", "RESULT", "BACKGROUND", "DERIVED", "SINGLE", "DOUBLE", "TRIPLE", "QUADRUPLE",
                "NONE"):
        found |= {"Yes", "No"}  # a masked_* / no_masking / ipd_info_type_* / is_results_ref flag
    if text == "CONTACT":
        found |= {"contact"}  # the site contact element itself says the role
    return found


def _values(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _values(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for value in node:
            yield from _values(value, f"{path}[]")
    elif node not in (None, ""):
        yield path, node


@pytest.mark.parametrize("record", records(), ids=lambda r: r.nct_id)
def test_round_trip_keeps_every_fact_prs_can_hold(record):
    root, omitted = prs_study(record.record)
    texts = [t.strip() for t in root.itertext() if t.strip()] + [e.tag for e in root.iter() if isinstance(e.tag, str)]
    left_out = {element.split("/")[-1] for element, _ in omitted}
    missing = []
    for path, value in _values(record.record):
        if path not in HELD or path.endswith("interventionNames[]"):  # arm -> intervention links: held by the interventions
            continue
        if any(part in path for part in ("designInfo", "bioSpec")) and left_out & {"interventional_design", "observational_design"}:
            continue  # the design element was left out (reported as PRS-OMITTED)
        if ("responsibleParty" in path and "resp_party" in left_out) or (path.endswith("overallStatus") and
                                                                           "overall_status UNKNOWN" in left_out):
            continue
        if not any(c == t or (len(c) > 3 and c in t) for c in _candidates(value) for t in texts):
            missing.append((path, value))
    assert missing == []


def test_what_prs_cannot_hold_is_listed():
    record = read_file(FIXTURES / "ctgov" / "NCT04207047.json").records[0]
    unheld = not_held(record.record)
    assert "protocolSection.identificationModule.nctId" in unheld
    assert "protocolSection.statusModule.studyFirstSubmitDate" in unheld
    assert not set(unheld) & HELD
    assert set(unheld) | (set(leaf_paths(record.record)) & HELD) | {"hasResults"} >= set(leaf_paths(record.record))


def test_missing_required_facts_leave_their_element_out_and_say_so():
    record = {"protocolSection": {"identificationModule": {"nctId": "NCT00000001", "briefTitle": "T"},
                                  "designModule": {"studyType": "INTERVENTIONAL", "phases": ["PHASE2"]},
                                  "eligibilityModule": {"eligibilityCriteria": "Inclusion Criteria:\n* adults"}}}
    root, omitted = prs_study(record)
    assert omitted == [("sponsors", "sponsorCollaboratorsModule.leadSponsor.name"),
                       ("study_design/interventional_design", "designModule.designInfo.primaryPurpose, designModule.designInfo.allocation"),
                       ("eligibility", "eligibilityModule.sex")]
    assert root.find("clinical_study/id_info/org_study_id").text == "NCT00000001"  # no sponsor id: the NCT number
    assert check_prs(root, "t.xml") == []


def test_prs_bytes_are_deterministic():
    record = read_file(FIXTURES / "registry" / "NCT03840122.xml").records[0]
    assert prs_bytes(record)[0] == prs_bytes(record)[0]
