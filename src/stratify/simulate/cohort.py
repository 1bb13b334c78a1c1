"""Simulated cohorts with planted, documented truth (and their null twins).

``stratify simulate --n N --seed S [--null] --out DIR`` writes a cohort in exactly the
input contract of docs/inputs.md, a config for it, and the truth in separate files
(``truth.tsv`` per patient, ``truth.yaml`` for the planted effects). Everything is drawn
from one ``numpy.random.Generator`` seeded with S, so the same call writes the same files.

What is planted (``--null`` plants none of it):

* an immune-metabolic subgroup (25% of patients) with higher CRP, IL-6, TNF-alpha,
  BMI, waist, triglycerides and glucose, lower HDL, and more atypical energy-related
  symptoms (hypersomnia, increased appetite and weight, low energy, leaden paralysis);
  its members respond less well to an SSRI/SNRI index treatment (log-odds -1.6);
* a CYP2C19 effect on escitalopram/citalopram response: log-odds -1.5 for ultrarapid,
  -0.7 for rapid, -0.8 for poor metabolizers (intolerance-driven dropout is not modelled);
* a baseline anhedonia effect (log-odds -0.5 per SD of the measured baseline anhedonia
  score, which the latent anhedonia trait drives) and -0.35 per prior failed adequate trial,
  in the direction GENDEP/STAR*D analyses report.

The effects are larger than real ones so that a demo-sized cohort shows them; the
oracle AUC (from the true response probabilities) is about 0.7.

The null twin draws the same kinds of patients, items, markers, genotypes and treatments,
but with no subgroup and a response probability that is the same for every patient.

Two-arm cohorts (``teh="planted"`` or ``teh="none"``; see :data:`TWO_ARM` and
:data:`TEH_EFFECTS`) make the index treatment a 1:1 randomised comparison of escitalopram
(arm A) with bupropion (arm B), for testing treatment-effect heterogeneity
(:mod:`stratify.heterogeneity.ite`). The arm assignment comes from its own stream
(``numpy.random.default_rng([seed, 4243])``) and is drawn only when ``teh`` is given, so the
default cohorts are unchanged.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from stratify.config import load_resource
from stratify.errors import InputError
from stratify.io.paths import resource_dir

log = logging.getLogger(__name__)

# GRCh38 autosome lengths (contig header lines; they also identify the build).
GRCH38_LENGTHS = {
    "chr1": 248956422, "chr2": 242193529, "chr3": 198295559, "chr4": 190214555,
    "chr5": 181538259, "chr6": 170805979, "chr7": 159345973, "chr8": 145138636,
    "chr9": 138394717, "chr10": 133797422, "chr11": 135086622, "chr12": 133275309,
    "chr13": 114364328, "chr14": 107043718, "chr15": 101991189, "chr16": 90338345,
    "chr17": 83257441, "chr18": 80373285, "chr19": 58617616, "chr20": 64444167,
    "chr21": 46709983, "chr22": 50818468,
}

# Sites: (name, share of patients, ancestry, CRP unit, lipid/glucose unit, CRP detection limit in mg/L)
SITES = [
    ("site_A", 0.35, "EUR", "mg/L", "mmol/L", 0.2),
    ("site_B", 0.25, "EUR", "mg/dL", "mg/dL", 0.3),
    ("site_C", 0.20, "EAS", "nmol/L", "mmol/L", 0.2),
    ("site_D", 0.20, "AFR", "mg/L", "mg/dL", 0.1),
]

# CYP2C19 haplotype frequencies by ancestry (approximate CPIC frequency-table values).
CYP2C19_FREQ = {
    "EUR": {"*1": 0.632, "*2": 0.147, "*3": 0.002, "*17": 0.215, "*9": 0.002, "*4": 0.002},
    "EAS": {"*1": 0.604, "*2": 0.284, "*3": 0.089, "*17": 0.021, "*9": 0.001, "*4": 0.001},
    "AFR": {"*1": 0.592, "*2": 0.180, "*3": 0.003, "*17": 0.200, "*9": 0.024, "*4": 0.001},
}
# CYP2D6 haplotypes by ancestry (approximate; duplications as xN).
CYP2D6_FREQ = {
    "EUR": {"*1": 0.36, "*2": 0.27, "*4": 0.17, "*41": 0.09, "*5": 0.03, "*10": 0.02, "*9": 0.02,
            "*3": 0.01, "*2x2": 0.015, "*1x2": 0.01, "*6": 0.01, "*17": 0.005},
    "EAS": {"*1": 0.28, "*2": 0.12, "*10": 0.42, "*5": 0.06, "*41": 0.03, "*36+*10": 0.06,
            "*4": 0.005, "*1x2": 0.005, "*2x2": 0.01, "*9": 0.01},
    "AFR": {"*1": 0.29, "*2": 0.17, "*17": 0.20, "*29": 0.09, "*5": 0.06, "*4": 0.04, "*41": 0.03,
            "*2x2": 0.03, "*1x2": 0.02, "*10": 0.03, "*45": 0.04},
}

_IUPAC = {"R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC",
          "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT"}

# Index (prospective) treatments and their shares; SSRI/SNRI flag; typical dose (mg/day).
INDEX_AGENTS = {
    "escitalopram": (0.30, True, 15), "citalopram": (0.15, True, 30), "sertraline": (0.20, True, 100),
    "venlafaxine": (0.15, True, 150), "bupropion": (0.10, False, 300), "mirtazapine": (0.10, False, 30),
}
# Prior trials by step of a typical treatment sequence: agent -> (class, usual dose mg/day).
# Usual doses are at or above the minimum in resources/adequate_doses.tsv; an "inadequate"
# trial is given half that minimum.
PRIOR_SSRI = {"sertraline": 100, "fluoxetine": 20, "paroxetine": 20, "citalopram": 20, "escitalopram": 10}
PRIOR_SWITCH = {"venlafaxine": 150, "duloxetine": 60, "mirtazapine": 30, "bupropion": 300, "vortioxetine": 10}
PRIOR_TCA = {"nortriptyline": 75, "amitriptyline": 150, "clomipramine": 150}
PRIOR_MAOI = {"phenelzine": 60, "tranylcypromine": 40}
# Augmenters: the dose table has no minimum for lithium or aripiprazole, so those trials'
# adequacy is unknown to the pipeline (uncertain failures), as it would be in real data.
AUGMENTERS = {"quetiapine": 150, "lithium": 800, "aripiprazole": 5}
AUGMENTER_SHARE = [0.6, 0.25, 0.15]
PSYCHOTHERAPIES = ["cbt", "ipt", "behavioural_activation"]
# History shares (see docs/simulation.md, "Treatment histories")
HISTORY = {
    "n_prior_p": [0.30, 0.25, 0.18, 0.12, 0.08, 0.05, 0.02],   # 0-6 prior trials in the current episode
    "previous_episode": 0.3, "bipolar": 0.03, "psychotic_features": 0.04,
    "inadequate_dose": 0.15, "short_trial": 0.15, "scores_recorded": 0.35,
    "outcome_p": {"nonresponse": 0.57, "partial": 0.23, "intolerance": 0.15, "response": 0.05},
    "psychotherapy": 0.15, "min_psychotherapy_sessions": 8, "min_ect_sessions": 6,
    # a highly resistant tail climbing the Thase-Rush ladder: SSRI, SNRI, augmentation, TCA, MAOI, ECT
    "ladder": 0.05, "ladder_nonresponse": 0.85,
}
LADDER = [("ssri", PRIOR_SSRI), ("snri", {"venlafaxine": 150, "duloxetine": 60}), ("augmentation", AUGMENTERS),
          ("tca", PRIOR_TCA), ("maoi", PRIOR_MAOI), ("ect", None)]

# Item model: instrument -> item -> (mean, severity loading, dimension, dimension loading)
_GEN, _ANH, _AES, _ANX = "gen", "anh", "aes", "anx"
ITEM_MODEL = {
    "HAMD17": {
        1: (2.2, .5, _GEN, 0), 2: (1.5, .4, _GEN, 0), 3: (0.8, .4, _GEN, 0), 4: (1.2, .3, _AES, -.3),
        5: (1.1, .3, _AES, -.3), 6: (1.0, .3, _AES, -.3), 7: (2.2, .4, _ANH, .6), 8: (0.9, .3, _ANH, .3),
        9: (0.9, .3, _GEN, 0), 10: (1.7, .3, _ANX, .6), 11: (1.4, .3, _ANX, .5), 12: (0.9, .3, _AES, -.3),
        13: (1.3, .3, _AES, .4), 14: (1.1, .3, _ANH, .3), 15: (0.7, .3, _ANX, .3), 16: (0.6, .3, _AES, -.4),
        17: (0.2, .2, _GEN, 0),
    },
    "QIDS_SR16": {
        1: (1.2, .3, _AES, -.3), 2: (1.3, .3, _AES, -.3), 3: (1.1, .3, _AES, -.3), 4: (0.5, .2, _AES, .9),
        5: (1.8, .4, _GEN, 0), 6: (0.8, .3, _AES, -.5), 7: (0.4, .2, _AES, .9), 8: (0.6, .3, _AES, -.5),
        9: (0.4, .2, _AES, .9), 10: (1.6, .4, _GEN, 0), 11: (1.4, .4, _GEN, 0), 12: (0.7, .4, _GEN, 0),
        13: (1.5, .4, _ANH, .7), 14: (1.6, .4, _AES, .6), 15: (1.2, .3, _ANH, .3), 16: (0.9, .3, _ANX, .4),
    },
    "IDS_SR30": {
        1: (1.2, .3, _AES, -.3), 2: (1.3, .3, _AES, -.3), 3: (1.1, .3, _AES, -.3), 4: (0.6, .2, _AES, .9),
        5: (1.8, .4, _GEN, 0), 6: (1.3, .3, _ANX, .3), 7: (1.4, .3, _ANX, .6), 8: (1.2, .4, _ANH, .4),
        9: (1.0, .3, _GEN, 0), 10: (1.3, .4, _GEN, 0), 11: (0.9, .3, _AES, -.5), 12: (0.5, .2, _AES, .9),
        13: (0.7, .3, _AES, -.5), 14: (0.5, .2, _AES, .9), 15: (1.6, .4, _GEN, 0), 16: (1.4, .4, _GEN, 0),
        17: (1.5, .4, _GEN, 0), 18: (0.7, .4, _GEN, 0), 19: (1.4, .4, _ANH, .7), 20: (1.5, .4, _AES, .6),
        21: (1.4, .4, _ANH, .7), 22: (1.2, .3, _ANH, .6), 23: (1.1, .3, _ANH, .3), 24: (0.9, .3, _ANX, .4),
        25: (1.0, .3, _GEN, 0), 26: (0.9, .3, _ANX, .5), 27: (0.6, .3, _ANX, .5), 28: (0.6, .3, _GEN, 0),
        29: (1.0, .3, _GEN, 0), 30: (0.8, .3, _AES, .8),
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

EFFECTS = {
    "intercept": 0.6,
    "immune_metabolic_x_ssri_snri": -1.6,
    "anhedonia_per_sd": -0.5,
    "per_prior_failed_trial": -0.35,
    "cyp2c19_on_escitalopram_citalopram": {
        "Ultrarapid Metabolizer": -1.5, "Rapid Metabolizer": -0.7, "Poor Metabolizer": -0.8,
    },
}
NULL_INTERCEPT = -0.15

# Two-arm cohorts (``teh``): the index treatment is randomised 1:1 between arm A and arm B.
TWO_ARM = {"A": "escitalopram", "B": "bupropion"}
TEH_MODES = ("planted", "none")
# Log-odds of response in a two-arm cohort. The prognostic terms act the same in both arms;
# with teh="planted" arm B differs from arm A by
#     arm_b_vs_a + immune_metabolic_x_arm_b * subgroup + anhedonia_per_sd_x_arm_b * anhedonia,
# split symmetrically (half added to arm B's log-odds, half subtracted from arm A's). With
# teh="none" both arms have the prognostic model only: no arm effect and no heterogeneity.
TEH_EFFECTS = {
    "intercept": 0.6,
    "anhedonia_per_sd": -0.5,
    "per_prior_failed_trial": -0.35,
    "arm_b_vs_a": -0.5,
    "immune_metabolic_x_arm_b": 2.0,
    "anhedonia_per_sd_x_arm_b": 1.0,
}


@dataclass(frozen=True)
class _Cyp2c19:
    chrom: str
    positions: list[int]
    rsids: list[str]
    ref: list[str]
    alt: list[str]
    alleles: dict[str, list[str]]
    function: dict[str, str]


def _load_cyp2c19() -> _Cyp2c19:
    """Allele definitions (PharmCAT CYP2C19_translation.json, shipped in resources/pgx)."""
    with open(resource_dir() / "pgx" / "CYP2C19_translation.json") as fh:
        d = json.load(fh)
    var = d["variants"]
    ref = [v["ref"] for v in var]
    alleles = {}
    for a in d["namedAlleles"]:
        bases = []
        for j, b in enumerate(a["alleles"]):
            b = b or ref[j]
            if b in _IUPAC:  # an ambiguous definition: the reference base where it is allowed
                b = ref[j] if ref[j] in _IUPAC[b] else _IUPAC[b][0]
            bases.append(b)
        alleles[a["name"]] = bases
    with open(resource_dir() / "pgx" / "CYP2C19_phenotype.json") as fh:
        ph = json.load(fh)
    func = dict(ph["haplotypes"]) if isinstance(ph["haplotypes"], dict) else {
        h["name"]: h["function"] for h in ph["haplotypes"]}
    return _Cyp2c19(d["chromosome"], [v["position"] for v in var], [v["rsid"] for v in var], ref,
                    [v["alts"][0] for v in var], alleles, func)


def _cyp2c19_phenotype(f1: str, f2: str) -> str:
    """CPIC function-pair rule for CYP2C19 (facts.md section 1); used for the truth only."""
    fs = sorted([f1, f2])
    nf, dec, norm, inc = "No function", "Decreased function", "Normal function", "Increased function"
    if any(f not in (nf, dec, norm, inc) for f in fs):
        return "Indeterminate"
    if fs == [inc, inc]:
        return "Ultrarapid Metabolizer"
    if set(fs) == {norm, inc}:
        return "Rapid Metabolizer"
    if fs == [norm, norm]:
        return "Normal Metabolizer"
    if nf in fs and (norm in fs or inc in fs):
        return "Intermediate Metabolizer"
    if fs == [nf, nf]:
        return "Poor Metabolizer"
    if dec in fs and nf in fs:
        return "Likely Poor Metabolizer"
    return "Likely Intermediate Metabolizer"


def _draw(rng: np.random.Generator, freq: dict[str, float], size: int) -> np.ndarray:
    names = list(freq)
    p = np.array([freq[k] for k in names], dtype=float)
    return np.array(names, dtype=object)[rng.choice(len(names), size=size, p=p / p.sum())]


def _star_key(a: str) -> tuple:
    head = a.split("x")[0].split("+")[0].lstrip("*")
    return (int(head) if head.isdigit() else 999, a)


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


_BANDS = ("nonresponse", "partial", "response")


def _band(base: float, end: float) -> str:
    r = (base - end) / base
    return _BANDS[0] if r < 0.25 else _BANDS[1] if r < 0.5 else _BANDS[2]


def _trial_outcome(rng) -> str:
    o = HISTORY["outcome_p"]
    return str(rng.choice(list(o), p=list(o.values())))


def _histories(rng: np.random.Generator, pid: np.ndarray, index_agent: np.ndarray):
    """Treatment histories rich enough to exercise every TRD definition.

    Per patient: 0-6 prior trials in the current episode following a typical sequence (an
    SSRI; a second SSRI or a switch to an SNRI or other class; then augmentation, a
    tricyclic, a switch, an MAOI or ECT), psychotherapy courses of 3-20 sessions anywhere in
    it, and for 30% one responded trial in a previous episode. A 5% highly resistant tail
    climbs the ladder SSRI, SNRI, augmentation, TCA, MAOI, ECT (4-6 steps, adequate, 85%
    non-response each) in a chronic episode of 2-5 years. Some trials are at half the
    minimum dose or shorter than 4 weeks (inadequate); 35% of drug trials record HAMD-17
    scores instead of an outcome. 3% of patients are bipolar, 4% have psychotic features.

    Returns the rows, the true number of failed adequate trials per patient (adequate by
    construction: usual dose, >= 4 weeks, >= 8 psychotherapy or >= 6 ECT sessions; outcome
    non-response), the diagnosis and the psychotic-features flag.
    """
    n = len(pid)
    n_prior = rng.choice(len(HISTORY["n_prior_p"]), size=n, p=HISTORY["n_prior_p"])
    ladder = rng.random(n) < HISTORY["ladder"]
    n_prior = np.where(ladder, rng.integers(4, len(LADDER) + 1, n), n_prior)
    # the resistant tail is chronic: its current episode has lasted 2-5 years
    chronic_months = np.where(ladder, rng.uniform(25, 60, n).round(1), 0.0)
    episode = np.where(rng.random(n) < HISTORY["previous_episode"], 2, 1)
    diagnosis = np.where(rng.random(n) < HISTORY["bipolar"], "bipolar", "MDD").astype(object)
    psychotic = rng.random(n) < HISTORY["psychotic_features"]
    rows: list[dict[str, Any]] = []
    prior_failed = np.zeros(n, dtype=int)
    for i in range(n):
        t = 0
        if episode[i] == 2:
            ag = str(rng.choice(list(PRIOR_SSRI)))
            rows.append(dict(patient_id=pid[i], episode=1, trial=1, modality="medication", agent=ag,
                             dose_mg_day=float(PRIOR_SSRI[ag]), duration_weeks=float(rng.integers(6, 26)),
                             outcome="response", prospective=False))
        used = {index_agent[i]}
        for k in range(1, n_prior[i] + 1):
            t += 1
            row = dict(patient_id=pid[i], episode=episode[i], trial=t, prospective=False)
            if ladder[i]:
                step = LADDER[k - 1][0]
            elif rng.random() < HISTORY["psychotherapy"]:
                sessions = int(rng.integers(3, 21))
                outcome = str(rng.choice(["nonresponse", "partial"], p=[0.7, 0.3]))
                row.update(modality="psychotherapy", agent=str(rng.choice(PSYCHOTHERAPIES)), sessions=sessions,
                           duration_weeks=float(sessions + rng.integers(0, 5)), outcome=outcome)
                prior_failed[i] += int(sessions >= HISTORY["min_psychotherapy_sessions"] and outcome == "nonresponse")
                rows.append(row)
                continue
            elif k == 1:
                step = "ssri"
            elif k == 2:
                step = str(rng.choice(["ssri", "switch"]))
            else:
                step = str(rng.choice(["augmentation", "tca", "switch", "maoi", "ect"],
                                      p=[0.3, 0.25, 0.2, 0.15, 0.1] if k >= 4 else [0.4, 0.3, 0.3, 0, 0]))
            ladder_outcome = ("nonresponse" if rng.random() < HISTORY["ladder_nonresponse"] else "partial")
            if step == "ect":
                sessions = int(rng.integers(6, 15)) if ladder[i] else int(rng.integers(3, 15))
                outcome = ladder_outcome if ladder[i] else str(rng.choice(["nonresponse", "partial"], p=[0.6, 0.4]))
                row.update(modality="ECT", agent="ect", sessions=sessions, duration_weeks=float(sessions // 3 + 1),
                           outcome=outcome)
                prior_failed[i] += int(sessions >= HISTORY["min_ect_sessions"] and outcome == "nonresponse")
                rows.append(row)
                continue
            pool = {"ssri": PRIOR_SSRI, "switch": PRIOR_SWITCH, "tca": PRIOR_TCA, "maoi": PRIOR_MAOI,
                    "augmentation": AUGMENTERS, "snri": LADDER[1][1]}[step]
            if step == "augmentation" and ladder[i]:
                ag = "quetiapine"
            elif step == "augmentation":
                ag = str(rng.choice(list(AUGMENTERS), p=AUGMENTER_SHARE))
            else:
                choices = [a for a in pool if a not in used] or list(pool)
                ag = str(rng.choice(choices))
            used.add(ag)
            adequate_dose = ladder[i] or rng.random() >= HISTORY["inadequate_dose"]
            dose = pool[ag] if adequate_dose else _min_dose(ag) / 2
            short = not ladder[i] and rng.random() < HISTORY["short_trial"]
            dur = float(rng.integers(2, 4)) if short else float(rng.integers(4, 13))
            outcome = ladder_outcome if ladder[i] else _trial_outcome(rng)
            row.update(modality="augmentation" if step == "augmentation" else "medication", agent=ag,
                       dose_mg_day=float(dose), duration_weeks=dur)
            if outcome != "intolerance" and rng.random() < HISTORY["scores_recorded"]:
                base = float(rng.integers(16, 31))
                lo, hi = {"nonresponse": (-0.10, 0.24), "partial": (0.25, 0.49), "response": (0.5, 0.9)}[outcome]
                end = float(round(base * (1 - rng.uniform(lo, hi))))
                # rounding must not move the trial across a band boundary (25% and 50%)
                while (got := _BANDS.index(_band(base, end))) != _BANDS.index(outcome):
                    end += 1.0 if got > _BANDS.index(outcome) else -1.0
                row.update(instrument="HAMD17", baseline_score=base, end_score=end)
            else:
                row.update(outcome=outcome)
            prior_failed[i] += int(adequate_dose and not short and outcome == "nonresponse")
            rows.append(row)
        rows.append(dict(patient_id=pid[i], episode=episode[i], trial=t + 1, modality="medication",
                         agent=index_agent[i], dose_mg_day=float(INDEX_AGENTS[index_agent[i]][2]),
                         duration_weeks=8.0, instrument="HAMD17", prospective=True))
    return rows, prior_failed, diagnosis, psychotic, chronic_months


_MIN_DOSES: dict[str, float] = {}


def _min_dose(agent: str) -> float:
    """Minimum daily dose of the shipped dose table (or the usual dose where it has none)."""
    if not _MIN_DOSES:
        from stratify.clinical.adequacy import load_doses

        table = load_doses()
        _MIN_DOSES.update(zip(table["agent"], table["min_daily_dose_mg"]))
    m = _MIN_DOSES.get(agent, np.nan)
    return float(m) if np.isfinite(m) else float(AUGMENTERS.get(agent, 10))


def _anhedonia_z(base: dict[str, dict[int, np.ndarray]]) -> np.ndarray:
    """The measured baseline anhedonia score (sum of its items in resources/dimensions.yaml),
    z-scored within the cohort: the score the clinical stage computes, before the sporadic
    missing self-report items are dropped."""
    dim = load_resource("dimensions.yaml")["anhedonia"]
    x = sum(base[dim["instrument"]][int(i)] for i in dim["items"]).astype(float)
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros(len(x))


def _two_arm_logits(teh: str, im: np.ndarray, anh: np.ndarray, prior_failed: np.ndarray):
    """Log-odds of response under arm A and arm B for a two-arm cohort (see TEH_EFFECTS)."""
    e = TEH_EFFECTS
    shared = e["intercept"] + e["anhedonia_per_sd"] * anh + e["per_prior_failed_trial"] * prior_failed
    if teh == "planted":
        half = 0.5 * (e["arm_b_vs_a"] + e["immune_metabolic_x_arm_b"] * im + e["anhedonia_per_sd_x_arm_b"] * anh)
    else:
        half = np.zeros(len(anh))
    return shared - half, shared + half


def simulate_cohort(n: int, *, seed: int, null: bool = False, teh: str | None = None) -> dict[str, Any]:
    """Simulate a cohort; returns the tables (DataFrames), VCF records and truth.

    ``teh`` (``"planted"`` or ``"none"``) makes the index treatment a randomised two-arm
    comparison (:data:`TWO_ARM`) with planted or no treatment-effect heterogeneity; the
    truth then has the columns ``arm``, ``p_response_A``, ``p_response_B`` and ``ite_true``.
    With ``teh=None`` (the default) nothing changes.

    Examples
    --------
    >>> c = simulate_cohort(60, seed=1)
    >>> sorted(c["tables"])
    ['biomarkers', 'patients', 'sample_map', 'symptoms', 'treatments']
    >>> len(c["tables"]["patients"])
    60
    >>> t = simulate_cohort(60, seed=1, teh="none")["truth"]
    >>> t["arm"].value_counts().to_dict(), float(t["ite_true"].abs().max())
    ({'A': 30, 'B': 30}, 0.0)
    """
    if n < 20:
        raise InputError(f"--n {n} is too small; simulate at least 20 patients")
    if teh is not None and teh not in TEH_MODES:
        raise InputError(f"--teh {teh!r}: expected one of {', '.join(TEH_MODES)}")
    if teh is not None and null:
        raise InputError("--null and --teh cannot be combined; --teh none is the two-arm cohort without "
                         "treatment-effect heterogeneity")
    rng = np.random.default_rng(seed)
    pid = np.array([f"P{i:05d}" for i in range(1, n + 1)], dtype=object)
    sid = np.array([f"S{i:05d}" for i in range(1, n + 1)], dtype=object)
    site_idx = rng.choice(len(SITES), size=n, p=[s[1] for s in SITES])
    site = np.array([SITES[i][0] for i in site_idx], dtype=object)
    anc = np.array([SITES[i][2] for i in site_idx], dtype=object)
    age = np.clip(rng.normal(44, 13, n), 18, 85).round(0)
    sex = np.where(rng.random(n) < 0.64, "F", "M").astype(object)
    episode_months = np.clip(rng.gamma(2.0, 6.0, n), 1, 120).round(1)
    im = np.zeros(n, dtype=bool) if null else rng.random(n) < 0.25

    # latent symptom traits
    latent = {
        "sev": rng.normal(0, 1, n),
        _ANH: rng.normal(0, 1, n),
        _ANX: rng.normal(0, 1, n),
        _AES: rng.normal(0, 0.5, n) + np.where(im, 1.6, 0.0),
        _GEN: np.zeros(n),
    }

    # genotypes: CYP2C19 haplotypes, CYP2D6 haplotypes
    cyp = _load_cyp2c19()
    h1 = np.empty(n, dtype=object)
    h2 = np.empty(n, dtype=object)
    d6a = np.empty(n, dtype=object)
    d6b = np.empty(n, dtype=object)
    for a in CYP2C19_FREQ:
        m = anc == a
        h1[m], h2[m] = _draw(rng, CYP2C19_FREQ[a], m.sum()), _draw(rng, CYP2C19_FREQ[a], m.sum())
        d6a[m], d6b[m] = _draw(rng, CYP2D6_FREQ[a], m.sum()), _draw(rng, CYP2D6_FREQ[a], m.sum())
    c19_dip = ["/".join(sorted([a, b], key=_star_key)) for a, b in zip(h1, h2)]
    c19_pheno = np.array([_cyp2c19_phenotype(cyp.function[a], cyp.function[b]) for a, b in zip(h1, h2)],
                         dtype=object)
    d6_dip = ["/".join(sorted([a, b], key=_star_key)) for a, b in zip(d6a, d6b)]

    # treatments: prior trials in the current episode, index trial
    agents = list(INDEX_AGENTS)
    index_agent = np.array(agents, dtype=object)[
        rng.choice(len(agents), size=n, p=[INDEX_AGENTS[a][0] for a in agents])]
    arm_b = None
    if teh is not None:
        # randomised 1:1 (n // 2 patients to arm B), from a stream of its own
        teh_rng = np.random.default_rng([seed, 4243])
        arm_b = np.zeros(n, dtype=bool)
        arm_b[teh_rng.permutation(n)[: n // 2]] = True
        index_agent = np.where(arm_b, TWO_ARM["B"], TWO_ARM["A"]).astype(object)
    ssri_snri = np.array([INDEX_AGENTS[a][1] for a in index_agent])
    # treatment histories come from their own stream, so that richer histories leave every
    # other draw (symptoms, markers, genotypes) of a seed unchanged
    hist_rng = np.random.default_rng([seed, 7919])
    treat_rows, prior_failed, diagnosis, psychotic, chronic_months = _histories(hist_rng, pid, index_agent)
    episode_months = np.maximum(episode_months, chronic_months)
    # The random numbers that decide response, symptom change and dropout come first, the
    # week-0 items after them (the stream order of every earlier version, so null twins are
    # unchanged); the response probability is computed once the items exist, because it
    # uses the measured anhedonia score (the IDS-SR30 items of resources/dimensions.yaml):
    # published effects are of measured scores, and a model can only ever see the measured score.
    u_response = rng.random(n)
    change_if_responder, change_if_not = rng.uniform(0.55, 0.95, n), rng.uniform(-0.15, 0.42, n)
    dropout = rng.random(n) < 0.03
    base, base_lat, fu = {}, {}, {}
    for inst in ("HAMD17", "QIDS_SR16", "IDS_SR30"):
        base[inst], base_lat[inst] = _items(rng, n, latent, inst)
    anh = _anhedonia_z(base)
    # response to the index treatment
    if null:
        logit = np.full(n, NULL_INTERCEPT)
    elif teh is not None:
        logit_a, logit_b = _two_arm_logits(teh, im, anh, prior_failed)
        logit = np.where(arm_b, logit_b, logit_a)
    else:
        cyp_eff = np.array([EFFECTS["cyp2c19_on_escitalopram_citalopram"].get(p, 0.0) for p in c19_pheno])
        esc_cit = np.isin(index_agent, ["escitalopram", "citalopram"])
        logit = (EFFECTS["intercept"] + EFFECTS["immune_metabolic_x_ssri_snri"] * (im & ssri_snri)
                 + EFFECTS["anhedonia_per_sd"] * anh
                 + EFFECTS["per_prior_failed_trial"] * prior_failed
                 + cyp_eff * esc_cit)
    p_resp = 1 / (1 + np.exp(-logit))
    responder = u_response < p_resp
    reduction = np.where(responder, change_if_responder, change_if_not)

    # symptoms at week 0 and 8 for three instruments. The HAMD-17 follow-up is redrawn
    # until its observed response (>= 50% reduction) equals the planned one, so the
    # endpoint carries exactly the planted signal and nothing else (rounding of items at
    # low baseline severity would otherwise add a little).
    h0 = sum(base["HAMD17"].values())
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
    sym_frames = []
    for inst in ("HAMD17", "QIDS_SR16", "IDS_SR30"):
        for week, sc in ((0, base[inst]), (8, fu[inst])):
            for item, vals in sc.items():
                keep = np.ones(n, dtype=bool) if week == 0 else ~dropout
                sym_frames.append(pd.DataFrame({"patient_id": pid[keep], "week": week, "instrument": inst,
                                                "item": item, "score": vals[keep]}))
    hamd_totals = {0: h0, 8: sum(fu["HAMD17"].values())}
    symptoms = pd.concat(sym_frames, ignore_index=True)
    # sporadic missing self-report items (prorated downstream); HAMD-17 items are kept
    drop_item = (rng.random(len(symptoms)) < 0.006) & (symptoms["instrument"] != "HAMD17").to_numpy()
    symptoms = symptoms[~drop_item].sort_values(["patient_id", "week", "instrument", "item"],
                                                kind="stable").reset_index(drop=True)

    treatments = pd.DataFrame(treat_rows)
    # the current episode lasts at least as long as the trials already given in it
    cur = treatments["episode"] == treatments.groupby("patient_id")["episode"].transform("max")
    weeks = treatments[cur & ~treatments["prospective"]].groupby("patient_id")["duration_weeks"].sum()
    episode_months = np.maximum(episode_months, np.ceil(10 * pd.Series(pid).map(weeks).fillna(0).to_numpy()
                                                         / 4.345) / 10)
    idx_rows = treatments["prospective"].to_numpy()
    treatments.loc[idx_rows, "baseline_score"] = hamd_totals[0].astype(float)
    end = np.where(dropout, np.nan, hamd_totals[8]).astype(float)
    treatments.loc[idx_rows, "end_score"] = end
    treatments.loc[idx_rows, "duration_weeks"] = np.where(dropout, rng.integers(1, 5, n), 8).astype(float)
    treatments.loc[idx_rows, "outcome"] = np.where(dropout, "unknown", None)

    # biomarkers (canonical units drawn on the log scale, reported in the site's units)
    units = load_resource("biomarker_units.yaml")
    bio = []
    acute = rng.random(n) < 0.02    # intercurrent infection: CRP far above 10 mg/L
    for m, (mu, sd, shift) in MARKERS.items():
        x = np.exp(rng.normal(mu, sd, n) + (0 if null else shift) * im)
        if m == "crp":
            x = np.where(acute, rng.uniform(15, 60, n), x)
        present = rng.random(n) > 0.03
        for i in np.flatnonzero(present):
            s = SITES[site_idx[i]]
            unit = units[m]["canonical"]
            if m == "crp":
                unit = s[3]
            elif m in ("triglycerides", "hdl", "glucose"):
                unit = s[4]
            factor = units[m]["units"][unit]
            v = x[i] / factor
            if m == "crp" and x[i] < s[5]:
                value = f"<{s[5] / factor:.3g}"
            else:
                value = f"{v:.3g}" if v < 100 else f"{v:.1f}"
            bio.append((pid[i], 0.0, m, value, unit))
    biomarkers = pd.DataFrame(bio, columns=["patient_id", "week", "marker", "value", "unit"])

    patients = pd.DataFrame({"patient_id": pid, "site": site, "age": age, "sex": sex, "diagnosis": diagnosis,
                             "episode_months": episode_months, "psychotic_features": psychotic})
    sample_map = pd.DataFrame({"sample_id": sid, "patient_id": pid})
    truth = pd.DataFrame({
        "patient_id": pid, "site": site, "ancestry": anc, "immune_metabolic": im.astype(int),
        "cyp2c19_diplotype": c19_dip, "cyp2c19_phenotype": c19_pheno, "cyp2d6_diplotype": d6_dip,
        "index_agent": index_agent, "prior_failed_trials": prior_failed, "diagnosis": diagnosis,
        "latent_anhedonia": latent[_ANH].round(4), "baseline_anhedonia_z": anh.round(4),
        "latent_aes": latent[_AES].round(4),
        "p_response": p_resp.round(6), "planned_responder": responder.astype(int),
        "dropout": dropout.astype(int),
    })
    if teh is not None:
        p_a, p_b = 1 / (1 + np.exp(-logit_a)), 1 / (1 + np.exp(-logit_b))
        at = truth.columns.get_loc("p_response") + 1
        for k, (col, vals) in enumerate([("arm", np.where(arm_b, "B", "A").astype(object)),
                                         ("p_response_A", p_a.round(6)), ("p_response_B", p_b.round(6)),
                                         ("ite_true", (p_b - p_a).round(6))]):
            truth.insert(at + k, col, vals)
    return {
        "tables": {"patients": patients, "symptoms": symptoms, "treatments": treatments,
                   "biomarkers": biomarkers, "sample_map": sample_map},
        "cyp2c19": (cyp, h1, h2), "cyp2d6": d6_dip, "sample_ids": sid, "ancestry": anc,
        "truth": truth, "rng": rng, "null": null, "teh": teh,
    }


def _vcf_text_records(rng, cyp: _Cyp2c19, h1, h2, anc, n_snps: int) -> list[tuple[str, int, str]]:
    """VCF data lines (chrom, pos, line) for the CYP2C19 positions and common SNPs."""
    n = len(h1)
    recs = []
    miss_pgx = rng.random(n) < 0.01   # a few samples with one PGx position not called
    miss_pos = rng.integers(0, len(cyp.positions), n)
    for j, pos in enumerate(cyp.positions):
        a1 = np.array([cyp.alleles[h][j] for h in h1])
        a2 = np.array([cyp.alleles[h][j] for h in h2])
        g1 = (a1 == cyp.alt[j]).astype(int)
        g2 = (a2 == cyp.alt[j]).astype(int)
        gts = np.char.add(np.char.add(g1.astype(str), "/"), g2.astype(str)).astype(object)
        gts[miss_pgx & (miss_pos == j)] = "./."
        line = "\t".join([cyp.chrom, str(pos), cyp.rsids[j], cyp.ref[j], cyp.alt[j], ".", "PASS", ".", "GT"]
                         + list(gts))
        recs.append((cyp.chrom, pos, line))
    # common SNPs with ancestry-specific frequencies (Balding-Nichols, Fst 0.05)
    chroms = list(GRCH38_LENGTHS)
    weights = np.array([GRCH38_LENGTHS[c] for c in chroms], dtype=float)
    chrom_of = np.array(chroms)[rng.choice(len(chroms), size=n_snps, p=weights / weights.sum())]
    bases = np.array(list("ACGT"))
    pgx_lo, pgx_hi = min(cyp.positions) - 100_000, max(cyp.positions) + 100_000
    fst = 0.05
    ancestries = sorted(set(anc))
    for k in range(n_snps):
        c = chrom_of[k]
        while True:
            pos = int(rng.integers(1_000_000, GRCH38_LENGTHS[c] - 1_000_000))
            if not (c == cyp.chrom and pgx_lo <= pos <= pgx_hi):
                break
        ref, alt = rng.choice(bases, size=2, replace=False)
        p0 = rng.uniform(0.05, 0.5)
        a, b = p0 * (1 - fst) / fst, (1 - p0) * (1 - fst) / fst
        p = np.empty(n)
        for an in ancestries:
            m = anc == an
            p[m] = rng.beta(a, b)
        g = (rng.random(n) < p).astype(int) + (rng.random(n) < p).astype(int)
        gt = np.array(["0/0", "0/1", "1/1"], dtype=object)[g]
        gt[rng.random(n) < 0.005] = "./."
        line = "\t".join([c, str(pos), f"snp{k + 1}", ref, alt, ".", "PASS", ".", "GT"] + list(gt))
        recs.append((c, pos, line))
    order = {c: i for i, c in enumerate(chroms)}
    recs.sort(key=lambda r: (order[r[0]], r[1]))
    dedup, seen = [], set()
    for r in recs:
        if (r[0], r[1]) not in seen:
            seen.add((r[0], r[1]))
            dedup.append(r)
    return dedup


def write_vcf(path: str | Path, sample_ids, records) -> Path:
    """Write a bgzipped, tabix-indexed GRCh38 VCF (pysam does the BGZF and the index)."""
    import pysam

    path = Path(path)
    plain = path.with_suffix("")  # x.vcf.gz -> x.vcf
    header = ["##fileformat=VCFv4.2", "##reference=GRCh38", "##source=stratify simulate"]
    header += [f"##contig=<ID={c},length={ln},assembly=GRCh38>" for c, ln in GRCH38_LENGTHS.items()]
    header += ['##FILTER=<ID=PASS,Description="All filters passed">',
               '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
               "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *sample_ids])]
    with open(plain, "w") as fh:
        fh.write("\n".join(header) + "\n")
        for _, _, line in records:
            fh.write(line + "\n")
    out = pysam.tabix_index(str(plain), preset="vcf", force=True, keep_original=False)
    return Path(out)


def write_pgs_file(path: str | Path, records, *, seed: int) -> Path:
    """A PGS Catalog-format (harmonised) scoring file over a quarter of the simulated SNPs.

    Weights carry no planted effect (the response model must not profit from them). To
    exercise the matching, a third of the rows give the alleles on the other strand, and five
    extra rows cannot be used: a position absent from the VCF, an allele mismatch, and the
    strand-ambiguous ones the SNP panel happens to hold are dropped. Drawn from its own
    random stream, so the other simulated files do not change.
    """
    import gzip

    rng = np.random.default_rng([seed, 7001])
    comp = str.maketrans("ACGT", "TGCA")
    rows = []
    snps = [ln.split("\t") for _, _, ln in records if ln.split("\t")[2].startswith("snp")]
    for i, f in enumerate(snps[::4]):
        chrom, pos, _, ref, alt = f[:5]
        e, o = (alt, ref) if rng.random() < 0.5 else (ref, alt)
        if i % 3 == 0:
            e, o = e.translate(comp), o.translate(comp)
        rows.append((f"rs_sim{i}", chrom[3:], pos, e, o, f"{rng.normal(0, 0.05):.5f}", chrom[3:], pos))
    chrom, pos, _, ref, alt = snps[1][:5]
    bad = {"A": "C", "C": "G", "G": "T", "T": "A"}
    rows.append(("rs_sim_mismatch", chrom[3:], pos, bad[ref] if bad[ref] != alt else bad[alt], ref, "0.1",
                 chrom[3:], pos))
    rows.append(("rs_sim_absent", "1", "1000", "A", "G", "0.1", "1", "1000"))
    header = ("###PGS CATALOG SCORING FILE - see https://www.pgscatalog.org/downloads/#dl_ftp_scoring\n"
              "#format_version=2.0\n#pgs_id=PGS_SIM\n#pgs_name=stratify_simulated\n"
              "#trait_reported=none (simulated weights, no effect)\n#genome_build=GRCh38\n"
              "#HmPOS_build=GRCh38\n"
              "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_chr\thm_pos\n")
    path = Path(path)
    with gzip.GzipFile(path, "wb", mtime=0) as fh:
        fh.write((header + "".join("\t".join(r) + "\n" for r in rows)).encode())
    return path


def write_cyrius(path: str | Path, sample_ids, diplotypes, rng) -> Path:
    """CYP2D6 calls in Cyrius's TSV format (Sample, Genotype, Filter), with a few
    ambiguous and failed calls as Cyrius writes them."""
    rows = []
    for s, d in zip(sample_ids, diplotypes):
        u = rng.random()
        if u < 0.01:
            rows.append((s, "None", "None"))
        elif u < 0.03:
            rows.append((s, f"{d};*1/*4", "More_than_one_possible_genotype"))
        else:
            rows.append((s, d, "PASS"))
    pd.DataFrame(rows, columns=["Sample", "Genotype", "Filter"]).to_csv(path, sep="\t", index=False)
    return Path(path)


def write_cohort(out: str | Path, *, n: int, seed: int, null: bool = False, n_snps: int = 3000,
                 cohort: str | None = None, teh: str | None = None, genotypes: bool = True) -> dict[str, Path]:
    """Simulate a cohort and write it, with its config and truth, into ``out``.

    ``teh`` as in :func:`simulate_cohort` (a two-arm cohort; ``truth.yaml`` then also has
    ``teh`` and ``two_arm``, and the config a ``heterogeneity`` block declaring the randomised
    arms, escitalopram first). With ``genotypes=False`` neither the VCF nor the Cyrius CYP2D6
    calls are written (a cohort without genetic data; the written config then has no
    ``inputs.genotypes`` and no ``inputs.star_alleles``); every other file is the same as with
    them, because both are drawn after everything else. Returns the written paths by role.
    The config names the files by absolute path, so it stays valid wherever it is copied.
    """
    out = Path(out).resolve()
    c = simulate_cohort(n, seed=seed, null=null, teh=teh)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, df in c["tables"].items():
        p = out / f"{name}.tsv"
        df.to_csv(p, sep="\t", index=False, float_format="%.6g")
        paths[name] = p
    if genotypes:
        cyp, h1, h2 = c["cyp2c19"]
        log.info("writing VCF: %d samples, %d CYP2C19 positions, %d common SNPs", n, len(cyp.positions), n_snps)
        recs = _vcf_text_records(c["rng"], cyp, h1, h2, c["ancestry"], n_snps)
        paths["vcf"] = write_vcf(out / "genotypes.vcf.gz", c["sample_ids"], recs)
        paths["pgs"] = write_pgs_file(out / "PGS_SIM_hmPOS_GRCh38.txt.gz", recs, seed=seed)
        paths["cyrius"] = write_cyrius(out / "cyp2d6.cyrius.tsv", c["sample_ids"], c["cyp2d6"], c["rng"])
    else:
        for stale in ("genotypes.vcf.gz", "genotypes.vcf.gz.tbi", "cyp2d6.cyrius.tsv", "PGS_SIM_hmPOS_GRCh38.txt.gz"):
            (out / stale).unlink(missing_ok=True)   # files of an earlier run must not pass for this one's
        log.info("no genotype files written (no VCF, no scoring file, no Cyrius calls): the cohort has no genetic data")
    c["truth"].to_csv(out / "truth.tsv", sep="\t", index=False)
    paths["truth"] = out / "truth.tsv"
    truth_doc = {
        "simulator": "stratify simulate", "n": n, "seed": seed, "null": null,
        "immune_metabolic_share": 0.0 if null else 0.25,
        "response_model": {"intercept": NULL_INTERCEPT} if null else EFFECTS,
        "marker_shift_log_scale": {} if null else {m: v[2] for m, v in MARKERS.items()},
        "aes_latent_shift": 0.0 if null else 1.6,
        "planted_predictors": [] if null else [
            "inflammatory_index", "log_crp", "metabolic_index", "aes", "anhedonia",
            "n_failed_trials", "cyp2c19_rank", "index_escitalopram_citalopram", "index_ssri_snri"],
        "endpoint": "HAMD17 response (>= 50% reduction) at week 8 of the index treatment",
    }
    if teh is not None:
        planted = teh == "planted"
        truth_doc.update({
            "response_model": {k: v for k, v in TEH_EFFECTS.items()
                               if planted or k in ("intercept", "anhedonia_per_sd", "per_prior_failed_trial")},
            "planted_predictors": ["anhedonia", "n_failed_trials"] + (
                ["inflammatory_index", "log_crp", "metabolic_index", "aes"] if planted else []),
            "teh": teh,
            "two_arm": {
                "arms": dict(TWO_ARM), "allocation": "1:1, n // 2 patients to arm B",
                "randomisation_stream": [seed, 4243],
                "prognostic_terms": ["intercept", "anhedonia_per_sd", "per_prior_failed_trial"],
                "effect_modifiers": (["immune_metabolic", "baseline_anhedonia_z"] if planted else []),
                "ite_true": "p_response_B - p_response_A",
            },
        })
    with open(out / "truth.yaml", "w") as fh:
        yaml.safe_dump(truth_doc, fh, sort_keys=False)
    paths["truth_doc"] = out / "truth.yaml"
    name = cohort or (f"sim{'null' if null else ''}_n{n}_s{seed}" if teh is None else f"simteh{teh}_n{n}_s{seed}")
    config = {
        "cohort": name,
        "genome_build": "GRCh38",
        "seed": seed,
        "inputs": {
            "patients": str(out / "patients.tsv"), "symptoms": str(out / "symptoms.tsv"),
            "treatments": str(out / "treatments.tsv"), "biomarkers": str(out / "biomarkers.tsv"),
        },
        "endpoint": {"kind": "response", "instrument": "HAMD17", "week": 8},
    }
    if genotypes:
        config["inputs"]["genotypes"] = {"vcf": str(paths["vcf"]), "sample_map": str(out / "sample_map.tsv"),
                                         "pgs": [str(paths["pgs"])]}
        config["inputs"]["star_alleles"] = [{"path": str(paths["cyrius"]), "tool": "cyrius", "gene": "CYP2D6",
                                             "sample_map": str(out / "sample_map.tsv")}]
    if teh is not None:
        # the index treatment is a 1:1 randomised trial: the heterogeneity stage analyses it
        config["heterogeneity"] = {"arms": [TWO_ARM["A"], TWO_ARM["B"]], "randomised": True}
    with open(out / "config.yaml", "w") as fh:
        yaml.safe_dump(config, fh, sort_keys=False)
    paths["config"] = out / "config.yaml"
    return paths
