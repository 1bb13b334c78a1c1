"""Stage "clinical": symptom totals, dimensions, endpoint, treatment history, biomarkers.

Inputs are the typed tables written by the validate stage; outputs are two Parquet
tables: ``scores`` (one row per patient, visit and instrument) and ``patients`` (one
row per patient: baseline severity, dimensions, endpoint, treatment summary, biomarkers
in canonical units and the inflammatory and metabolic indices).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from stratify.clinical.adequacy import ATRQ_MIN_WEEKS, adequacy_options, assess_trials
from stratify.inputs.harmonise import available_links, harmonise_totals, load_link
from stratify.io.resources import load_resource

log = logging.getLogger(__name__)

VISIT_WINDOW_WEEKS = 2.0
INFLAMMATORY = ("crp", "il6")
# Metabolic-syndrome components available in the input contract (blood pressure is not):
# waist, triglycerides, HDL (inverted), glucose. Lamers et al. 2020 use z-scores of these.
METABOLIC = {"waist": 1.0, "triglycerides": 1.0, "hdl": -1.0, "glucose": 1.0}


TOTAL_ONLY = "total-only"
SCORE_COLUMNS = [
    "patient_id",
    "week",
    "instrument",
    "total",
    "n_units",
    "n_missing",
    "prorated",
    "status",
    "total_only",
]


def split_symptoms(symptoms: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Item rows (``item`` as int) and total rows (``item`` = "total") of a symptoms table.

    The validated table keeps ``item`` as text (an item number, or "total" for a visit that
    keeps only the instrument total); tables built in code may hold ints.

    >>> s = pd.DataFrame({"patient_id": ["P1", "P2"], "week": 0.0, "instrument": "HAMD17",
    ...                   "item": ["3", "Total"], "score": [2.0, 18.0]})
    >>> items, totals = split_symptoms(s)
    >>> items["item"].tolist(), totals["score"].tolist()
    ([3], [18.0])
    """
    text = symptoms["item"].astype(str).str.strip()
    is_total = (text.str.lower() == "total").to_numpy(dtype=bool)
    items = symptoms[~is_total].copy()
    items["item"] = pd.to_numeric(text[~is_total], errors="raise").astype(int)
    return items, symptoms[is_total].copy()


def instrument_totals(symptoms: pd.DataFrame, *, max_missing_items: float = 0.2) -> pd.DataFrame:
    """Total score per patient, visit and instrument with the missing-item policy.

    The total follows the instrument's rule in resources/instruments.yaml (QIDS-SR16
    domains score their highest item). When a share of scoring units (items or domains)
    up to ``max_missing_items`` is missing, the total is prorated
    (``sum * units / units_present``) and flagged; with more missing it is NaN and
    ``status`` says why.

    A visit with only a ``total`` row (item = "total": older trials and registries keep only
    the instrument total) takes that total as it is and is flagged ``total_only`` (its
    ``n_missing`` is NaN: the items are unknown). A visit with item rows uses the items; a
    ``total`` row beside them has been checked against them by validation
    (:func:`stratify.inputs.validate.check_symptom_items`) and is not used again.

    Examples
    --------
    >>> s = pd.DataFrame({"patient_id": "P1", "week": 0.0, "instrument": "QIDS_SR16",
    ...                   "item": range(1, 17), "score": [3, 0, 0, 1] + [1] * 12})
    >>> instrument_totals(s)["total"].item()   # sleep max(3,0,0,1)=3, plus 8 other domains of 1
    11.0
    >>> t = pd.DataFrame({"patient_id": "P2", "week": 0.0, "instrument": "HAMD17", "item": ["total"], "score": [21.0]})
    >>> instrument_totals(t)[["total", "total_only", "status"]].values.tolist()
    [[21.0, True, 'ok']]
    """
    inst = load_resource("instruments.yaml")
    items_df, totals_df = split_symptoms(symptoms)
    frames = []
    for name, df in items_df.groupby("instrument", sort=True):
        spec = inst[name]
        items = sorted(int(i) for i in spec["items"])
        wide = df.pivot_table(index=["patient_id", "week"], columns="item", values="score", aggfunc="first")
        wide = wide.reindex(columns=items)
        groups = spec.get("groups") or [[i] for i in items]
        unit_scores = np.column_stack([wide[g].max(axis=1, skipna=True).to_numpy() for g in groups])
        present = ~np.isnan(unit_scores)
        n_units = len(groups)
        n_present = present.sum(axis=1)
        raw = np.nansum(unit_scores, axis=1)
        share_missing = 1 - n_present / n_units
        ok = share_missing <= max_missing_items + 1e-12
        total = np.where(ok, raw * n_units / np.maximum(n_present, 1), np.nan)
        status = np.where(ok, "ok", "too many missing items")
        out = wide.index.to_frame(index=False)
        out["instrument"] = name
        out["total"] = total
        out["n_units"] = n_units
        out["n_missing"] = (n_units - n_present).astype(float)
        out["prorated"] = ok & (n_present < n_units)
        out["status"] = status
        out["total_only"] = False
        frames.append(out)
    if len(totals_df):
        visit = ["patient_id", "week", "instrument"]
        has_items = totals_df[visit].merge(items_df[visit].drop_duplicates(), on=visit, how="left", indicator=True)
        only = totals_df[(has_items["_merge"] == "left_only").to_numpy()]
        n_units = {k: len(v.get("groups") or v["items"]) for k, v in inst.items()}
        frames.append(
            pd.DataFrame(
                {
                    "patient_id": only["patient_id"].to_numpy(),
                    "week": only["week"].to_numpy(dtype=float),
                    "instrument": only["instrument"].to_numpy(),
                    "total": only["score"].to_numpy(dtype=float),
                    "n_units": only["instrument"].map(n_units).to_numpy(),
                    "n_missing": np.nan,
                    "prorated": False,
                    "status": "ok",
                    "total_only": True,
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    out = pd.concat(frames, ignore_index=True)[SCORE_COLUMNS]
    out["total_only"] = out["total_only"].astype(bool)
    out["prorated"] = out["prorated"].astype(bool)
    return out.sort_values(["instrument", "patient_id", "week"], kind="stable").reset_index(drop=True)


def dimension_definitions(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The literature defaults (resources/dimensions.yaml) updated by ``overrides`` (the config's
    ``clinical.dimensions``)."""
    return {**load_resource("dimensions.yaml"), **(overrides or {})}


def dimension_scores(
    symptoms: pd.DataFrame, *, dimensions: dict[str, Any] | None = None, max_missing_items: float = 0.2
) -> pd.DataFrame:
    """Baseline (week 0) symptom dimensions: sums of items (resources/dimensions.yaml).

    Missing items are prorated under the same policy as totals. A dimension that cannot be
    formed is NaN, and ``dimensions_status`` says why, per patient: "total-only" (the
    baseline of a dimension's instrument is a total without items), "too many missing
    items", "no baseline items" (no week-0 item of the dimension's instrument), or "ok" when
    every dimension was formed. With several reasons the first in that order is given.

    >>> s = pd.DataFrame({"patient_id": ["P1"], "week": [0.0], "instrument": ["HAMD17"], "item": ["total"],
    ...                   "score": [20.0]})
    >>> dimension_scores(s)[["anhedonia", "dimensions_status"]].values.tolist()
    [[nan, 'total-only']]
    """
    dims = dimensions or load_resource("dimensions.yaml")
    items_df, totals_df = split_symptoms(symptoms)
    base = items_df[items_df["week"] == 0]
    base_totals = totals_df[totals_df["week"] == 0]
    pids = pd.unique(symptoms["patient_id"])
    out = pd.DataFrame({"patient_id": pids}).set_index("patient_id")
    reason = {r: pd.Series(False, index=out.index) for r in (TOTAL_ONLY, "too many missing items", "no baseline items")}
    for dname, d in dims.items():
        sub = base[(base["instrument"] == d["instrument"]) & base["item"].isin(d["items"])]
        wide = sub.pivot_table(index="patient_id", columns="item", values="score", aggfunc="first")
        wide = wide.reindex(index=out.index, columns=d["items"])
        n_present = wide.notna().sum(axis=1)
        ok = (1 - n_present / len(d["items"])) <= max_missing_items + 1e-12
        val = wide.sum(axis=1) * len(d["items"]) / n_present.clip(lower=1)
        out[dname] = val.where(ok)
        with_items = set(base.loc[base["instrument"] == d["instrument"], "patient_id"])
        total_only = out.index.isin(
            list(set(base_totals.loc[base_totals["instrument"] == d["instrument"], "patient_id"]) - with_items)
        )
        missing = out[dname].isna().to_numpy()
        reason[TOTAL_ONLY] |= missing & total_only
        reason["too many missing items"] |= missing & (n_present > 0).to_numpy()
        reason["no baseline items"] |= missing & ~total_only & (n_present == 0).to_numpy()
    status = pd.Series("ok", index=out.index, dtype=object)
    for r in reversed(list(reason)):
        status[reason[r]] = r
    out["anxious_depression"] = (out["anxiety_somatization"] >= 7).where(out["anxiety_somatization"].notna())
    out["dimensions_status"] = status
    return out.reset_index()


def endpoint_outcomes(totals: pd.DataFrame, *, instrument: str, week: float) -> pd.DataFrame:
    """Baseline, follow-up, percent change, response (>= 50%) and remission per patient.

    The follow-up is the visit closest to ``week`` within +-2 weeks (the later one on a
    tie). Patients without it keep a row with NaN outcome and ``endpoint_status`` saying
    why.
    """
    inst = load_resource("instruments.yaml")[instrument]
    t = totals[totals["instrument"] == instrument]
    pids = pd.unique(totals["patient_id"])
    res = pd.DataFrame({"patient_id": pids}).set_index("patient_id")
    b = t[t["week"] == 0].set_index("patient_id")["total"]
    res["baseline_severity"] = b
    in_window = t[(t["week"] - week).abs() <= VISIT_WINDOW_WEEKS]
    incomplete = set(in_window.loc[in_window["total"].isna(), "patient_id"])
    fu = in_window[in_window["total"].notna()].copy()
    fu["dist"] = (fu["week"] - week).abs()
    fu = fu.sort_values(["patient_id", "dist", "week"], ascending=[True, True, False])
    fu = fu.drop_duplicates("patient_id").set_index("patient_id")
    res["endpoint_week"] = fu["week"]
    res["endpoint_score"] = fu["total"]
    if "converted_from" in t.columns:
        conv = t[t["converted_from"] != ""].drop_duplicates("patient_id").set_index("patient_id")
        res["endpoint_converted_from"] = conv["converted_from"].reindex(res.index).fillna("")
        res["endpoint_conversion_source"] = conv["conversion_source"].reindex(res.index).fillna("")
    res["pct_change"] = 100 * (res["baseline_severity"] - res["endpoint_score"]) / res["baseline_severity"]
    res.loc[res["baseline_severity"] == 0, "pct_change"] = np.nan
    res["response"] = (res["pct_change"] >= 50).astype(float).where(res["pct_change"].notna())
    res["remission"] = (
        (res["endpoint_score"] <= inst["remission_max"]).astype(float).where(res["endpoint_score"].notna())
    )
    status = pd.Series("ok", index=res.index, dtype=object)
    no_fu = res["endpoint_score"].isna()
    status[no_fu] = f"no {instrument} total within {VISIT_WINDOW_WEEKS:g} weeks of week {week:g}"
    status[no_fu & res.index.isin(list(incomplete))] = (
        f"{instrument} follow-up near week {week:g} has too many missing items"
    )
    status[res["baseline_severity"].isna()] = f"no {instrument} total at week 0"
    if t.empty and len(totals):
        have = ", ".join(sorted(totals["instrument"].astype(str).unique()))
        status[:] = (
            f"the symptoms table has no {instrument} scores (it has {have}); set endpoint.instrument to one "
            f"of them, or convert with clinical.harmonise"
        )
    status[(res["baseline_severity"] == 0)] = f"{instrument} baseline total is 0"
    res["endpoint_status"] = status
    # an outcome is only defined relative to a usable baseline
    res.loc[status != "ok", ["pct_change", "response", "remission"]] = np.nan
    return res.reset_index()


def harmonised_endpoint_totals(
    totals: pd.DataFrame, *, instrument: str, harmonise: dict[str, Any] | None
) -> pd.DataFrame:
    """Totals plus, for patients with no ``instrument`` total at all, converted stand-ins.

    ``harmonise`` is the config's ``clinical.harmonise``: ``from`` lists the instruments
    that may stand in for the endpoint instrument, in order of preference; ``links`` adds
    user linking tables (see :mod:`stratify.inputs.harmonise`). A patient with any ``instrument``
    row (even one with too many missing items) keeps their own scores; otherwise every
    visit of the first listed instrument they have is converted and appended as an
    ``instrument`` row with ``converted_from`` and ``conversion_source`` filled. Native rows
    get ``converted_from`` "". Without ``harmonise`` the table is returned with the two
    columns empty.

    Examples
    --------
    >>> t = pd.DataFrame({"patient_id": ["P1", "P2", "P2"], "week": [0.0, 0.0, 8.0],
    ...                   "instrument": ["HAMD17", "QIDS_SR16", "QIDS_SR16"], "total": [20.0, 14.0, 5.0],
    ...                   "n_units": [17, 9, 9], "n_missing": 0, "prorated": False, "status": "ok"})
    >>> out = harmonised_endpoint_totals(t, instrument="HAMD17", harmonise={"from": ["QIDS_SR16"]})
    >>> h = out[out["instrument"] == "HAMD17"]
    >>> h[["patient_id", "week", "total", "converted_from"]].values.tolist()
    [['P1', 0.0, 20.0, ''], ['P2', 0.0, 18.5, 'QIDS_SR16'], ['P2', 8.0, 7.0, 'QIDS_SR16']]
    """
    out = totals.assign(converted_from="", conversion_source="")
    if not harmonise or totals.empty:
        return out
    links = available_links(
        [
            load_link(ln["path"], from_instrument=ln["from"], to_instrument=ln["to"], source=ln["source"])
            for ln in harmonise.get("links", [])
        ]
    )
    done = set(totals.loc[totals["instrument"] == instrument, "patient_id"])
    extra = []
    for inst in harmonise["from"]:
        rows = totals[(totals["instrument"] == inst) & ~totals["patient_id"].isin(done)]
        if rows.empty:
            continue
        conv = harmonise_totals(rows, target=instrument, links=links)
        conv = conv.assign(
            instrument=instrument,
            total=conv[f"total_{instrument}"],
            status=np.where(conv["converted"], conv["status"], conv["conversion_source"]),
        )
        extra.append(conv[out.columns])
        done |= set(rows["patient_id"])
    if extra:
        out = pd.concat([out, *extra], ignore_index=True)
    return out


def treatment_summary(treatments: pd.DataFrame, *, adequate_weeks: float = 4.0, **adequacy: Any) -> pd.DataFrame:
    """Per patient: trials in the current episode, failed adequate trials, index treatment.

    ``n_failed_trials`` counts the trials that :func:`stratify.clinical.adequacy.assess_trials`
    marks ``failed`` (adequate dose and duration, or enough sessions, and < 25%
    reduction; Sforzini et al. 2021) in the current (highest-numbered) episode, before
    the prospective (index) trial. It is the same count the trd stage's Sforzini
    definition uses (``sforzini_2021_n_failed``), except that trials of unknown adequacy
    are not counted here: ``n_uncertain_failures`` counts them (non-response trials whose
    adequacy cannot be judged, e.g. no dose recorded). ``adequate_weeks`` and
    ``adequacy`` (``min_psychotherapy_sessions``, ``min_sessions``, ``doses``) are passed
    to ``assess_trials``; see :func:`stratify.clinical.adequacy.adequacy_options`.
    """
    classes = load_resource("drugs.yaml")
    cols = [
        "patient_id",
        "n_trials_current_episode",
        "n_failed_trials",
        "n_uncertain_failures",
        "index_agent",
        "index_class",
        "index_ssri_snri",
        "index_escitalopram_citalopram",
    ]
    if treatments.empty:
        return pd.DataFrame(columns=cols)
    t = treatments.reset_index(drop=True)
    judged = assess_trials(t, min_weeks=adequate_weeks, **adequacy)
    uncertain = judged["adequate"].isna() & (judged["outcome_class"] == "nonresponse")
    t = t.assign(
        current=judged["current_episode"].to_numpy(),
        failed=judged["failed"].to_numpy(),
        uncertain=uncertain.fillna(False).astype(bool).to_numpy(),
    )
    pro = t["prospective"].fillna(False).astype(bool)
    # trials that started after the index trial are follow-up information, not history
    idx_pos = t[pro].set_index("patient_id")[["episode", "trial"]]
    ep_i = t["patient_id"].map(idx_pos["episode"])
    tr_i = t["patient_id"].map(idx_pos["trial"])
    after_index = ~pro & ep_i.notna() & ((t["episode"] > ep_i) | ((t["episode"] == ep_i) & (t["trial"] > tr_i)))
    t = t[~after_index.fillna(False).astype(bool)]
    pro = pro[t.index]
    t = t.assign(failed=t["failed"] & t["current"], uncertain=t["uncertain"] & t["current"])
    g = t[~pro].groupby("patient_id")
    out = pd.DataFrame(
        {
            "n_trials_current_episode": g["current"].sum(),
            "n_failed_trials": g["failed"].sum(),
            "n_uncertain_failures": g["uncertain"].sum(),
        }
    )
    idx = t[pro].set_index("patient_id")
    out = out.reindex(pd.unique(t["patient_id"])).fillna(0).astype(int)
    out["index_agent"] = idx["agent"]
    out["index_class"] = out["index_agent"].map(lambda a: classes.get(a, "unknown") if isinstance(a, str) else None)
    out["index_ssri_snri"] = out["index_class"].isin(["ssri", "snri"]).astype(float).where(out["index_agent"].notna())
    out["index_escitalopram_citalopram"] = (
        out["index_agent"].isin(["escitalopram", "citalopram"]).astype(float).where(out["index_agent"].notna())
    )
    out.index.name = "patient_id"
    return out.reset_index()[cols]


CRP_POLICIES = ("exclude", "keep", "other_visit")


def biomarker_values(
    biomarkers: pd.DataFrame, *, crp_acute_mg_l: float = 10.0, crp_acute_policy: str = "exclude"
) -> pd.DataFrame:
    """Biomarkers at baseline in canonical units (CRP in mg/L), one column per marker.

    Values below the detection limit are kept at the limit and flagged
    (``<marker>_below_detection``); they are neither zero nor dropped. The baseline value
    is the visit closest to week 0. CRP above ``crp_acute_mg_l`` suggests an acute
    infection (facts.md §4) and is flagged (``crp_acute``); ``crp_acute_policy`` says what
    happens next:

    * ``exclude`` (default): the value stays in ``crp_mg_l`` but is left out of ``log_crp``,
      the inflammatory index and the NESDA strata;
    * ``keep``: it is used like any other value (the flag remains);
    * ``other_visit``: the closest other visit with CRP at or below the threshold is used
      (``crp_visit`` says which); without one the value is excluded as above.
    """
    if crp_acute_policy not in CRP_POLICIES:
        raise ValueError(f"crp_acute_policy must be one of {CRP_POLICIES}")
    units = load_resource("biomarker_units.yaml")
    if biomarkers.empty:
        return pd.DataFrame(columns=["patient_id"])
    b = biomarkers.copy()
    b["factor"] = [units[m]["units"][u] for m, u in zip(b["marker"], b["unit"])]
    b["canonical"] = b["value"] * b["factor"]
    # baseline: the visit closest to week 0 (for CRP under "other_visit": the closest
    # non-acute visit when there is one)
    b["dist"] = b["week"].abs()
    b["acute"] = (b["marker"] == "crp") & (b["canonical"] > crp_acute_mg_l)
    order = (
        ["patient_id", "marker", "acute", "dist"]
        if crp_acute_policy == "other_visit"
        else ["patient_id", "marker", "dist"]
    )
    b = b.sort_values(order).drop_duplicates(["patient_id", "marker"])
    wide = b.pivot(index="patient_id", columns="marker", values="canonical")
    cens = b.pivot(index="patient_id", columns="marker", values="below_detection")
    out = pd.DataFrame(index=wide.index)
    for m in units:
        out[m] = wide.get(m, np.nan)
        out[f"{m}_below_detection"] = cens[m].astype("boolean") if m in cens else pd.NA
    out = out.rename(columns={"crp": "crp_mg_l"})
    visits = b[b["marker"] == "crp"].set_index("patient_id")["week"]
    out["crp_visit"] = visits.reindex(out.index)
    out["crp_acute"] = (out["crp_mg_l"] > crp_acute_mg_l).where(out["crp_mg_l"].notna())
    acute = out["crp_acute"].fillna(False).astype(bool)
    crp_use = out["crp_mg_l"] if crp_acute_policy == "keep" else out["crp_mg_l"].where(~acute)
    out["log_crp"] = _log(crp_use)
    out["crp_band"] = pd.cut(out["crp_mg_l"], [-np.inf, 1, 3, np.inf], labels=["<=1", "1-3", ">3"]).astype(object)
    return out.reset_index()


def _log(x: pd.Series) -> pd.Series:
    """Natural log; values <= 0 (which validation rejects in input files) become missing."""
    return np.log(x.where(x > 0))


def _z(x: pd.Series) -> pd.Series:
    sd = x.std()
    return (x - x.mean()) / sd if sd and np.isfinite(sd) else x * np.nan


def immune_metabolic_indices(bio: pd.DataFrame) -> pd.DataFrame:
    """Inflammatory index (mean z of log CRP and log IL-6) and metabolic index (mean z of
    log waist, log triglycerides, -log HDL, log glucose), Lamers et al. 2020 style.

    An index needs at least half of its components; z-scores are within the cohort.
    """
    out = bio[["patient_id"]].copy()
    infl = pd.DataFrame({"crp": _z(bio["log_crp"]), "il6": _z(_log(bio["il6"]))})
    out["inflammatory_index"] = infl.mean(axis=1).where(infl.notna().sum(axis=1) >= 1)
    met = pd.DataFrame({m: s * _z(_log(bio[m])) for m, s in METABOLIC.items()})
    out["metabolic_index"] = met.mean(axis=1).where(met.notna().sum(axis=1) >= 2)
    return out


def immune_metabolic_score(patients: pd.DataFrame) -> pd.Series:
    """One number for the immuno-metabolic depression profile (Milaneschi et al. 2020):
    the mean of the cohort z-scores of its three domains, ``inflammatory_index``,
    ``metabolic_index`` and ``aes`` (atypical energy-related symptoms), equal weights.
    It needs at least two of the three. stratify's composite, not a published score; it
    lets a model use the profile as one feature rather than rebuild it from three.

    >>> d = pd.DataFrame({"inflammatory_index": [1.0, 0.0, -1.0], "metabolic_index": [1.0, 0.0, -1.0],
    ...                   "aes": [3.0, np.nan, 1.0]})
    >>> immune_metabolic_score(d).round(3).tolist()   # the z-scores of aes are 0.707 and -0.707
    [0.902, 0.0, -0.902]
    >>> immune_metabolic_score(d.assign(metabolic_index=[1.0, np.nan, -1.0])).isna().tolist()
    [False, True, False]
    """
    z = pd.DataFrame({c: _z(patients[c]) for c in ("inflammatory_index", "metabolic_index", "aes") if c in patients})
    return z.mean(axis=1).where(z.notna().sum(axis=1) >= 2)


def nesda_strata(crp_mg_l: pd.Series, aes: pd.Series) -> pd.Series:
    """NESDA pragmatic immune-metabolic strata: CRP <=1 / 1-3 / >3 by AES <=3 / 4-5 / >=6."""
    c = pd.cut(crp_mg_l, [-np.inf, 1, 3, np.inf], labels=["CRP<=1", "CRP1-3", "CRP>3"])
    a = pd.cut(aes, [-np.inf, 3.5, 5.5, np.inf], labels=["AES<=3", "AES4-5", "AES>=6"])
    s = c.astype(str) + " & " + a.astype(str)
    return s.where(c.notna() & a.notna())


def clinical_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of :func:`clinical_tables` from a validated config (the one place the
    clinical stage reads it): the endpoint's ``instrument`` and ``week``, the ``clinical``
    keys, ``patient_covariates``, and the adequacy options of
    :func:`stratify.clinical.adequacy.adequacy_options`."""
    cc, ep = config["clinical"], config["endpoint"]
    return {
        "instrument": ep["instrument"],
        "week": ep["week"],
        "max_missing_items": cc["max_missing_items"],
        "crp_acute_mg_l": cc["crp_acute_mg_l"],
        "crp_acute_policy": cc["crp_acute_policy"],
        "dimensions": dimension_definitions(cc.get("dimensions")),
        "harmonise": cc.get("harmonise"),
        "covariates": tuple(config.get("patient_covariates", [])),
        "adequacy": adequacy_options(config),
    }


def clinical_tables(
    tables: Mapping[str, pd.DataFrame],
    *,
    instrument: str,
    week: float,
    max_missing_items: float,
    crp_acute_mg_l: float,
    crp_acute_policy: str,
    dimensions: Mapping[str, Any],
    harmonise: Mapping[str, Any] | None = None,
    covariates: tuple[str, ...] = (),
    adequacy: Mapping[str, Any] | None = None,
) -> dict[str, pd.DataFrame]:
    """Run the clinical stage on validated tables; returns ``scores`` and ``patients``.

    The endpoint is ``instrument`` at ``week``; ``dimensions`` as from
    :func:`dimension_definitions`; ``harmonise`` the config's ``clinical.harmonise``;
    ``covariates`` extra patient columns kept; ``adequacy`` the keyword arguments of
    :func:`stratify.clinical.adequacy.assess_trials`. :func:`clinical_options` gives them all
    from a config.
    """
    keep = ["patient_id", "site", "age", "sex", "diagnosis", "episode_months", *covariates]
    patients = tables["patients"][[c for c in keep if c in tables["patients"].columns]].copy()
    totals = instrument_totals(tables["symptoms"], max_missing_items=max_missing_items)
    log.info(
        "totals: %d visits x instruments, %d prorated, %d missing",
        len(totals),
        int(totals["prorated"].sum()),
        int(totals["total"].isna().sum()),
    )
    dims = dimension_scores(tables["symptoms"], dimensions=dict(dimensions), max_missing_items=max_missing_items)
    if totals["total_only"].any():
        log.info(
            "totals: %d visits of %d patients keep only an instrument total (total-only): their symptom "
            "dimensions are missing",
            int(totals["total_only"].sum()),
            totals.loc[totals["total_only"], "patient_id"].nunique(),
        )
    totals = harmonised_endpoint_totals(totals, instrument=instrument, harmonise=harmonise)
    if not (totals["instrument"] == instrument).any() and len(totals):
        log.warning(
            "endpoint.instrument %s: the symptoms table has no %s scores (it has %s); no patient has the "
            "endpoint. Set endpoint.instrument to one of those, or convert with clinical.harmonise",
            instrument,
            instrument,
            ", ".join(sorted(totals["instrument"].unique())),
        )
    endp = endpoint_outcomes(totals, instrument=instrument, week=week)
    opts = dict(adequacy or {})
    treat = treatment_summary(tables["treatments"], adequate_weeks=opts.pop("min_weeks", ATRQ_MIN_WEEKS), **opts)
    bio = biomarker_values(tables["biomarkers"], crp_acute_mg_l=crp_acute_mg_l, crp_acute_policy=crp_acute_policy)
    out = patients.merge(endp, on="patient_id", how="left")
    out["endpoint_status"] = out["endpoint_status"].fillna("no symptom scores")
    out = out.merge(dims, on="patient_id", how="left").merge(treat, on="patient_id", how="left")
    if "n_failed_trials" in out:
        out["trd_2plus_failures"] = (out["n_failed_trials"] >= 2).astype(float).where(out["n_failed_trials"].notna())
    if len(bio.columns) > 1:
        idx = immune_metabolic_indices(bio)
        out = out.merge(bio, on="patient_id", how="left").merge(idx, on="patient_id", how="left")
        acute = out["crp_acute"].fillna(False).astype(bool)
        crp_ok = out["crp_mg_l"] if crp_acute_policy == "keep" else out["crp_mg_l"].where(~acute)
        out["nesda_stratum"] = nesda_strata(crp_ok, out["aes"])
        out["immune_metabolic_score"] = immune_metabolic_score(out)
    out["sex_female"] = (out["sex"] == "F").astype(float)
    own = totals[totals["converted_from"] == ""]
    n_to = own[own["total_only"]].groupby("patient_id").size()
    out["n_total_only_visits"] = out["patient_id"].map(n_to).fillna(0).astype(int)
    return {"scores": totals, "patients": out}


def clinical_counts(scores: pd.DataFrame, patients: pd.DataFrame) -> dict[str, Any]:
    """Counts for the clinical summary.json (and the report): total-only visits and patients,
    and per reason the patients whose symptom dimensions are missing.

    >>> sc = pd.DataFrame({"patient_id": ["P1", "P1", "P2"], "total_only": [True, True, False],
    ...                    "converted_from": ""})
    >>> pa = pd.DataFrame({"patient_id": ["P1", "P2"], "dimensions_status": ["total-only", "ok"]})
    >>> clinical_counts(sc, pa)
    {'total_only_visits': 2, 'total_only_patients': 1, 'dimensions_missing': {'total-only': 1}}
    """
    own = scores[scores["converted_from"] == ""] if "converted_from" in scores else scores
    to = own[own["total_only"].astype(bool)] if "total_only" in own else own.iloc[:0]
    status = patients["dimensions_status"] if "dimensions_status" in patients else pd.Series([], dtype=object)
    missing = status[status.notna() & (status != "ok")].value_counts()
    return {
        "total_only_visits": int(len(to)),
        "total_only_patients": int(to["patient_id"].nunique()),
        "dimensions_missing": {str(k): int(v) for k, v in missing.items()},
    }
