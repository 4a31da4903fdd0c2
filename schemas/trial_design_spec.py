"""The registry command's SDTM specification: TS, TA, TE, TI from `sdtm/trial-design-spec.json`, each built
from SDTMIG 3.4 metadata exactly as a study spec's datasets are, with TS's value-level metadata (TSVAL per
TSPARMCD, `sdtm/ts-parameters.json`) as convert gives it.

`registry_spec()` is what the registry command's XPT writer, checks and define.xml read. `with_ietest_texts`
adds the full text of every TI criterion that did not fit IETEST to the comment of IETEST (SDTMIG 3.4 TI
assumption 4: the full text goes into the study metadata, here define.xml).
"""
from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache
from typing import Iterable

from trialbridge.schemas.sdtm_spec import StudySpec
from trialbridge.schemas.sdtm_spec_tables import build_dataset, ts_value_level
from trialbridge.schemas.sdtm_standards import schema_text

TRIAL_DESIGN_FILE = ("sdtm", "trial-design-spec.json")
DATASETS = ("TS", "TA", "TE", "TI")


@lru_cache(maxsize=1)
def registry_spec() -> StudySpec:
    """TS, TA, TE and TI, in that order, with their methods."""
    design = json.loads(schema_text(*TRIAL_DESIGN_FILE))
    datasets = {}
    for entry in design["datasets"]:
        datasets[entry["name"]] = build_dataset(entry["name"], entry["name"], entry["variables"], entry["keys"])
    used = {v.method for d in datasets.values() for v in d.variables if v.method}
    value_level = tuple(ts_value_level())
    used |= {v.method for v in value_level if v.method}
    methods = {k: v for k, v in design["methods"].items() if k in used}
    undefined = sorted(used - set(methods))
    if undefined:
        raise ValueError(f"trial-design-spec.json: methods used but not described: {undefined}")
    return StudySpec(datasets=datasets, value_level=value_level, methods=methods)


def with_ietest_texts(spec: StudySpec, full_texts: Iterable[tuple[str, str, str]]) -> StudySpec:
    """`spec` with the full text of every shortened criterion, (IETESTCD, IETEST as written, full text),
    appended to the comment of TI.IETEST (define.xml's CommentDef of the variable)."""
    texts = [f"{code}: {full}" for code, _, full in full_texts]
    if not texts or "TI" not in spec.datasets:
        return spec
    ti = spec.dataset("TI")
    variables = tuple(
        replace(v, comment=f"{v.comment} Full texts of the shortened criteria: " + " | ".join(texts))
        if v.name == "IETEST" else v for v in ti.variables)
    return replace(spec, datasets={**spec.datasets, "TI": replace(ti, variables=variables)})
