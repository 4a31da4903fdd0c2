"""Findings results: collected results and units -> numbers, standard results, reference range indicators,
toxicity grades.

A result keeps the precision it was collected with (no invented decimals), a result outside the measurable
range (`<3.3`) keeps its comparator, and each derivation runs once per distinct input and is spread back
onto the rows (lab tables repeat values a lot).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from trialbridge.mappings.sdtm.frames import _by_value, _shown, _text
from trialbridge.schemas.findings import Finding, finding

_RESULT = r"^(?P<op>[<>]=?)?\s*(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))$"


def assign_numeric(source: pd.DataFrame, source_column: str, variable: str = "") -> tuple[pd.Series, list[Finding]]:
    """The collected number as float64 (NaN when absent); a value that is not a number is reported."""
    raw = _text(source[source_column]).str.strip()
    numbers = pd.to_numeric(raw.where(raw != "", np.nan), errors="coerce").astype("float64")
    bad = (raw != "") & numbers.isna()
    findings = [
        finding("SDTM-NOT-NUMERIC", f"{records[0]}:{source_column}", [value], variable=variable or source_column,
                value=value, column=source_column, count=len(records), records=_shown(records))
        for value, records in _by_value(source, raw, bad)
    ]
    return numbers, findings


def _parse_results(values: pd.Series) -> pd.DataFrame:
    """Split results into comparator (`<`, `>`, `<=`, `>=` or ""), number (float) and decimals shown.

    The text is parsed once per distinct value (lab results repeat a lot), then spread back by code.
    """
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=False)
    distinct = _text(pd.Series(uniques, dtype=object)).str.strip()
    parts = distinct.str.extract(_RESULT)
    number = pd.to_numeric(parts["num"], errors="coerce").astype("float64")
    decimals = parts["num"].str.extract(r"\.(\d*)$")[0].str.len().fillna(0).astype("int64")
    parsed = pd.DataFrame({"op": _text(parts["op"]), "number": number, "decimals": decimals})
    spread = parsed.iloc[codes].set_axis(values.index) if len(values) else parsed.iloc[0:0].set_axis(values.index)
    return spread


def _format_numbers(numbers: pd.Series, decimals: pd.Series) -> pd.Series:
    """Numbers as text with at most `decimals` places, trailing zeros dropped ("" for NaN).

    Each distinct (number, places) pair is formatted once."""
    number_codes, number_values = pd.factorize(numbers.astype("float64").to_numpy(), use_na_sentinel=False)
    places = decimals.astype("int64").to_numpy()
    codes, _ = pd.factorize(number_codes * (int(places.max(initial=0)) + 1) + places)
    first = pd.Series(np.arange(len(codes))).groupby(codes).first().to_numpy()  # a row of each distinct pair
    distinct = pd.DataFrame({"number": number_values[number_codes[first]], "places": places[first]})
    text = pd.Series("", index=distinct.index, dtype=object)
    for places in sorted(set(distinct.loc[distinct["number"].notna(), "places"])):
        rows = distinct["number"].notna() & (distinct["places"] == places)
        formatted = pd.Series(np.char.mod(f"%.{places}f", distinct.loc[rows, "number"].to_numpy()),
                              index=distinct.index[rows], dtype=object)
        if places > 0:
            formatted = formatted.str.rstrip("0").str.rstrip(".")
        text.loc[rows] = formatted.replace("-0", "0")
    return pd.Series(text.to_numpy()[codes] if len(codes) else [], index=numbers.index, dtype=object)


def _round_by(numbers: pd.Series, places: pd.Series) -> pd.Series:
    """Each number rounded to its own number of decimal places (NaN stays NaN)."""
    out = numbers.astype("float64").copy()
    for count in sorted(set(places[numbers.notna()])):
        rows = numbers.notna() & (places == count)
        out.loc[rows] = numbers[rows].round(int(min(count, 15)))
    return out


def _distinct_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Each distinct row of `frame` once, and for every row of `frame` the position of its distinct row.

    A row-wise derivation run on the distinct rows and spread back by these positions gives every row
    the same value for a fraction of the work where rows repeat (a lab result and its unit do, a lot).
    """
    codes = frame.groupby(list(frame.columns), sort=False, dropna=False).ngroup().to_numpy()
    _, first = np.unique(codes, return_index=True)  # the first row of each group, in group number order
    return frame.iloc[first], codes


def derive_std_result(source: pd.DataFrame, source_column: str, factor: pd.Series) -> tuple[pd.Series, pd.Series]:
    """--STRESC and --STRESN of a collected result converted to the standard unit (standard = result x factor).

    A number is converted and rounded to the places the collected value shows, shifted by the factor's
    power of ten (182000 /mm3 x 0.001 -> 182 10^9/L; 11.8 g/dL x 10 -> 118 g/L), so no precision is
    invented. A result outside the measurable range (`<3.3`, `>95`) keeps its comparator in --STRESC with
    the converted bound and has no --STRESN (SDTMIG 3.4 LB assumption: --STRESN only for numeric results).
    Text that is not a number is copied to --STRESC; without a factor (unit unknown) both stay null.
    Computed once per distinct (result, factor) pair.
    """
    factor = pd.to_numeric(factor, errors="coerce").astype("float64")
    rows, codes = _distinct_rows(pd.DataFrame({source_column: source[source_column], "_factor": factor}))
    stresc, stresn = _std_result(rows, source_column, rows["_factor"])
    return (pd.Series(stresc.to_numpy()[codes], index=source.index, dtype=object),
            pd.Series(stresn.to_numpy()[codes], index=source.index, dtype="float64"))


def _std_result(source: pd.DataFrame, source_column: str, factor: pd.Series) -> tuple[pd.Series, pd.Series]:
    parsed = _parse_results(source[source_column])
    factor = pd.to_numeric(factor, errors="coerce").astype("float64")
    shift = np.ceil(-np.log10(factor.where(factor > 0))).fillna(0).astype("int64")
    places = (parsed["decimals"] + shift).clip(lower=0)
    converted = _round_by(parsed["number"] * factor, places)
    text = _format_numbers(converted, places)
    stresc = (parsed["op"] + text).where(text != "", "")
    raw = _text(source[source_column]).str.strip()
    not_number = (raw != "") & parsed["number"].isna() & factor.notna()
    stresc = _text(stresc.where(~not_number, raw))
    stresn = converted.where(parsed["op"] == "").astype("float64")
    return stresc, stresn


def derive_nrind(source: pd.DataFrame, source_column: str, low_column: str, high_column: str) -> pd.Series:
    """--NRIND from the collected result and the collected reference range (same unit): LOW below the
    lower limit, HIGH above the upper limit, NORMAL within the limits given; null without a range.

    A result outside the measurable range is placed only when its bound decides it (`<3.3` with a lower
    limit of 3.3 is LOW; `>95` with no upper limit, or `<5` with a lower limit of 3, is left null).
    Computed once per distinct (result, low, high) triple."""
    rows, codes = _distinct_rows(source[list(dict.fromkeys([source_column, low_column, high_column]))])
    return pd.Series(_nrind(rows, source_column, low_column, high_column).to_numpy()[codes], index=source.index,
                     dtype=object)


def _nrind(source: pd.DataFrame, source_column: str, low_column: str, high_column: str) -> pd.Series:
    parsed = _parse_results(source[source_column])
    low = pd.to_numeric(_text(source[low_column]).replace("", np.nan), errors="coerce").astype("float64")
    high = pd.to_numeric(_text(source[high_column]).replace("", np.nan), errors="coerce").astype("float64")
    x, op = parsed["number"], parsed["op"]
    exact = op == ""
    below = (exact & (x < low)) | (op.isin(["<", "<="]) & (x <= low))
    above = (exact & (x > high)) | (op.isin([">", ">="]) & (x >= high))
    has_range = low.notna() | high.notna()
    within = exact & x.notna() & has_range & ~(x < low) & ~(x > high)
    nrind = np.select([below, above, within], ["LOW", "HIGH", "NORMAL"], "")
    return pd.Series(nrind, index=source.index, dtype=object)


def derive_toxgr(table: pd.DataFrame, stresn_column: str, low_column: str, high_column: str,
                 grading: pd.DataFrame, by: str) -> pd.Series:
    """--TOXGR: the NCI CTCAE grade of a numeric standard result, from the grading table of its test.

    `grading` has one row per value of `by` (e.g. LBTESTCD) with `direction` ("low": grade 1 below the
    lower limit of normal, grade n below cut-off n; "high": grade 1 above the upper limit, grade n above
    cut-off n), `scale` ("absolute": cut-offs in the standard unit; "ULN": multiples of the upper limit)
    and the cut-offs `grade2`, `grade3`, `grade4`. The grade is the highest whose condition holds, "0"
    when none does; null for tests not graded, results without a number (e.g. `<0.5`), and results whose
    grade depends on a missing limit of normal.
    """
    rules = table[[by]].merge(grading, on=by, how="left")
    rules.index = table.index
    x = pd.to_numeric(table[stresn_column], errors="coerce").astype("float64")
    lln = pd.to_numeric(table[low_column], errors="coerce").astype("float64")
    uln = pd.to_numeric(table[high_column], errors="coerce").astype("float64")
    relative = rules["scale"] == "ULN"
    cuts = {g: pd.to_numeric(rules[f"grade{g}"], errors="coerce").astype("float64").where(~relative,
            pd.to_numeric(rules[f"grade{g}"], errors="coerce") * uln) for g in (2, 3, 4)}
    low = rules["direction"] == "low"
    high = rules["direction"] == "high"
    hits = {g: (low & (x < cuts[g])) | (high & (x > cuts[g])) for g in (2, 3, 4)}
    limit = lln.where(low, uln)
    hits[1] = (low & (x < limit)) | (high & (x > limit))
    graded = (low | high) & x.notna()
    known = graded & (hits[2] | hits[3] | hits[4] | limit.notna())
    grade = np.select([hits[4], hits[3], hits[2], hits[1]], ["4", "3", "2", "1"], "0")
    return pd.Series(grade, index=table.index, dtype=object).where(known, "")
