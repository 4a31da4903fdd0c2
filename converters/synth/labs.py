"""Laboratory results of the synthetic REVALLO generator: simulated values by visit -> `laboratory` rows.

A local French laboratory: the test codes, French names and units of `laboratory.schema.json`
(`x-units-by-code`), local reference ranges, and plausible values after a reduced-intensity allogeneic
transplant (lenalidomide lowers platelets and neutrophils, T/NK cells recover slowly, donor chimerism
stays near 100 %). Blood counts and chemistry are drawn at every visit, the M-protein and free light
chains at inclusion, every third month and end of treatment, immunophenotyping and chimerism at
inclusion, months 3 and 6 and end of treatment. A few tests are not done, with a French reason.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trialbridge.converters.synth.forms import form_columns, form_schema

# Visit columns of every per-visit matrix: 0 inclusion, 1..9 the monthly visits M01..M09, 10 end of treatment.
VISITS: tuple[str, ...] = ("INCLUSION",) + tuple(f"M{k:02d}" for k in range(1, 10)) + ("EOT",)
INCLUSION, EOT = 0, len(VISITS) - 1
QUARTERLY = (3, 6, 9)

# Thresholds of the protocol (dose escalation) and of CTCAE v3.0 (grades 2, 3, 4).
PLATELET_ESCALATION, NEUTROPHIL_ESCALATION = 75_000, 1_000
PLATELET_GRADE_LIMITS = (75_000, 50_000, 25_000)
NEUTROPHIL_GRADE_LIMITS = (1_500, 1_000, 500)

NOT_DONE_REASONS = np.array(["Prélèvement hémolysé", "Prélèvement coagulé", "Tube non conforme",
                             "Quantité insuffisante", "Échantillon non acheminé au laboratoire"], dtype=object)


@dataclass(frozen=True)
class LabTest:
    """One local test: how it is named, in what unit, with which range, at which visits, how it prints."""

    code: str
    name: str
    low: str
    high: str
    decimals: int
    rounding: int = 1  # counts are printed to the nearest `rounding` (platelets to the nearest 1000 /mm3)
    panel: str = "routine"  # routine: every visit; mprotein: quarterly; immuno: inclusion, M03, M06, EOT
    may_be_missing: bool = True


LAB_TESTS: tuple[LabTest, ...] = (
    LabTest("HB", "Hémoglobine", "12.0", "17.0", 1),
    LabTest("LEUCO", "Leucocytes", "4000", "10000", 0, 10),
    LabTest("PNN", "Polynucléaires neutrophiles", "1800", "7500", 0, 10, may_be_missing=False),
    LabTest("LYMPH", "Lymphocytes", "1000", "4000", 0, 10),
    LabTest("PLAQ", "Plaquettes", "150000", "400000", 0, 1000, may_be_missing=False),
    LabTest("CREAT", "Créatinine", "53", "106", 0),
    LabTest("ASAT", "ASAT", "10", "40", 0),
    LabTest("ALAT", "ALAT", "10", "45", 0),
    LabTest("BILI", "Bilirubine totale", "3", "17", 0),
    LabTest("PICM", "Pic monoclonal (protéine M)", "", "", 1, panel="mprotein", may_be_missing=False),
    LabTest("KAPPA", "Chaînes légères libres kappa", "3.3", "19.4", 1, panel="mprotein"),
    LabTest("LAMBDA", "Chaînes légères libres lambda", "5.7", "26.3", 1, panel="mprotein"),
    LabTest("CD19", "Lymphocytes B CD19+", "100", "500", 0, panel="immuno"),
    LabTest("CD3", "Lymphocytes T CD3+", "700", "2100", 0, panel="immuno"),
    LabTest("CD4", "Lymphocytes T CD4+", "400", "1500", 0, panel="immuno"),
    LabTest("CD8", "Lymphocytes T CD8+", "200", "1000", 0, panel="immuno"),
    LabTest("NK", "Cellules NK CD3-CD56+", "90", "600", 0, panel="immuno"),
    LabTest("DC", "Cellules dendritiques", "10", "50", 0, panel="immuno"),
    LabTest("CHIM", "Chimérisme donneur (sang)", "", "", 0, panel="immuno"),
)
PANEL_VISITS: dict[str, tuple[int, ...]] = {
    "routine": tuple(range(len(VISITS))),
    "mprotein": (INCLUSION,) + QUARTERLY + (EOT,),
    "immuno": (INCLUSION, 3, 6, EOT),
}
NOT_DONE_RATE = 0.008
DOSE_FACTOR_PLATELETS = np.array([1.0, 0.85, 0.72, 0.62])  # index: level + 1 (0 = off drug)
DOSE_FACTOR_NEUTROPHILS = np.array([1.0, 0.85, 0.70, 0.58])


@dataclass
class LabInputs:
    """What the laboratory needs from the course: visit dates/levels/months, counts, response by visit."""

    visit_date: np.ndarray  # (n, visits) day numbers, -1 where no visit
    level: np.ndarray  # (n, visits) dose level in effect at the visit (-1 off drug)
    months: np.ndarray  # (n, visits) months since the first dose
    platelets: np.ndarray
    neutrophils: np.ndarray
    response: np.ndarray  # (n, visits) response code at the visit (-1 when not assessed)
    male: np.ndarray
    kappa: np.ndarray  # (n,) the involved light chain is kappa (else lambda)
    mixed_chimerism: np.ndarray


# Response codes shared with the course: index into RESPONSES.
RESPONSES = np.array(["sCR", "CR", "VGPR", "PR", "SD", "PD"])
SCR, CR, VGPR, PR, SD, PD = range(6)


def units_by_code() -> dict[str, str]:
    """The one unit each test is reported in, from the form schema (the contract)."""
    return {code: units[0] for code, units in form_schema("laboratory")["x-units-by-code"].items()}


def ctcae_grade(values: np.ndarray, limits: tuple[int, int, int]) -> np.ndarray:
    """CTCAE v3.0 grade 2-4 for a decreasing count (0 when above the grade-2 limit, -1 when missing)."""
    grade = (values[..., None] < np.asarray(limits)).sum(axis=-1) + 1
    grade = np.where(grade == 1, 0, grade)
    return np.where(np.isnan(values), -1, grade)


def platelet_values(rng: np.random.Generator, baseline: np.ndarray, level: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Platelets /mm3 given the baseline, the dose level in effect (-1 off drug) and months since the first dose."""
    noise = rng.normal(0.0, 0.2, size=baseline.shape)
    return baseline * DOSE_FACTOR_PLATELETS[level + 1] * np.exp(0.025 * months + noise)


def neutrophil_values(rng: np.random.Generator, baseline: np.ndarray, level: np.ndarray, months: np.ndarray) -> np.ndarray:
    noise = rng.normal(0.0, 0.22, size=baseline.shape)
    return baseline * DOSE_FACTOR_NEUTROPHILS[level + 1] * np.exp(0.02 * months + noise)


def _format(values: np.ndarray, decimals: int, rounding: int) -> np.ndarray:
    """Numbers -> result strings: integers rounded to `rounding`, or fixed `decimals` decimals."""
    if decimals == 0:
        return (np.round(values / rounding).astype(np.int64) * rounding).astype(str)
    scale = 10 ** decimals
    scaled = np.round(values * scale).astype(np.int64)
    fraction = np.char.zfill((scaled % scale).astype(str), decimals)
    return np.char.add(np.char.add((scaled // scale).astype(str), "."), fraction)


def lab_values(rng: np.random.Generator, course: LabInputs) -> dict[str, np.ndarray]:
    """All simulated results as (subjects, visits) float matrices (NaN where the visit did not happen).

    PLAQ and PNN come from the course (they drove dose decisions); the rest is drawn here.
    """
    n, v = course.visit_date.shape
    held = course.visit_date >= 0
    months = np.clip(course.months, 0, None)
    level = course.level
    drug = (level + 1).clip(0, 3)

    def subject(scale: float) -> np.ndarray:
        return rng.normal(0.0, scale, size=(n, 1))

    def visit(scale: float) -> np.ndarray:
        return rng.normal(0.0, scale, size=(n, v))

    male = course.male[:, None]
    hb = 11.6 + 0.9 * male + subject(0.8) - 0.25 * drug + 0.12 * months + visit(0.45)
    lymph = 900.0 * np.exp(subject(0.45) + 0.05 * months + visit(0.2))
    monocytes = 450.0 * np.exp(subject(0.25) + visit(0.2)) + 100.0
    creat = np.where(male, 82.0, 66.0) * np.exp(subject(0.18) + visit(0.07))
    asat = 24.0 * np.exp(subject(0.3) + visit(0.2))
    alat = 27.0 * np.exp(subject(0.35) + visit(0.22))
    bili = 9.0 * np.exp(subject(0.3) + visit(0.2))
    cd3 = lymph * np.clip(0.72 + subject(0.06) + visit(0.03), 0.4, 0.92)
    cd19 = lymph * np.clip(0.04 + 0.015 * months + subject(0.015), 0.005, 0.3)
    nk = lymph * np.clip(0.16 + 0.03 * drug + subject(0.04), 0.04, 0.45)
    chim = np.where(course.mixed_chimerism[:, None], 88.0 + subject(4.0) + visit(2.0), 99.4 + visit(0.5))
    values = {
        "HB": np.clip(hb, 7.0, 17.5),
        "PNN": course.neutrophils,
        "LYMPH": lymph,
        "LEUCO": course.neutrophils + lymph + monocytes,
        "PLAQ": course.platelets,
        "CREAT": creat,
        "ASAT": asat,
        "ALAT": alat,
        "BILI": bili,
        "CD3": cd3,
        "CD4": cd3 * np.clip(0.33 + subject(0.06), 0.12, 0.6),
        "CD8": cd3 * np.clip(0.58 + subject(0.06), 0.3, 0.8),
        "CD19": cd19,
        "NK": nk,
        "DC": 12.0 * np.exp(subject(0.35) + visit(0.2)),
        "CHIM": np.clip(chim, 50.0, 100.0),
    }
    values.update(light_chains(rng, course))
    return {code: np.where(held, matrix, np.nan) for code, matrix in values.items()}


def light_chains(rng: np.random.Generator, course: LabInputs) -> dict[str, np.ndarray]:
    """M-protein (g/L) and involved/uninvolved free light chains (mg/L) consistent with the response.

    CR and sCR have no detectable M-protein (printed `<1`); a PD value is at least 25 % and 5 g/L above
    the previous one (IMWG progression); sCR has a normal kappa/lambda ratio.
    """
    n, v = course.visit_date.shape
    resp = course.response
    low = np.array([0.0, 0.0, 1.2, 3.5, 6.0, 0.0])
    high = np.array([0.0, 0.0, 3.0, 10.0, 15.0, 0.0])
    code = resp.clip(0, 5)
    mprotein = low[code] + rng.random((n, v)) * (high[code] - low[code])
    previous, previous_status = np.zeros(n), np.full(n, -1)
    for col in range(v):  # a PD value builds on the last measured value (a handful of columns)
        is_pd = resp[:, col] == PD
        rise = np.maximum(previous * 1.3, previous + 5.0) + rng.uniform(0.5, 6.0, size=n)
        rise = np.where(previous_status == PD, previous * rng.uniform(1.0, 1.1, size=n), rise)  # already progressing
        mprotein[:, col] = np.where(is_pd, rise, mprotein[:, col])
        measured = resp[:, col] >= 0
        previous = np.where(measured, mprotein[:, col], previous)
        previous_status = np.where(measured, resp[:, col], previous_status)
    mprotein = np.where(resp < 0, np.nan, mprotein)

    involved_low = np.array([6.0, 15.0, 20.0, 40.0, 60.0, 150.0])
    involved_high = np.array([15.0, 45.0, 80.0, 300.0, 400.0, 900.0])
    involved = involved_low[code] + rng.random((n, v)) * (involved_high[code] - involved_low[code])
    uninvolved = rng.uniform(4.0, 14.0, size=(n, v))
    normal_ratio = resp == SCR
    uninvolved = np.where(normal_ratio, involved / rng.uniform(0.6, 1.3, size=(n, v)), uninvolved)
    kappa = np.where(course.kappa[:, None], involved, uninvolved)
    lam = np.where(course.kappa[:, None], uninvolved, involved)
    return {"PICM": mprotein, "KAPPA": np.where(resp < 0, np.nan, kappa), "LAMBDA": np.where(resp < 0, np.nan, lam)}


def laboratory_rows(rng: np.random.Generator, course: LabInputs, subjects: pd.DataFrame) -> pd.DataFrame:
    """The `laboratory` form for one block: one row per test drawn, ordered by subject, visit, test."""
    values = lab_values(rng, course)
    units = units_by_code()
    sex_low = {"HB": ("12.0", "13.0"), "CREAT": ("44", "62")}  # (female, male) lower limits
    sex_high = {"HB": ("16.0", "17.0"), "CREAT": ("80", "106")}
    parts = []
    for order, test in enumerate(LAB_TESTS):
        for col in PANEL_VISITS[test.panel]:
            taken = ~np.isnan(values[test.code][:, col])
            rows = np.nonzero(taken)[0]
            if not len(rows):
                continue
            raw = values[test.code][rows, col]
            result = _format(raw, test.decimals, test.rounding).astype(object)
            if test.code == "PICM":
                result[raw < 1.0] = "<1"
            male = course.male[rows]
            low = np.full(len(rows), test.low, dtype=object)
            high = np.full(len(rows), test.high, dtype=object)
            if test.code in sex_low:
                low = np.where(male, sex_low[test.code][1], sex_low[test.code][0]).astype(object)
                high = np.where(male, sex_high[test.code][1], sex_high[test.code][0]).astype(object)
            missing = (rng.random(len(rows)) < NOT_DONE_RATE) & test.may_be_missing
            status = np.where(missing, "NOT DONE", "").astype(object)
            reason = np.where(missing, NOT_DONE_REASONS[rng.integers(0, len(NOT_DONE_REASONS), len(rows))], "")
            parts.append(pd.DataFrame({
                "_subject": rows,
                "_visit": col,
                "_test": order,
                "VISIT": VISITS[col],
                "LBDAT": course.visit_date[rows, col],
                "LBCODE": test.code,
                "LBNAME": test.name,
                "LBRES": np.where(missing, "", result),
                "LBUNIT": np.where(missing, "", units[test.code]),
                "LBLOW": np.where(missing, "", low),
                "LBHIGH": np.where(missing, "", high),
                "LBSTAT": status,
                "LBREASND": reason.astype(object),
            }))
    table = pd.concat(parts, ignore_index=True)
    table = table.sort_values(["_subject", "_visit", "_test"], kind="stable", ignore_index=True)
    table["LBDAT"] = table["LBDAT"].to_numpy().astype("datetime64[D]").astype(str)
    table["SITEID"] = subjects["SITEID"].to_numpy()[table["_subject"].to_numpy()]
    table["SUBJID"] = subjects["SUBJID"].to_numpy()[table["_subject"].to_numpy()]
    return table[form_columns("laboratory")]
