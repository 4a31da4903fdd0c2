"""One block of synthetic subjects -> its per-subject state while the months go by (numpy arrays, one entry
per subject), and the bookkeeping verbs the course simulation (`course`) is written in: plan the
visits, add a dosing period, reduce the dose, stop treatment, record an event, draw the blood counts.
"""
from __future__ import annotations

import numpy as np

from trialbridge.converters.synth.adverse_events import NO_DATE, EventBatch, event_batch
from trialbridge.converters.synth.labs import CR, INCLUSION, PR, VISITS, neutrophil_values, platelet_values
from trialbridge.converters.synth.protocol import (
    ENROLMENT_CLOSES, ENROLMENT_OPENS, MAX_PERIODS, REDUCTION, START, whole_days,
)


class BlockState:
    """Mutable state of one block while the months go by (every attribute is a per-subject array)."""

    def __init__(self, rng: np.random.Generator, global_index: np.ndarray, n_total: int) -> None:
        self.rng = rng
        n = self.n = len(global_index)
        self.global_index = global_index
        span = ENROLMENT_CLOSES - ENROLMENT_OPENS
        self.consent = ENROLMENT_OPENS + ((global_index + rng.random(n)) * span / n_total).astype(np.int64)
        self.inclusion = self.consent + whole_days(rng, 0, 7, n)
        self.first_dose = self.inclusion + whole_days(rng, 1, 14, n)
        self.transplant = self.first_dose - whole_days(rng, 100, 120, n)
        self.cap = self.transplant + 365 - whole_days(rng, 0, 2, n)  # one year after transplant, at the latest
        self.male = rng.random(n) < 0.6
        self.age = np.clip(np.round(rng.normal(54.0, 7.0, n)), 18, 65).astype(np.int64)
        consent_month = self.consent.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) + 1970 * 12
        self.birth_month = consent_month - 12 * self.age - whole_days(rng, 1, 11, n)
        self.schedule = self._schedule()
        self.events: list[EventBatch] = []
        # latent marrow reserve: platelets and neutrophils move together
        marrow = rng.normal(0.0, 1.0, n)
        self.platelet_base = np.maximum(150_000 * np.exp(0.5 * (0.7 * marrow + 0.71 * rng.normal(0, 1, n))), 60_000)
        self.neutrophil_base = np.maximum(2_900 * np.exp(0.45 * (0.7 * marrow + 0.71 * rng.normal(0, 1, n))), 1_200)
        shape = (n, len(VISITS))
        self.visit_date = np.full(shape, NO_DATE, dtype=np.int64)
        self.visit_level = np.full(shape, -1, dtype=np.int64)
        self.platelets = np.full(shape, np.nan)
        self.neutrophils = np.full(shape, np.nan)
        self.response = np.full(shape, -1, dtype=np.int64)
        self.response_row = np.zeros(shape, dtype=bool)
        self.period_start = np.full((n, MAX_PERIODS), NO_DATE, dtype=np.int64)
        self.period_level = np.full((n, MAX_PERIODS), -1, dtype=np.int64)
        self.period_reason = np.full((n, MAX_PERIODS), -1, dtype=np.int64)
        self.periods = np.zeros(n, dtype=np.int64)
        self.level = np.zeros(n, dtype=np.int64)
        self.reduced = np.zeros(n, dtype=bool)
        self.on = np.ones(n, dtype=bool)
        self.eot = np.full(n, NO_DATE, dtype=np.int64)
        self.eot_reason = np.full(n, -1, dtype=np.int64)
        self.death = np.full(n, NO_DATE, dtype=np.int64)
        self.death_cause = np.zeros(n, dtype=np.int64)
        self.had_gvhd = np.zeros(n, dtype=bool)
        self.refractory_onset = np.full(n, NO_DATE, dtype=np.int64)  # steroid-refractory GVHD that ended treatment
        self.refractory_type = np.zeros(n, dtype=np.int64)
        self.refractory_grade = np.zeros(n, dtype=np.int64)
        self.first_scr = np.full(n, NO_DATE, dtype=np.int64)
        self.kappa = rng.random(n) < 0.65
        self.mixed_chimerism = rng.random(n) < 0.08
        self.disease_status = np.where(rng.random(n) < 0.35, CR, PR)
        self._add_period(np.ones(n, dtype=bool), self.first_dose, START)
        self._inclusion_visit()

    # --- schedule and bookkeeping ---------------------------------------------------------------------

    def _schedule(self) -> np.ndarray:
        """Planned visit dates: monthly, small jitter; every third month at least 91 days after the last one."""
        rng, n, d1 = self.rng, self.n, self.first_dose
        plan = np.full((n, len(VISITS)), NO_DATE, dtype=np.int64)
        quarter = d1
        for q in range(3):
            monthly = [quarter + 30 + whole_days(rng, -3, 3, n), quarter + 61 + whole_days(rng, -3, 3, n)]
            quarter = quarter + 91 + whole_days(rng, 0, 4, n)
            plan[:, 3 * q + 1], plan[:, 3 * q + 2], plan[:, 3 * q + 3] = monthly[0], monthly[1], quarter
        return plan

    def _add_period(self, who: np.ndarray, start: np.ndarray, reason: int) -> None:
        rows = np.nonzero(who)[0]
        slot = self.periods[rows]
        self.period_start[rows, slot] = start[rows]
        self.period_level[rows, slot] = self.level[rows]
        self.period_reason[rows, slot] = reason
        self.periods[rows] += 1

    def _stop(self, who: np.ndarray, day: np.ndarray, reason: int) -> None:
        who = who & self.on
        self.eot[who] = day[who]
        self.eot_reason[who] = reason
        self.on &= ~who

    def _event(self, who: np.ndarray, term: str | np.ndarray, start: np.ndarray, end: np.ndarray, grade: np.ndarray | int,
               **fields: object) -> None:
        rows = np.nonzero(who)[0]
        if not len(rows):
            return

        def take(value: object) -> object:
            return value[rows] if isinstance(value, np.ndarray) and value.shape == (self.n,) else value

        self.events.append(event_batch(rows, take(term), take(start), take(end), take(grade),
                                       **{key: take(value) for key, value in fields.items()}))

    def _counts(self, who: np.ndarray, col: int, level: np.ndarray, months: np.ndarray) -> None:
        """Draw platelets and neutrophils at a visit, rounded as the laboratory prints them."""
        plt = platelet_values(self.rng, self.platelet_base, level, months)
        anc = neutrophil_values(self.rng, self.neutrophil_base, level, months)
        self.platelets[who, col] = (np.round(plt / 1000) * 1000)[who]
        self.neutrophils[who, col] = (np.round(anc / 10) * 10)[who]

    def _inclusion_visit(self) -> None:
        everyone = np.ones(self.n, dtype=bool)
        self.visit_date[:, INCLUSION] = self.inclusion
        self._counts(everyone, INCLUSION, np.full(self.n, -1), np.zeros(self.n))
        self.platelets[:, INCLUSION] = np.maximum(self.platelets[:, INCLUSION], 55_000)
        self.neutrophils[:, INCLUSION] = np.maximum(self.neutrophils[:, INCLUSION], 1_100)
        self.response[:, INCLUSION] = self.disease_status
        self.response_row[:, INCLUSION] = True

    def _reduce(self, who: np.ndarray, start: np.ndarray) -> None:
        self.level[who] -= 1
        self.reduced |= who
        self._add_period(who, start, REDUCTION)

    def _last_response(self) -> np.ndarray:
        assessed = self.response >= 0
        last = len(VISITS) - 1 - np.argmax(assessed[:, ::-1], axis=1)
        return self.response[np.arange(self.n), last]

    def _previous_visit(self, k: int) -> np.ndarray:
        held = self.visit_date[:, :k] >= 0
        return k - 1 - np.argmax(held[:, ::-1], axis=1)
