"""Simulated clinical data: sites, latent symptom traits, symptom items and biomarkers.

Symptom items of three instruments (HAMD-17, QIDS-SR16, IDS-SR30) are driven by latent
traits (:data:`ITEM_MODEL`): overall severity, anhedonia, anxiety and atypical
energy-related symptoms, the last shifted in the immune-metabolic subgroup. Markers
(:data:`MARKERS`) are drawn on the log scale in canonical units and reported in each site's
units (:data:`SITES`), CRP below the site's detection limit as ``<limit``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stratify.io.resources import load_resource

# Sites: (name, share of patients, ancestry, CRP unit, lipid/glucose unit, CRP detection limit in mg/L)
SITES = [
    ("site_A", 0.35, "EUR", "mg/L", "mmol/L", 0.2),
    ("site_B", 0.25, "EUR", "mg/dL", "mg/dL", 0.3),
    ("site_C", 0.20, "EAS", "nmol/L", "mmol/L", 0.2),
    ("site_D", 0.20, "AFR", "mg/L", "mg/dL", 0.1),
]

# Item model: instrument -> item -> (mean, severity loading, dimension, dimension loading)
_GEN, _ANH, _AES, _ANX = "gen", "anh", "aes", "anx"
ITEM_MODEL = {
    "HAMD17": {
        1: (2.2, 0.5, _GEN, 0),
        2: (1.5, 0.4, _GEN, 0),
        3: (0.8, 0.4, _GEN, 0),
        4: (1.2, 0.3, _AES, -0.3),
        5: (1.1, 0.3, _AES, -0.3),
        6: (1.0, 0.3, _AES, -0.3),
        7: (2.2, 0.4, _ANH, 0.6),
        8: (0.9, 0.3, _ANH, 0.3),
        9: (0.9, 0.3, _GEN, 0),
        10: (1.7, 0.3, _ANX, 0.6),
        11: (1.4, 0.3, _ANX, 0.5),
        12: (0.9, 0.3, _AES, -0.3),
        13: (1.3, 0.3, _AES, 0.4),
        14: (1.1, 0.3, _ANH, 0.3),
        15: (0.7, 0.3, _ANX, 0.3),
        16: (0.6, 0.3, _AES, -0.4),
        17: (0.2, 0.2, _GEN, 0),
    },
    "QIDS_SR16": {
        1: (1.2, 0.3, _AES, -0.3),
        2: (1.3, 0.3, _AES, -0.3),
        3: (1.1, 0.3, _AES, -0.3),
        4: (0.5, 0.2, _AES, 0.9),
        5: (1.8, 0.4, _GEN, 0),
        6: (0.8, 0.3, _AES, -0.5),
        7: (0.4, 0.2, _AES, 0.9),
        8: (0.6, 0.3, _AES, -0.5),
        9: (0.4, 0.2, _AES, 0.9),
        10: (1.6, 0.4, _GEN, 0),
        11: (1.4, 0.4, _GEN, 0),
        12: (0.7, 0.4, _GEN, 0),
        13: (1.5, 0.4, _ANH, 0.7),
        14: (1.6, 0.4, _AES, 0.6),
        15: (1.2, 0.3, _ANH, 0.3),
        16: (0.9, 0.3, _ANX, 0.4),
    },
    "IDS_SR30": {
        1: (1.2, 0.3, _AES, -0.3),
        2: (1.3, 0.3, _AES, -0.3),
        3: (1.1, 0.3, _AES, -0.3),
        4: (0.6, 0.2, _AES, 0.9),
        5: (1.8, 0.4, _GEN, 0),
        6: (1.3, 0.3, _ANX, 0.3),
        7: (1.4, 0.3, _ANX, 0.6),
        8: (1.2, 0.4, _ANH, 0.4),
        9: (1.0, 0.3, _GEN, 0),
        10: (1.3, 0.4, _GEN, 0),
        11: (0.9, 0.3, _AES, -0.5),
        12: (0.5, 0.2, _AES, 0.9),
        13: (0.7, 0.3, _AES, -0.5),
        14: (0.5, 0.2, _AES, 0.9),
        15: (1.6, 0.4, _GEN, 0),
        16: (1.4, 0.4, _GEN, 0),
        17: (1.5, 0.4, _GEN, 0),
        18: (0.7, 0.4, _GEN, 0),
        19: (1.4, 0.4, _ANH, 0.7),
        20: (1.5, 0.4, _AES, 0.6),
        21: (1.4, 0.4, _ANH, 0.7),
        22: (1.2, 0.3, _ANH, 0.6),
        23: (1.1, 0.3, _ANH, 0.3),
        24: (0.9, 0.3, _ANX, 0.4),
        25: (1.0, 0.3, _GEN, 0),
        26: (0.9, 0.3, _ANX, 0.5),
        27: (0.6, 0.3, _ANX, 0.5),
        28: (0.6, 0.3, _GEN, 0),
        29: (1.0, 0.3, _GEN, 0),
        30: (0.8, 0.3, _AES, 0.8),
    },
}

# Markers on the natural-log scale in canonical units: (mean, sd, shift in the subgroup)
MARKERS = {
    "crp": (np.log(1.2), 0.7, 1.1),
    "il6": (np.log(1.5), 0.45, 0.8),
    "tnf_alpha": (np.log(2.0), 0.35, 0.35),
    "bmi": (np.log(25.5), 0.13, 0.20),
    "waist": (np.log(90.0), 0.11, 0.14),
    "triglycerides": (np.log(1.3), 0.35, 0.45),
    "hdl": (np.log(1.4), 0.22, -0.25),
    "glucose": (np.log(5.2), 0.09, 0.10),
}

INSTRUMENTS = ("HAMD17", "QIDS_SR16", "IDS_SR30")


def latent_traits(rng: np.random.Generator, n: int, im: np.ndarray) -> dict[str, np.ndarray]:
    """Latent symptom traits by key: ``sev`` (severity), ``anh`` (anhedonia), ``anx`` (anxiety),
    ``aes`` (atypical energy-related symptoms, shifted by 1.6 in the immune-metabolic subgroup
    ``im``) and ``gen`` (zero: items loading on severity only)."""
    return {
        "sev": rng.normal(0, 1, n),
        _ANH: rng.normal(0, 1, n),
        _ANX: rng.normal(0, 1, n),
        _AES: rng.normal(0, 0.5, n) + np.where(im, 1.6, 0.0),
        _GEN: np.zeros(n),
    }


def _items(rng, n, latent, instrument, reduction=None, base_latent=None):
    """Item scores (n x items) for an instrument; with ``reduction`` the follow-up visit."""
    model = ITEM_MODEL[instrument]
    maxes = {int(k): v["max"] for k, v in load_resource("instruments.yaml")[instrument]["items"].items()}
    out, lat = {}, {}
    for item, (mu, l_sev, dim, l_dim) in model.items():
        if reduction is None:
            x = mu + l_sev * latent["sev"] + l_dim * latent[dim] + rng.normal(0, 0.55, n)
        else:
            x = base_latent[item] * (1 - reduction) + rng.normal(0, 0.35, n)
        lat[item] = x
        out[item] = np.clip(np.rint(x), 0, maxes[item]).astype(int)
    return out, lat


def baseline_items(rng: np.random.Generator, n: int, latent: dict[str, np.ndarray]):
    """Week-0 item scores of every instrument, and the latent item values they were rounded from."""
    base, base_lat = {}, {}
    for inst in INSTRUMENTS:
        base[inst], base_lat[inst] = _items(rng, n, latent, inst)
    return base, base_lat


def anhedonia_z(base: dict[str, dict[int, np.ndarray]]) -> np.ndarray:
    """The measured baseline anhedonia score (sum of its items in resources/dimensions.yaml),
    z-scored within the cohort: the score the clinical stage computes, before the sporadic
    missing self-report items are dropped."""
    dim = load_resource("dimensions.yaml")["anhedonia"]
    x = sum(base[dim["instrument"]][int(i)] for i in dim["items"]).astype(float)
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros(len(x))


def follow_up_items(
    rng: np.random.Generator, latent, base, base_lat, *, responder: np.ndarray, reduction: np.ndarray
) -> dict[str, dict[int, np.ndarray]]:
    """Week-8 item scores of every instrument after a symptom ``reduction`` per patient.

    The HAMD-17 follow-up is redrawn until its observed response (>= 50% reduction) equals the
    planned one (``responder``), so the endpoint carries exactly the planted signal and nothing
    else (rounding of items at low baseline severity would otherwise add a little); the other
    instruments follow with the reductions that made it so.
    """
    n = len(responder)
    h0 = sum(base["HAMD17"].values())
    fu = {}
    fu["HAMD17"], _ = _items(rng, n, latent, "HAMD17", reduction=reduction, base_latent=base_lat["HAMD17"])
    for _ in range(200):
        h8 = sum(fu["HAMD17"].values())
        bad = ((h0 - h8) / np.maximum(h0, 1) >= 0.5) != responder
        if not bad.any():
            break
        r_new = np.where(responder, rng.uniform(0.55, 0.95, n), rng.uniform(-0.15, 0.42, n))
        reduction = np.where(bad, r_new, reduction)
        redo, _ = _items(rng, n, latent, "HAMD17", reduction=reduction, base_latent=base_lat["HAMD17"])
        fu["HAMD17"] = {i: np.where(bad, redo[i], v) for i, v in fu["HAMD17"].items()}
    for inst in ("QIDS_SR16", "IDS_SR30"):
        fu[inst], _ = _items(rng, n, latent, inst, reduction=reduction, base_latent=base_lat[inst])
    return fu


def symptom_table(rng: np.random.Generator, pid: np.ndarray, base, fu, *, dropout: np.ndarray) -> pd.DataFrame:
    """The symptoms table: every item at week 0, and at week 8 for those who did not drop out;
    a few self-report items (0.6%) missing at random (prorated downstream)."""
    n = len(pid)
    sym_frames = []
    for inst in INSTRUMENTS:
        for week, sc in ((0, base[inst]), (8, fu[inst])):
            for item, vals in sc.items():
                keep = np.ones(n, dtype=bool) if week == 0 else ~dropout
                sym_frames.append(
                    pd.DataFrame(
                        {"patient_id": pid[keep], "week": week, "instrument": inst, "item": item, "score": vals[keep]}
                    )
                )
    symptoms = pd.concat(sym_frames, ignore_index=True)
    # sporadic missing self-report items (prorated downstream); HAMD-17 items are kept
    drop_item = (rng.random(len(symptoms)) < 0.006) & (symptoms["instrument"] != "HAMD17").to_numpy()
    return (
        symptoms[~drop_item]
        .sort_values(["patient_id", "week", "instrument", "item"], kind="stable")
        .reset_index(drop=True)
    )


def _reported(m: str, x: float, site: tuple, units: dict) -> tuple[str, str]:
    """A marker value in canonical units as the site reports it: (value text, unit)."""
    unit = units[m]["canonical"]
    if m == "crp":
        unit = site[3]
    elif m in ("triglycerides", "hdl", "glucose"):
        unit = site[4]
    factor = units[m]["units"][unit]
    v = x / factor
    if m == "crp" and x < site[5]:
        return f"<{site[5] / factor:.3g}", unit
    return (f"{v:.3g}" if v < 100 else f"{v:.1f}"), unit


def biomarker_table(
    rng: np.random.Generator, pid: np.ndarray, site_idx: np.ndarray, im: np.ndarray, *, null: bool
) -> pd.DataFrame:
    """The biomarkers table at week 0: every marker of :data:`MARKERS` (shifted in the subgroup
    ``im`` unless ``null``), 3% missing per marker, CRP of an intercurrent infection (15-60 mg/L)
    in 2% of patients, in the units of each patient's site."""
    n = len(pid)
    units = load_resource("biomarker_units.yaml")
    bio = []
    acute = rng.random(n) < 0.02  # intercurrent infection: CRP far above 10 mg/L
    for m, (mu, sd, shift) in MARKERS.items():
        x = np.exp(rng.normal(mu, sd, n) + (0 if null else shift) * im)
        if m == "crp":
            x = np.where(acute, rng.uniform(15, 60, n), x)
        present = rng.random(n) > 0.03
        for i in np.flatnonzero(present):
            value, unit = _reported(m, x[i], SITES[site_idx[i]], units)
            bio.append((pid[i], 0.0, m, value, unit))
    return pd.DataFrame(bio, columns=["patient_id", "week", "marker", "value", "unit"])


#: Null kinds of ``stratify simulate --null`` (docs/simulation.md): ``hard`` (default) and
#: ``gaussian`` (the null twin of earlier versions).
NULL_KINDS = ("hard", "gaussian")
#: Hard null: loadings of each latent trait on the shared continuum ``f`` (the rest is its own noise).
HARD_LOADINGS = {"sev": 0.5, _ANH: 0.7, _ANX: 0.3, _AES: 0.7}
#: Hard null: log-scale SD of the log-normal inflammatory and metabolic loads, and the share of
#: each marker's log-scale variance that the load explains.
HARD_LOAD_SIGMA, HARD_LOAD_SHARE = 0.6, 0.5
#: Hard null: loads are capped at this many SDs, so every marker stays within validation's plausible range.
HARD_LOAD_CAP = 6.0


def hard_null_latent(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Latent traits of the hard null: no subgroup, one shared continuum ``f`` (N(0, 1)).

    Every trait is ``loading * f + sqrt(1 - loading**2) * noise`` (:data:`HARD_LOADINGS`), all of
    unit variance (the Gaussian null's ``aes`` has SD 0.5), so the items that load on them run
    into their floor and ceiling: the item sums are bounded, rounded and skewed or flat. ``f`` is
    returned too (key ``f``), for the markers' loads (:func:`hard_null_biomarkers`).
    """
    f = rng.normal(0, 1, n)
    out = {k: w * f + np.sqrt(1 - w**2) * rng.normal(0, 1, n) for k, w in HARD_LOADINGS.items()}
    out[_GEN] = np.zeros(n)
    out["f"] = f
    return out


def _hard_load(rng: np.random.Generator, f: np.ndarray) -> np.ndarray:
    """A log-normal load driven by the continuum ``f``, standardised (right-skewed, no clusters)
    and capped at :data:`HARD_LOAD_CAP` SDs."""
    g = 0.8 * f + 0.6 * rng.normal(0, 1, len(f))
    load = np.exp(HARD_LOAD_SIGMA * g)
    return np.minimum((load - load.mean()) / load.std(), HARD_LOAD_CAP)


def hard_null_biomarkers(rng: np.random.Generator, pid: np.ndarray, site_idx: np.ndarray, f: np.ndarray):
    """The biomarkers table of the hard null: every marker log-normal around :data:`MARKERS`'s
    mean and SD, its log-scale value driven by a log-normal load (inflammatory for CRP, IL-6 and
    TNF-alpha; metabolic for the rest, HDL inversely) that the continuum ``f`` drives, so that
    even the logged markers are right-skewed; missingness, infections, units and detection
    limits as in :func:`biomarker_table`."""
    n = len(pid)
    loads = {"inflammatory": _hard_load(rng, f), "metabolic": _hard_load(rng, f)}
    w = np.sqrt(HARD_LOAD_SHARE)
    log_values = {}
    for m, (mu, sd, shift) in MARKERS.items():
        load = loads["inflammatory" if m in ("crp", "il6", "tnf_alpha") else "metabolic"]
        log_values[m] = mu + sd * (np.sign(shift) * w * load + np.sqrt(1 - w**2) * rng.normal(0, 1, n))
    return _marker_rows(rng, pid, site_idx, log_values)


def _marker_rows(rng: np.random.Generator, pid, site_idx, log_values: dict[str, np.ndarray]) -> pd.DataFrame:
    """Marker values (log scale, canonical units) as the sites report them: 3% missing per marker,
    CRP of an intercurrent infection (15-60 mg/L) in 2% of patients."""
    n = len(pid)
    units = load_resource("biomarker_units.yaml")
    bio = []
    acute = rng.random(n) < 0.02
    for m, logx in log_values.items():
        x = np.exp(logx)
        if m == "crp":
            x = np.where(acute, rng.uniform(15, 60, n), x)
        present = rng.random(n) > 0.03
        for i in np.flatnonzero(present):
            value, unit = _reported(m, x[i], SITES[site_idx[i]], units)
            bio.append((pid[i], 0.0, m, value, unit))
    return pd.DataFrame(bio, columns=["patient_id", "week", "marker", "value", "unit"])
