"""The XPT v5 writer and reader: transport limits checked before writing, every change reported, files exact."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from trialbridge.converters.xpt.files import prepare_for_xpt, read_xpt, write_xpt
from trialbridge.schemas.xpt_ascii import transliterate
from trialbridge.converters.xpt.transport import XptColumn, file_size, ibm_from_float, sas_timestamp, write_member
from trialbridge.schemas.sdtm_spec import Dataset, Variable

CREATED = datetime(2014, 10, 31, 17, 5, 9)
SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "standards" / "examples" / "sdtm-msg-v2.0"


def variable(dataset: str, name: str, label: str, type_: str = "Char", core: str = "Exp") -> Variable:
    return Variable(dataset=dataset, name=name, label=label, type=type_, order=0, core=core, role="",
                    codelist="", origin="Collected", source="", method="", comment="")


def spec(name: str, label: str, *variables: tuple[str, str, str, str]) -> Dataset:
    return Dataset(name=name, label=label, cls="", structure="", keys=(),
                   variables=tuple(variable(name, *v) for v in variables))


DM = spec(
    "DM", "Demographics",
    ("STUDYID", "Study Identifier", "Char", "Req"),
    ("DOMAIN", "Domain Abbreviation", "Char", "Req"),
    ("USUBJID", "Unique Subject Identifier", "Char", "Req"),
    ("AGE", "Age", "Num", "Exp"),
    ("SEX", "Sex", "Char", "Req"),
    ("DTHFL", "Subject Death Flag", "Char", "Exp"),
)


def dm_table() -> pd.DataFrame:
    return pd.DataFrame({
        "STUDYID": ["REVALLO"] * 3,
        "DOMAIN": ["DM"] * 3,
        "USUBJID": ["REVALLO-01-001", "REVALLO-01-002", "REVALLO-01-013"],
        "AGE": [54.0, np.nan, 61.0],                 # a missing number
        "SEX": ["M", "F", "M"],
        "DTHFL": ["", "Y", ""],                      # a blank character value
        "_file": ["enrolment.csv"] * 3,
        "_line": [2, 3, 14],
    })


def rules(findings) -> list[tuple[str, str]]:
    return sorted((f.rule, f.location) for f in findings)


def errors(findings) -> list[tuple[str, str]]:
    return sorted((f.rule, f.location) for f in findings if f.severity == "error")


# ------------------------------------------------------------------------------------- round trip
def test_a_dataset_reads_back_with_its_values_labels_types_and_exact_lengths(tmp_path):
    path = tmp_path / "dm.xpt"
    findings = write_xpt(dm_table(), DM, path, CREATED)
    assert errors(findings) == []
    frame, meta = read_xpt(path)
    expected = dm_table().drop(columns=["_file", "_line"])
    pd.testing.assert_frame_equal(frame, expected.astype({c: object for c in expected if c != "AGE"}))
    assert (meta.dataset, meta.label, meta.rows, meta.created) == ("DM", "Demographics", 3, CREATED)
    assert [(c.name, c.label, c.type, c.length) for c in meta.columns] == [
        ("STUDYID", "Study Identifier", "Char", 7),
        ("DOMAIN", "Domain Abbreviation", "Char", 2),
        ("USUBJID", "Unique Subject Identifier", "Char", 14),
        ("AGE", "Age", "Num", 8),
        ("SEX", "Sex", "Char", 1),
        ("DTHFL", "Subject Death Flag", "Char", 1),   # longest value is 1 byte ("Y")
    ]


def test_a_column_outside_the_spec_that_holds_values_is_an_error_never_a_silent_loss(tmp_path):
    table = dm_table().assign(SITENAME=["CHU Bordeaux", "", "CHU Bordeaux"])  # 2 values nowhere to go
    findings = write_xpt(table, DM, tmp_path / "dm.xpt", CREATED)
    assert errors(findings) == [("XPT-DATA-DROPPED", "dm:SITENAME")]
    assert not (tmp_path / "dm.xpt").exists()


def test_each_reported_change_lists_only_its_own_records(tmp_path):
    table = dm_table().assign(DTHFL=["é", "è", "é"])  # two distinct originals: records 1, 3 and record 2
    _, findings = prepare_for_xpt(table, DM)
    messages = {f.values[0]: f.message for f in findings if f.rule.startswith("XPT-ASCII")}
    assert "in 2 record(s) (1, 3;" in messages["é"]
    assert "in 1 record(s) (2;" in messages["è"]


def test_a_second_independent_reader_reads_the_same_values(tmp_path):
    # pandas' own XPORT reader is the one CDISC CORE uses; it parses the member header strictly
    # (the NAMESTR length sits in columns 75-77), where pyreadstat is lenient.
    path = tmp_path / "dm.xpt"
    write_xpt(dm_table(), DM, path, CREATED)
    frame = pd.read_sas(path, format="xport", encoding="ascii")
    assert list(frame.columns) == ["STUDYID", "DOMAIN", "USUBJID", "AGE", "SEX", "DTHFL"]
    assert list(frame["USUBJID"]) == ["REVALLO-01-001", "REVALLO-01-002", "REVALLO-01-013"]
    assert frame["AGE"].iloc[0] == 54.0 and np.isnan(frame["AGE"].iloc[1])
    assert list(frame["DTHFL"]) == ["", "Y", ""]


def test_the_member_header_matches_ts140_byte_for_byte(tmp_path):
    path = tmp_path / "dm.xpt"
    write_xpt(dm_table(), DM, path, CREATED)
    member = path.read_bytes()[240:320]
    assert member == b"HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!000000000000000001600000000140  "


def test_an_all_blank_character_variable_gets_length_1(tmp_path):
    table = dm_table().assign(DTHFL="")
    write_xpt(table, DM, tmp_path / "dm.xpt", CREATED)
    assert read_xpt(tmp_path / "dm.xpt")[1].column("DTHFL").length == 1


def test_a_dataset_without_records_is_written_with_its_variables(tmp_path):
    assert errors(write_xpt(dm_table().iloc[:0], DM, tmp_path / "dm.xpt", CREATED)) == []
    frame, meta = read_xpt(tmp_path / "dm.xpt")
    assert (len(frame), [c.name for c in meta.columns]) == (0, [v.name for v in DM.variables])


def test_numbers_round_trip_exactly_through_ibm_floating_point(tmp_path):
    rng = np.random.default_rng(7)
    values = rng.standard_normal(2000) * 10.0 ** rng.integers(-60, 60, 2000)
    values[:4] = [0.0, -0.5, 1e-78, 7e75]                          # zero, a fraction, near both range ends
    table = pd.DataFrame({"STUDYID": "REVALLO", "DOMAIN": "DM", "USUBJID": "REVALLO-01-001",
                          "AGE": values, "SEX": "M", "DTHFL": ""})
    write_xpt(table, DM, tmp_path / "dm.xpt", CREATED)
    assert np.array_equal(read_xpt(tmp_path / "dm.xpt")[0]["AGE"].to_numpy(), values)


def test_ibm_bit_patterns_match_ts140():
    bits = ibm_from_float(np.array([1.0, -118.625, 0.1, np.nan]))
    assert [f"{int(b):016X}" for b in bits] == [
        "4110000000000000",       # 1.0
        "C276A00000000000",       # -118.625, the example of IBM's floating-point documentation
        "401999999999999A",       # 0.1
        "2E00000000000000",       # SAS missing "."
    ]


# --------------------------------------------------------------------------------- determinism
def test_a_rerun_is_byte_identical_and_only_the_header_timestamp_follows_created(tmp_path):
    first, again, later = tmp_path / "a" / "dm.xpt", tmp_path / "b" / "dm.xpt", tmp_path / "c" / "dm.xpt"
    write_xpt(dm_table(), DM, first, CREATED)
    write_xpt(dm_table(), DM, again, CREATED)
    write_xpt(dm_table(), DM, later, datetime(2020, 1, 2, 3, 4, 5))
    assert first.read_bytes() == again.read_bytes()
    old, new = np.frombuffer(first.read_bytes(), np.uint8), np.frombuffer(later.read_bytes(), np.uint8)
    changed = np.flatnonzero(old != new)
    stamp = sas_timestamp(CREATED).encode()
    starts = [i for i in range(len(old)) if first.read_bytes()[i:i + 16] == stamp]
    assert len(starts) == 4                        # created + modified, library and member headers
    inside = {i for s in starts for i in range(s, s + 16)}
    assert changed.size > 0 and set(changed.tolist()) <= inside
    assert all(s < 80 * 9 for s in starts)          # all in the headers, none among the observations
    assert later.read_bytes().count(b"02JAN20:03:04:05") == 4


def test_the_file_size_is_known_before_writing(tmp_path):
    write_xpt(dm_table(), DM, tmp_path / "dm.xpt", CREATED)
    _, meta = read_xpt(tmp_path / "dm.xpt")
    assert (tmp_path / "dm.xpt").stat().st_size == file_size(3, meta.columns)


# ------------------------------------------------------------------------------- transliteration
SUPPDM = spec(
    "SUPPDM", "Supplemental Qualifiers for DM",
    ("STUDYID", "Study Identifier", "Char", "Req"),
    ("RDOMAIN", "Related Domain Abbreviation", "Char", "Req"),
    ("USUBJID", "Unique Subject Identifier", "Char", "Req"),
    ("QNAM", "Qualifier Variable Name", "Char", "Req"),
    ("QVAL", "Data Value", "Char", "Req"),
)


def suppdm(*qvals: str) -> pd.DataFrame:
    n = len(qvals)
    return pd.DataFrame({"STUDYID": ["REVALLO"] * n, "RDOMAIN": ["DM"] * n,
                         "USUBJID": [f"REVALLO-01-{i:03d}" for i in range(1, n + 1)],
                         "QNAM": ["TRSITE"] * n, "QVAL": list(qvals),
                         "_file": ["enrolment.csv"] * n, "_line": list(range(2, n + 2))})


def test_the_site_name_is_transliterated_and_every_changed_value_is_reported(tmp_path):
    table = suppdm("Hôpital Haut-Lévêque", "CHU Bordeaux", "Hôpital Haut-Lévêque")
    findings = write_xpt(table, SUPPDM, tmp_path / "suppdm.xpt", CREATED)
    changes = [f for f in findings if f.rule.startswith("XPT-ASCII")]
    assert [(f.rule, f.severity, f.location, f.values) for f in changes] == [
        ("XPT-ASCII-ACCENT", "info", "suppdm:QVAL:1", ("Hôpital Haut-Lévêque", "Hopital Haut-Leveque")),
    ]
    assert "2 record(s) (1, 3; first from enrolment.csv:2)" in changes[0].message
    assert read_xpt(tmp_path / "suppdm.xpt")[0]["QVAL"].tolist() == [
        "Hopital Haut-Leveque", "CHU Bordeaux", "Hopital Haut-Leveque"]


@pytest.mark.parametrize("original, ascii", [
    ("10⁹/L", "10^9/L"),               # a superscript exponent, not "109/L"
    ("5 µg", "5 ug"),
    ("œdème « grade 2 »", 'oedeme " grade 2 "'),
    ("37,5 °C", "37,5 degC"),
    ("ligne 1\r\nligne 2", "ligne 1 ligne 2"),
    ("J\u202f+100", "J +100"),          # narrow no-break space
])
def test_symbols_are_replaced_by_the_table_and_reported_as_warnings(tmp_path, original, ascii):
    findings = write_xpt(suppdm(original), SUPPDM, tmp_path / "suppdm.xpt", CREATED)
    assert [(f.rule, f.values) for f in findings if f.rule.startswith("XPT-ASCII")] == [
        ("XPT-ASCII-REPLACED", (original, ascii))]
    assert read_xpt(tmp_path / "suppdm.xpt")[0]["QVAL"].tolist() == [ascii]


def test_a_character_with_no_ascii_form_is_an_error_and_never_a_question_mark(tmp_path):
    findings = write_xpt(suppdm("CHU Bordeaux", "骨髄腫"), SUPPDM, tmp_path / "suppdm.xpt", CREATED)
    assert errors(findings) == [("XPT-ASCII-UNMAPPED", "suppdm:QVAL:2")]
    assert not (tmp_path / "suppdm.xpt").exists()
    assert transliterate("a\x07b").unmapped == "U+0007 '\\x07'"    # a control character is refused too


def test_trailing_blanks_are_removed_and_reported(tmp_path):
    findings = write_xpt(suppdm("CHU Bordeaux  "), SUPPDM, tmp_path / "suppdm.xpt", CREATED)
    assert rules(f for f in findings if f.severity != "info") == [("XPT-TRAILING-BLANK", "suppdm:QVAL:1")]


# ----------------------------------------------------------------------- limits, before writing
def test_a_41_character_label_is_an_error_and_nothing_is_written(tmp_path):
    long_label = spec("DM", "Demographics", *[(v.name, v.label, v.type, v.core) for v in DM.variables[:5]],
                      ("DTHFL", "Subject Death Flag as Recorded on the CRF", "Char", "Exp"))   # 41 characters
    findings = write_xpt(dm_table(), long_label, tmp_path / "dm.xpt", CREATED)
    assert errors(findings) == [("XPT-LABEL", "dm:DTHFL")]
    assert not (tmp_path / "dm.xpt").exists()


def test_a_40_character_label_is_accepted(tmp_path):
    label = spec("DM", "Demographics", *[(v.name, v.label, v.type, v.core) for v in DM.variables[:5]],
                 ("DTHFL", "Subject Death Flag As Collected On A CRF", "Char", "Exp"))     # 40 characters
    assert errors(write_xpt(dm_table(), label, tmp_path / "dm.xpt", CREATED)) == []
    assert read_xpt(tmp_path / "dm.xpt")[1].column("DTHFL").label == "Subject Death Flag As Collected On A CRF"


def test_a_201_byte_value_is_an_error_and_200_bytes_are_written(tmp_path):
    findings = write_xpt(suppdm("x" * 200, "y" * 201), SUPPDM, tmp_path / "suppdm.xpt", CREATED)
    assert errors(findings) == [("XPT-TEXT-LENGTH", "suppdm:QVAL:2")]    # record 2 must be split first
    assert not (tmp_path / "suppdm.xpt").exists()
    assert errors(write_xpt(suppdm("x" * 200), SUPPDM, tmp_path / "suppdm.xpt", CREATED)) == []
    assert read_xpt(tmp_path / "suppdm.xpt")[1].column("QVAL").length == 200


def test_a_9_character_variable_name_is_an_error(tmp_path):
    bad = spec("DM", "Demographics", *[(v.name, v.label, v.type, v.core) for v in DM.variables],
               ("RFICDTCXX", "Date/Time of Informed Consent", "Char", "Perm"))
    findings = write_xpt(dm_table().assign(RFICDTCXX="2011-08-01"), bad, tmp_path / "dm.xpt", CREATED)
    assert errors(findings) == [("XPT-NAME", "dm:RFICDTCXX")]
    assert not (tmp_path / "dm.xpt").exists()


def test_an_upper_case_file_name_is_an_error(tmp_path):
    assert errors(write_xpt(dm_table(), DM, tmp_path / "DM.xpt", CREATED)) == [("XPT-FILE-NAME", "dm")]


# ------------------------------------------------------------------------------- types and order
def test_a_word_in_a_numeric_variable_is_an_error_not_a_missing_value(tmp_path):
    table = dm_table().astype({"AGE": object})
    table.loc[1, "AGE"] = "unknown"                                # record 2: must not become NaN
    table.loc[2, "AGE"] = "61"                                     # text holding a number: converted, reported
    findings = write_xpt(table, DM, tmp_path / "dm.xpt", CREATED)
    assert errors(findings) == [("XPT-NUM-INVALID", "dm:AGE:2")]
    assert "first from enrolment.csv:3" in next(f.message for f in findings if f.rule == "XPT-NUM-INVALID")
    assert ("XPT-NUM-COERCED", "dm:AGE") in rules(findings)
    assert not (tmp_path / "dm.xpt").exists()


def test_columns_follow_the_spec_unknown_ones_are_dropped_and_missing_ones_reported(tmp_path):
    table = dm_table()[["USUBJID", "STUDYID", "DOMAIN", "SEX", "AGE", "_file", "_line"]].assign(SITENAME="")
    prepared, findings = prepare_for_xpt(table, DM)
    assert list(prepared.columns) == ["STUDYID", "DOMAIN", "USUBJID", "AGE", "SEX", "DTHFL"]
    assert prepared["DTHFL"].tolist() == ["", "", ""]
    assert rules(f for f in findings if f.rule not in ("XPT-LENGTH",)) == [
        ("XPT-COLUMN-DROPPED", "dm:SITENAME"),       # not a DM variable of the study, and empty
        ("XPT-ORDER", "dm"),                         # USUBJID came first
        ("XPT-VARIABLE-MISSING", "dm:DTHFL"),        # Exp: written empty, reported
    ]
    findings = write_xpt(table.drop(columns=["SEX"]), DM, tmp_path / "dm.xpt", CREATED)
    assert errors(findings) == [("XPT-REQ-MISSING", "dm:SEX")]


def test_missing_character_values_become_blank_and_are_counted(tmp_path):
    table = dm_table().assign(DTHFL=[None, "Y", np.nan])
    findings = write_xpt(table, DM, tmp_path / "dm.xpt", CREATED)
    null = [f for f in findings if f.rule == "XPT-CHAR-NULL"]
    assert [(f.location, f.values) for f in null] == [("dm:DTHFL", ("2",))]
    assert read_xpt(tmp_path / "dm.xpt")[0]["DTHFL"].tolist() == ["", "Y", ""]


def test_numbers_in_a_character_variable_are_written_as_text_with_a_warning(tmp_path):
    table = suppdm("a", "b").assign(QVAL=[2.0, 0.25])                # a mapping that forgot to format
    findings = write_xpt(table, SUPPDM, tmp_path / "suppdm.xpt", CREATED)
    assert rules(f for f in findings if f.severity != "info") == [("XPT-CHAR-COERCED", "suppdm:QVAL:1")]
    assert read_xpt(tmp_path / "suppdm.xpt")[0]["QVAL"].tolist() == ["2", "0.25"]


@pytest.mark.parametrize("value", ["too long", "tab\there", "caf\u00e9"])
def test_the_byte_writer_refuses_what_it_cannot_encode_faithfully(tmp_path, value):
    columns = [XptColumn("QVAL", "Data Value", "Char", 5)]            # bypassing the stages: a caller bug
    with pytest.raises(ValueError):
        write_member(tmp_path / "suppdm.xpt", "SUPPDM", "", columns, pd.DataFrame({"QVAL": [value]}), CREATED)
    assert list(tmp_path.iterdir()) == []                               # no file, no partial file


# ------------------------------------------------------------------------------------- splitting
LB = spec(
    "LB", "Laboratory Test Results",
    ("STUDYID", "Study Identifier", "Char", "Req"),
    ("DOMAIN", "Domain Abbreviation", "Char", "Req"),
    ("USUBJID", "Unique Subject Identifier", "Char", "Req"),
    ("LBSEQ", "Sequence Number", "Num", "Req"),
    ("LBTESTCD", "Lab Test or Examination Short Name.", "Char", "Req"),
    ("LBCAT", "Category for Lab Test", "Char", "Exp"),
    ("LBSTRESN", "Numeric Result/Finding in Standard Units", "Num", "Exp"),
)


def lb_table() -> pd.DataFrame:
    cats = ["HEMATOLOGY"] * 30 + ["CHEMISTRY"] * 20 + ["IMMUNOPHENOTYPING"] * 10
    return pd.DataFrame({"STUDYID": "REVALLO", "DOMAIN": "LB", "USUBJID": "REVALLO-01-001",
                         "LBSEQ": np.arange(1.0, 61.0), "LBTESTCD": "PLAT", "LBCAT": cats,
                         "LBSTRESN": np.linspace(10, 300, 60)})


def test_a_dataset_above_the_threshold_is_split_by_category_into_the_split_folder(tmp_path):
    full = tmp_path / "full" / "lb.xpt"
    write_xpt(lb_table(), LB, full, CREATED)
    threshold = file_size(33, read_xpt(full)[1].columns)     # room for 33 of the 60 records per file
    findings = write_xpt(lb_table(), LB, tmp_path / "lb.xpt", CREATED, split_threshold=threshold)
    assert errors(findings) == []
    assert not (tmp_path / "lb.xpt").exists()        # the whole dataset is not written as one file
    files = sorted((tmp_path / "split").iterdir())
    assert [f.name for f in files] == ["lb1.xpt", "lb2.xpt"]
    assert next(f for f in findings if f.rule == "XPT-SPLIT").values == ("split/lb1.xpt", "split/lb2.xpt")
    parts = [read_xpt(f) for f in files]
    assert all(f.stat().st_size <= threshold for f in files)
    assert [sorted(set(frame["LBCAT"])) for frame, _ in parts] == [
        ["HEMATOLOGY"], ["CHEMISTRY", "IMMUNOPHENOTYPING"]]        # whole categories, none cut in two
    assert [meta.dataset for _, meta in parts] == ["LB1", "LB2"]
    assert {c.length for _, meta in parts for c in meta.columns if c.name == "LBCAT"} == {17}  # same lengths
    rejoined = pd.concat([frame for frame, _ in parts]).sort_values("LBSEQ", ignore_index=True)
    pd.testing.assert_frame_equal(rejoined, read_xpt(full)[0])       # nothing lost, nothing changed


def test_a_category_larger_than_the_threshold_is_cut_into_row_chunks(tmp_path):
    full = tmp_path / "full" / "lb.xpt"
    write_xpt(lb_table(), LB, full, CREATED)
    threshold = file_size(12, read_xpt(full)[1].columns)     # 12 records per file: HEMATOLOGY (30) is cut
    write_xpt(lb_table(), LB, tmp_path / "lb.xpt", CREATED, split_threshold=threshold)
    files = sorted((tmp_path / "split").iterdir())
    assert all(f.stat().st_size <= threshold for f in files)
    assert [read_xpt(f)[1].rows for f in files] == [12, 12, 6, 12, 8, 10]   # 30 = 12+12+6, 20 = 12+8, 10


# ------------------------------------------------------------------- the CDISC sample submission
SAMPLE_FILES = sorted(SAMPLE.rglob("*.xpt")) if SAMPLE.is_dir() else []


@pytest.mark.skipif(not SAMPLE_FILES, reason=f"CDISC SDTM-MSG v2.0 sample package not found at {SAMPLE}")
@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.relative_to(SAMPLE).as_posix())
def test_every_file_of_the_cdisc_sample_reads_back_and_rewrites_identically(tmp_path, path):
    frame, meta = read_xpt(path)
    assert len(frame) == pyreadstat.read_xport(str(path))[1].number_rows == meta.rows
    # the count the file size allows: observations fill the data section up to < 80 bytes of padding
    data = path.stat().st_size - file_size(0, meta.columns)
    width = sum(c.length for c in meta.columns)
    assert -(-(data - 79) // width) <= len(frame) <= data // width
    assert [c.name for c in meta.columns] == list(frame.columns)
    # rewrite it through our writer with the file's own metadata: the values come back unchanged
    dataset = spec(meta.dataset, meta.label, *[(c.name, c.label, c.type, "Perm") for c in meta.columns])
    out = tmp_path / f"{meta.dataset.lower()}.xpt"
    findings = write_xpt(frame, dataset, out, meta.created or CREATED)
    assert errors(findings) == []
    again, again_meta = read_xpt(out)
    pd.testing.assert_frame_equal(again, frame)
    declared = [(c.name, c.label, c.type) for c in meta.columns]
    assert [(c.name, c.label, c.type) for c in again_meta.columns] == declared
    assert all(a.length <= b.length for a, b in zip(again_meta.columns, meta.columns))  # cut to the longest value
