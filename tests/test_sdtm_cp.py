"""CP (SDTMIG 3.4 Cell Phenotype Findings) from REVALLO's spec: the flow-cytometry counts of the laboratory
form (B, T, CD4+ and CD8+ T, NK and dendritic cells) are CP records with Cell Phenotyping codes (C181173,
C181174), the markers that define the population (CPMRKSTR) and category IMMUNOPHENOTYPING (C181171); the
test catalogue's `domain` column sends them to CP, LB keeps every other test; no record is lost."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from test_sdtm_lb import DM, REGISTRY, form, lab
from trialbridge.converters.synth.forms import FORM_NAMES
from trialbridge.mappings.trial import Trial
from trialbridge.schemas.sdtm_standards import terminology
from revallo_domains import map_cp, map_lb, study_spec



def both(*rows: dict[str, str]):
    trial = Trial(Path("native"), REGISTRY, {name: form(name) for name in FORM_NAMES} | {"laboratory": form("laboratory", *rows)})
    return map_lb(trial, {"DM": DM}), map_cp(trial, {"DM": DM})


def test_flow_cytometry_counts_are_cp_records_and_the_rest_stays_in_lb():
    lb, cp = both(lab("HB", "11.8", "g/dL"), lab("CD4", "431", "/µL", "400", "1500"), lab("CD8", "700", "/µL"),
                  lab("DC", "11", "/µL"), lab("CD19", "73", "/µL", "100", "500"))
    assert lb.table["LBTESTCD"].tolist() == ["HGB"] and lb.rejected.empty and cp.rejected.empty
    table = cp.table.sort_values("_line")
    assert table.columns.tolist()[:-2] == study_spec().dataset("CP").names
    assert table[["CPTESTCD", "CPTEST", "CPMRKSTR"]].values.tolist() == [
        ["TLYH", "TLym Help", "CD3+CD4+"], ["TLC", "TLym Cytx", "CD3+CD8+"], ["DC", "Dendritic Cells", ""],
        ["BLYCE", "B-Lymphocytes", "CD19+"]]  # DC: the CRF does not say which markers defined the population
    ct = terminology()
    assert set(table["CPTESTCD"]) <= set(ct.submission_values("C181173"))
    assert set(table["CPTEST"]) <= set(ct.submission_values("C181174"))
    assert set(table["CPCAT"]) == {"IMMUNOPHENOTYPING"} <= set(ct.submission_values("C181171"))
    assert set(table["CPMETHOD"]) == {"FLOW CYTOMETRY"} and set(table["CPSPEC"]) == {"BLOOD"}
    first = table.iloc[0]
    assert (first["CPORRES"], first["CPORRESU"], first["CPSTRESN"], first["CPSTRESU"]) == ("431", "10^6/L", 431.0, "10^6/L")
    assert (first["CPORNRLO"], first["CPORNRHI"], first["CPNRIND"]) == ("400", "1500", "NORMAL")
    assert table.iloc[3]["CPNRIND"] == "LOW" and table.iloc[0]["CPLOINC"] == "24467-3"
    assert set(table["_file"]) == {"laboratory.csv"} and table["_line"].tolist() == [3, 4, 5, 6]


def test_a_test_not_done_keeps_its_status_and_reason_in_cp():
    _, cp = both(lab("NK", "", "", LBSTAT="NOT DONE", LBREASND="Prélèvement hémolysé"))
    row = cp.table.iloc[0]
    assert (row["CPTESTCD"], row["CPSTAT"], row["CPREASND"]) == ("NKCE", "NOT DONE", "Prélèvement hémolysé")
    assert (row["CPORRES"], row["CPORRESU"], row["CPSTRESU"]) == ("", "", "")


def test_every_flow_cytometry_count_converts_per_ul_to_10e6_per_l():
    cases = [("CD19", "73", "BLYCE"), ("CD3", "1211", "TLYCE"), ("CD4", "431", "TLYH"), ("CD8", "700", "TLC"),
             ("NK", "238", "NKCE"), ("DC", "11", "DC")]  # cells per uL = 10^6/L (x 1)
    lb, cp = both(*(lab(code, result, "/µL", date=f"2011-09-{i + 1:02d}") for i, (code, result, _) in enumerate(cases)))
    table = cp.table.sort_values("_line")
    assert lb.table.empty and len(table) == len(cases)
    assert table[["CPTESTCD", "CPORRES", "CPORRESU", "CPSTRESC", "CPSTRESU"]].values.tolist() == [
        [testcd, result, "10^6/L", result, "10^6/L"] for _, result, testcd in cases]
    assert table["CPSTRESN"].tolist() == [float(result) for _, result, _ in cases]
