"""The study specification: SDTMIG 3.4 metadata + CDISC CT + the REVALLO spec tables, and its consistency."""
from __future__ import annotations

import hashlib
from importlib import resources

import pytest

from trialbridge.schemas.sdtm_standards import CT_VERSION, SDTMIG_VERSION, sdtmig_variables, terminology
from revallo_domains import study_spec

SHA256 = {  # the sums of shared/standards/MANIFEST.sha256: the copies are unmodified
    ("sdtmig-3.4", "Variables.csv"): "0590595bb806e3c0bdac8db80e308c920d81da9425c24e2afa31b55222d4d445",
    ("sdtmig-3.4", "Datasets.csv"): "3665c3c33af2354428d13bb605b440041e2745b9bf88f0419bd6870d17d0caa4",
    ("ct", "SDTM_Terminology_2025-03-28.txt"): "5e7e78d11b149604a0d4de15a406307281cc6661f340a5875fd73022938d4a91",
}


@pytest.mark.parametrize("parts", sorted(SHA256))
def test_standards_files_are_byte_identical_copies(parts):
    data = resources.files("trialbridge.schemas").joinpath("standards", *parts).read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHA256[parts]


def test_versions():
    assert (SDTMIG_VERSION, CT_VERSION) == ("3.4", "2025-03-28")
    assert set(sdtmig_variables()["Version"]) == {"SDTMIG v3.4"}


def test_the_study_writes_dm_first_then_the_domains_then_supp():
    names = list(study_spec().datasets)
    assert names[0] == "DM"
    assert {"DM", "EX", "AE", "DS", "RS", "LB", "TS", "SUPPDM", "SUPPAE"} <= set(names)
    assert names.index("TS") < min(names.index(n) for n in names if n.startswith("SUPP"))


def test_variables_come_from_sdtmig_in_sdtmig_order():
    dm = study_spec().dataset("DM")
    assert dm.label == "Demographics" and dm.cls == "Special-Purpose" and dm.structure == "One record per subject"
    assert dm.names[:4] == ["STUDYID", "DOMAIN", "USUBJID", "SUBJID"]
    age = dm.variable("AGE")
    assert (age.label, age.type, age.core, age.order) == ("Age", "Num", "Exp", 19)
    assert [v.order for v in dm.variables] == sorted(v.order for v in dm.variables)


def test_every_required_and_expected_sdtmig_variable_is_carried():
    ig = sdtmig_variables()
    spec = study_spec()
    for name, dataset in spec.datasets.items():
        model = "SUPPQUAL" if name in spec.parents else name
        rows = ig[(ig["Dataset Name"] == model) & ig["Core"].isin(["Req", "Exp"])]
        missing = set(rows["Variable Name"]) - set(dataset.names)
        assert not missing, f"{name} lacks {sorted(missing)}"


def test_codelist_is_sdtmig_first_choice_unless_the_study_says_otherwise():
    spec = study_spec()
    assert spec.dataset("DM").variable("SEX").codelist == "C66731"
    assert spec.dataset("DS").variable("DSDECOD").codelist == "C66727"  # first of C66727; C114118; C150811
    milestone = [v for v in spec.values_of("DS", "DSDECOD") if v.where_value == "PROTOCOL MILESTONE"]
    assert [v.codelist for v in milestone] == ["C114118"]


def test_origins_sources_and_methods_are_complete():
    spec = study_spec()
    for dataset in spec.datasets.values():
        for v in dataset.variables:
            assert v.origin in {"Collected", "Derived", "Assigned", "Protocol", "Predecessor"}, v
            if v.origin == "Predecessor":  # names the variable it copies, which the study writes
                source_dataset, _, source_variable = v.source.partition(".")
                assert source_variable in spec.dataset(source_dataset).names, v
            if v.origin == "Derived":
                assert v.method in spec.methods, v
            if v.origin == "Collected" and dataset.name not in spec.parents:
                form, _, column = v.source.partition(" ")
                assert form.endswith(".csv") and column, v


def test_collected_sources_name_real_form_columns():
    from trialbridge.converters.synth.forms import FORM_NAMES, form_columns, form_file

    columns = {form_file(f): set(form_columns(f)) for f in FORM_NAMES}
    spec = study_spec()
    sources = [v.source for d in spec.datasets.values() for v in d.variables if v.source and v.origin != "Predecessor"]
    sources += [v.source for v in spec.value_level if v.source and v.origin != "Predecessor"]
    for source in sources:
        file, _, column = source.partition(" ")
        assert column in columns[file], source


def test_supp_qualifiers_respect_the_qnam_and_qlabel_limits():
    spec = study_spec()
    for supp in spec.parents:
        for q in spec.qualifiers(supp):
            assert len(q.where_value) <= 8 and q.where_value[0].isalpha() and q.where_value.isupper()
            assert len(q.label) <= 40 and q.origin
    assert ("DISSTAT", "Disease Status at Inclusion", "DISSTAT", "Collected") in spec.supp_qvals("SUPPDM")
    # the transplant is a PR record (SDTMIG 3.4 PR); only its donor and HLA match have no PR variable
    assert {q[0] for q in spec.supp_qvals("SUPPPR")} == {"DONOR", "HLAMATCH"}
    assert not {"TXDTC", "DONOR", "HLAMATCH", "CONDIT", "DTHTRM"} & {q[0] for q in spec.supp_qvals("SUPPDM")}


def test_lab_value_level_comes_from_the_lab_test_catalogue():
    entries = study_spec().values_of("LB", "LBSTRESN")
    platelets = [v for v in entries if v.where_value == "PLAT"]
    assert platelets and platelets[0].unit == "10^9/L" and platelets[0].origin == "Derived"


def test_terminology_lookups():
    ct = terminology()
    assert ct.codelist_name("C66731") == "Sex" and ct.codelist_short_name("C66731") == "SEX"
    assert not ct.is_extensible("C74457") and ct.is_extensible("C66727")
    assert {"NOT REPORTED", "WHITE"} <= ct.submission_values("C74457")
    assert ct.term_code("C74457", "NOT REPORTED") == "C43234"
    assert ct.term_code("C66790", "NOT REPORTED") == "C43234"
    assert ct.term_code("C74457", "not reported") == ""  # exact submission values only
    assert ct.decode("C71113", "QD") == "Daily"
    with pytest.raises(KeyError, match="C0000"):
        ct.codelist_name("C0000")
