"""Generic RELREC builders: record pairs by date within a period, and the RELREC rows of the pairs."""
from __future__ import annotations

import pandas as pd

from trialbridge.mappings.sdtm.relrec import pairs_within, relrec_rows

AE = pd.DataFrame({"USUBJID": ["S-1", "S-1", "S-2", "S-2"], "AESEQ": [1.0, 2.0, 1.0, 2.0],
                   "AESTDTC": ["2012-02-01", "2012-05-20", "2012-03", "2012-07-01"]})  # S-2 AESEQ 1: partial date
EX = pd.DataFrame({"USUBJID": ["S-1", "S-1", "S-2"], "EXSEQ": [1.0, 2.0, 1.0],
                   "EXSTDTC": ["2012-01-10", "2012-05-25", "2012-02-01"],
                   "EXENDTC": ["2012-05-24", "", "2012-06-30"]})  # S-1 EXSEQ 2: still ongoing


def test_pairs_are_dated_inside_the_period_of_the_same_subject():
    pairs = pairs_within(AE, "AESEQ", "AESTDTC", EX, "EXSEQ", "EXSTDTC", "EXENDTC")
    assert list(zip(pairs["USUBJID"], pairs["AESEQ"], pairs["EXSEQ"])) == [("S-1", 1.0, 1.0), ("S-1", 2.0, 1.0)]
    # an AE in the days just before a new dose (the dose reduced because of it)
    before = pairs_within(AE, "AESEQ", "AESTDTC", EX, "EXSEQ", "EXSTDTC", "EXENDTC", before_start=7)
    assert ("S-1", 2.0, 2.0) in set(zip(before["USUBJID"], before["AESEQ"], before["EXSEQ"]))


def test_relrec_rows_pair_the_records_under_one_relid():
    pairs = pd.DataFrame({"USUBJID": ["S-1", "S-1"], "AESEQ": [2.0, 1.0], "EXSEQ": [2.0, 1.0]})
    rows = relrec_rows(pairs, "S", "AE", "AESEQ", "EX", "EXSEQ", "AEEX")
    assert rows.values.tolist() == [
        ["S", "AE", "S-1", "AESEQ", "1", "", "AEEX1"], ["S", "EX", "S-1", "EXSEQ", "1", "", "AEEX1"],
        ["S", "AE", "S-1", "AESEQ", "2", "", "AEEX2"], ["S", "EX", "S-1", "EXSEQ", "2", "", "AEEX2"]]
    assert relrec_rows(pairs.iloc[0:0], "S", "AE", "AESEQ", "EX", "EXSEQ", "AEEX").empty
