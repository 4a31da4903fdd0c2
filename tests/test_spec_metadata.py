"""A spec with only study, sources and mappings: the SDTM metadata (datasets, variables, origins, methods,
keys) is inferred from what each mapping step does, by the Define-XML 2.1 origin rules."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from trialbridge.converters.readers.spec_files import read_spec

REVALLO_SPEC = Path(__file__).resolve().parents[1] / "converters" / "synth" / "revallo_spec"


@pytest.fixture(scope="module")
def revallo_pair(tmp_path_factory):
    """REVALLO's spec as written, and the same spec without its datasets and variables tables."""
    written, _ = read_spec(REVALLO_SPEC)
    short = tmp_path_factory.mktemp("short") / "spec"
    shutil.copytree(REVALLO_SPEC, short)
    (short / "datasets.csv").unlink()
    (short / "variables.csv").unlink()
    inferred, findings = read_spec(short)
    assert inferred is not None, [f.message for f in findings]
    return written, inferred


def test_every_mapped_dataset_gets_exactly_the_variables_the_hand_written_tables_list(revallo_pair):
    written, inferred = revallo_pair
    mapped = set(inferred.sdtm.datasets)
    assert mapped == set(written.sdtm.datasets) - {"SE", "SV", "TV", "TA", "TE"}  # the design has no mapping rows
    for name in mapped:
        assert inferred.sdtm.dataset(name).names == written.sdtm.dataset(name).names, name


def test_origins_follow_what_the_step_does(revallo_pair):
    _, inferred = revallo_pair
    origin = {(d, v.name): (v.origin, v.source) for d, ds in inferred.sdtm.datasets.items() for v in ds.variables}
    assert origin[("DM", "STUDYID")][0] == "Protocol"
    assert origin[("DM", "SEX")] == ("Collected", "enrolment.csv SEX")          # assign_ct from a raw column
    assert origin[("DM", "RFSTDTC")] == ("Predecessor", "DM.RFXSTDTC")          # copied from a variable
    assert origin[("DM", "RACE")][0] == "Assigned"                               # a constant
    assert origin[("DM", "DTHFL")][0] == "Derived"                               # a value chosen by a condition
    assert origin[("LB", "LBTESTCD")][0] == "Assigned"                           # from the tests catalogue
    method = inferred.sdtm.dataset("DM").variable("DTHFL").method
    assert "DTHDAT is present" in inferred.sdtm.methods[method]                  # the method says the rule


def test_keys_are_the_natural_keys_of_the_sdtmig_class(revallo_pair):
    _, inferred = revallo_pair
    assert inferred.sdtm.dataset("DM").keys == ("STUDYID", "USUBJID")
    assert inferred.sdtm.dataset("AE").keys == ("STUDYID", "USUBJID", "AEDECOD", "AESTDTC")
    assert inferred.sdtm.dataset("LB").keys == ("STUDYID", "USUBJID", "LBTESTCD", "VISITNUM", "LBDTC")
    assert inferred.sdtm.dataset("TS").keys == ("STUDYID", "TSPARMCD", "TSSEQ")
    assert inferred.sdtm.parents["SUPPAE"] == "AE"


def test_a_target_that_is_no_variable_of_its_domain_is_reported_at_its_row(tmp_path):
    spec = tmp_path / "spec"
    shutil.copytree(REVALLO_SPEC, spec)
    (spec / "datasets.csv").unlink()
    (spec / "variables.csv").unlink()
    mappings = spec / "mappings.csv"
    lines = mappings.read_text(encoding="utf-8").splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("DM,SEX,"))
    lines[row] = lines[row].replace("DM,SEX,", "DM,SEXX,", 1)
    mappings.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping, findings = read_spec(spec)
    assert mapping is None
    assert [(f.rule, f.location) for f in findings] == [("SPEC-UNKNOWN-VARIABLE", f"spec/mappings.csv:{row + 1}:variable")]
