"""TI in a study conversion (SDTMIG 3.4 Trial Inclusion/Exclusion Criteria): the spec's `registry_ti` step
turns the registry record's eligibility text into one TI record per criterion, under the study's STUDYID;
a criterion longer than IETEST allows keeps its full text in define.xml (TI assumption 4)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from lxml import etree

from trialbridge.converters.cli import main
from trialbridge.converters.native_reader import read_native
from trialbridge.converters.readers.spec_files import read_spec
from trialbridge.converters.sdtm_package import map_sdtm
from trialbridge.converters.xpt.files import read_xpt
from trialbridge.mappings.sdtm.ti import criteria_rows

ROOT = Path(__file__).resolve().parents[1]
REVALLO = ROOT / "examples" / "revallo"
ODM = "{http://www.cdisc.org/ns/odm/v1.3}"
DEF = "{http://www.cdisc.org/ns/def/v2.1}"


@pytest.fixture(scope="module")
def revallo_ti():
    trial, findings = read_native(REVALLO)
    assert trial is not None, findings
    return map_sdtm(trial).tables["TI"], trial.registry


def test_each_registry_criterion_is_one_ti_record_of_the_study(revallo_ti):
    ti, registry = revallo_ti
    expected = {(code, category) for code, _, category, _ in criteria_rows(registry)}
    assert set(zip(ti["IETESTCD"], ti["IECAT"])) == expected
    assert len(ti) == len(expected) == 20                                 # 7 inclusion + 13 exclusion criteria
    assert set(ti["STUDYID"]) == {"REVALLO"} and set(ti["DOMAIN"]) == {"TI"}
    incl01 = ti.loc[ti["IETESTCD"] == "INCL01", "IETEST"].item()
    assert incl01 == "Patients aged 18 to 65 years"
    assert ti["IETEST"].str.len().max() <= 200


def test_a_spec_without_metadata_tables_infers_ti_from_the_step(tmp_path):
    spec = tmp_path / "spec"
    shutil.copytree(REVALLO / "spec", spec)
    (spec / "datasets.csv").unlink()
    (spec / "variables.csv").unlink()
    mapping, findings = read_spec(spec)
    assert mapping is not None, [f.message for f in findings]
    ti = mapping.sdtm.dataset("TI")
    assert ti.keys == ("STUDYID", "IETESTCD")
    assert [v.name for v in ti.variables] == ["STUDYID", "DOMAIN", "IETESTCD", "IETEST", "IECAT"]
    assert ti.variable("IETESTCD").origin == "Derived" and ti.variable("IETESTCD").method in mapping.sdtm.methods
    assert ti.variable("IECAT").origin == "Protocol"


def test_a_long_criterion_is_shortened_in_ti_and_whole_in_define_xml(tmp_path):
    study = tmp_path / "study"
    shutil.copytree(REVALLO, study)
    registry = json.loads((study / "registry.json").read_text(encoding="utf-8"))
    eligibility = registry["protocolSection"]["eligibilityModule"]
    long_criterion = ("Adequate organ function defined as " + ", ".join(
        f"laboratory value number {n} within the limits the protocol appendix gives" for n in range(1, 7)))
    assert len(long_criterion) > 200
    eligibility["eligibilityCriteria"] = eligibility["eligibilityCriteria"].replace(
        "* Insured under Social Security", f"* {long_criterion}\n* Insured under Social Security")
    (study / "registry.json").write_text(json.dumps(registry), encoding="utf-8")

    assert main(["convert", str(study), "--out", str(tmp_path / "out"), "--fhir", "none"]) == 0

    ti, _ = read_xpt(tmp_path / "out" / "sdtm" / "ti.xpt")
    shortened = ti.loc[ti["IETEST"].str.startswith("Adequate organ function"), "IETEST"].item()
    assert len(shortened) <= 200 and shortened.endswith("...")
    define = etree.parse(str(tmp_path / "out" / "sdtm" / "define.xml"))
    ietest = define.find(f".//{ODM}ItemDef[@OID='IT.TI.IETEST']")
    comment = define.find(f".//{DEF}CommentDef[@OID='{ietest.get(DEF + 'CommentOID')}']")
    assert long_criterion in "".join(comment.itertext())
