"""A variable an SDTMIG domain table does not list, but the SDTM model lets the domain take -> its metadata row.

SDTMIG 3.4 section 2.7 allows any identifier or timing variable of the general observation classes, and any
qualifier of the domain's own class, in a domain whose table does not list it (VISITNUM in DS, AEDTC in AE).
Their metadata comes from the SDTMIG row of the same variable in another domain of the class (`--DTC` as
MHDTC for AE), or of the same name anywhere (VISITNUM); a domain-specific codelist does not carry over.
The variable is placed where the SDTM model puts it: timing variables in the model's timing order among the
domain's own timing variables, other variables before the first timing variable. Its core is Permissible.
"""
from __future__ import annotations

import pandas as pd

SHARED_ROLES = ("Identifier", "Timing")
# SDTM v2.0 general observation timing variables, in model order (stems after the domain prefix; whole names
# for VISITNUM, VISIT, VISITDY, TAETORD, EPOCH).
TIMING_ORDER = ("VISITNUM", "VISIT", "VISITDY", "TAETORD", "EPOCH", "DTC", "STDTC", "ENDTC", "DY", "STDY", "ENDY",
                "NRIND", "DUR", "TPT", "TPTNUM", "ELTM", "TPTREF", "RFTDTC", "STRF", "ENRF", "EVLINT", "EVINTX",
                "STRTPT", "STTPT", "ENRTPT", "ENTPT", "STINT", "ENINT", "DETECT")


def _stem(name: str, domain: str) -> str:
    return name[len(domain):] if name.startswith(domain) and name not in TIMING_ORDER else name


def _timing_rank(name: str, domain: str) -> int:
    stem = _stem(name, domain)
    return TIMING_ORDER.index(stem) if stem in TIMING_ORDER else len(TIMING_ORDER)


def class_variable(ig: pd.DataFrame, own: pd.DataFrame, domain: str, cls: str, name: str) -> pd.Series | None:
    """The metadata row of `name` for a domain (rows `own`, of class `cls`) that does not list it, with a
    `Variable Order` that places it; None when the SDTM model gives the domain no such variable."""
    stem = name[len(domain):] if name.startswith(domain) else ""
    prefixed = ig[ig["Variable Name"].str[:2] == ig["Dataset Name"].str[:2]]
    candidates = []
    if stem:
        same_stem = prefixed[prefixed["Variable Name"].str[2:] == stem]
        candidates.append(same_stem[same_stem["Class"] == cls])
        candidates.append(same_stem[same_stem["Role"].isin(SHARED_ROLES)])
    unprefixed = ig[(ig["Variable Name"] == name) & (ig["Role"].isin(SHARED_ROLES))]
    candidates.append(unprefixed[~unprefixed["Class"].isin(("Trial Design", "Special-Purpose", "Relationship"))])
    found = next((c for c in candidates if not c.empty), None)
    if found is None:
        return None
    row = found.iloc[0].copy()
    row["Variable Name"], row["Core"] = name, "Perm"
    if row["Dataset Name"] != domain and stem:
        row["CDISC CT Codelist Code(s)"] = ""  # another domain's codelist is domain-specific
    row["Dataset Name"] = domain
    row["Variable Order"] = str(_place(own, domain, name, row["Role"]))
    return row


def _place(own: pd.DataFrame, domain: str, name: str, role: str) -> float:
    """A position among the domain's own variables (their IG orders), as the SDTM model orders roles."""
    orders = pd.to_numeric(own["Variable Order"])
    timing = own[own["Role"] == "Timing"]
    if role != "Timing":
        first_timing = pd.to_numeric(timing["Variable Order"]).min() if not timing.empty else orders.max() + 1
        return float(first_timing) - 0.5
    rank = _timing_rank(name, domain)
    later = [int(o) for n, o in zip(timing["Variable Name"], timing["Variable Order"]) if _timing_rank(n, domain) > rank]
    if later:
        return min(later) - 0.5 + rank / 1000
    return float(orders.max()) + 0.5 + rank / 1000
