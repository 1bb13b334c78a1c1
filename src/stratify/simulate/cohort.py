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

The cohort is drawn in named steps, each in its own module: patients and their clinical
data (:mod:`stratify.simulate.clinical`), pharmacogenes (:mod:`stratify.simulate.pgx`),
treatment histories (:mod:`stratify.simulate.treatments`) and the genotype files
(:mod:`stratify.simulate.genotypes`); this module plants the response and writes the cohort.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from stratify.errors import InputError
from stratify.simulate.clinical import (
    MARKERS,
    NULL_KINDS,
    SITES,
    anhedonia_z,
    baseline_items,
    biomarker_table,
    follow_up_items,
    hard_null_biomarkers,
    hard_null_latent,
    latent_traits,
    symptom_table,
)
from stratify.simulate.genotypes import vcf_records, write_pgs_file, write_vcf
from stratify.simulate.pgx import PgxDraw, draw_pgx, write_cyrius
from stratify.simulate.relabel import check_labels, endpoint_config, feature_config, relabel
from stratify.simulate.treatments import INDEX_AGENTS, Histories, draw_histories, treatment_table

log = logging.getLogger(__name__)

__all__ = [
    "EFFECTS",
    "NULL_INTERCEPT",
    "TEH_EFFECTS",
    "TEH_MODES",
    "TWO_ARM",
    "cohort_config",
    "simulate_cohort",
    "write_cohort",
    "write_vcf",
]

EFFECTS = {
    "intercept": 0.6,
    "immune_metabolic_x_ssri_snri": -1.6,
    "anhedonia_per_sd": -0.5,
    "per_prior_failed_trial": -0.35,
    "cyp2c19_on_escitalopram_citalopram": {
        "Ultrarapid Metabolizer": -1.5,
        "Rapid Metabolizer": -0.7,
        "Poor Metabolizer": -0.8,
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


def _check_options(n: int, *, null: bool, teh: str | None, null_kind: str = "hard") -> None:
    if null_kind not in NULL_KINDS:
        raise InputError(f"--null-kind {null_kind!r}: expected one of {', '.join(NULL_KINDS)}")
    if n < 20:
        raise InputError(f"--n {n} is too small; simulate at least 20 patients")
    if teh is not None and teh not in TEH_MODES:
        raise InputError(f"--teh {teh!r}: expected one of {', '.join(TEH_MODES)}")
    if teh is not None and null:
        raise InputError(
            "--null and --teh cannot be combined; --teh none is the two-arm cohort without "
            "treatment-effect heterogeneity"
        )


def _draw_people(rng: np.random.Generator, n: int, *, null: bool) -> dict[str, np.ndarray]:
    """Patient and sample ids, site (and with it ancestry and lab units), age, sex, months of
    the current episode, and membership of the immune-metabolic subgroup (none if ``null``)."""
    site_idx = rng.choice(len(SITES), size=n, p=[s[1] for s in SITES])
    return {
        "pid": np.array([f"P{i:05d}" for i in range(1, n + 1)], dtype=object),
        "sid": np.array([f"S{i:05d}" for i in range(1, n + 1)], dtype=object),
        "site_idx": site_idx,
        "site": np.array([SITES[i][0] for i in site_idx], dtype=object),
        "ancestry": np.array([SITES[i][2] for i in site_idx], dtype=object),
        "age": np.clip(rng.normal(44, 13, n), 18, 85).round(0),
        "sex": np.where(rng.random(n) < 0.64, "F", "M").astype(object),
        "episode_months": np.clip(rng.gamma(2.0, 6.0, n), 1, 120).round(1),
        "im": np.zeros(n, dtype=bool) if null else rng.random(n) < 0.25,
    }


def _index_treatment(
    rng: np.random.Generator, n: int, *, seed: int, teh: str | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The index (prospective) agent per patient, and for a two-arm cohort who is in arm B."""
    agents = list(INDEX_AGENTS)
    index_agent = np.array(agents, dtype=object)[
        rng.choice(len(agents), size=n, p=[INDEX_AGENTS[a][0] for a in agents])
    ]
    if teh is None:
        return index_agent, None
    # randomised 1:1 (n // 2 patients to arm B), from a stream of its own
    teh_rng = np.random.default_rng([seed, 4243])
    arm_b = np.zeros(n, dtype=bool)
    arm_b[teh_rng.permutation(n)[: n // 2]] = True
    return np.where(arm_b, TWO_ARM["B"], TWO_ARM["A"]).astype(object), arm_b


def _two_arm_logits(teh: str, im: np.ndarray, anh: np.ndarray, prior_failed: np.ndarray):
    """Log-odds of response under arm A and arm B for a two-arm cohort (see TEH_EFFECTS)."""
    e = TEH_EFFECTS
    shared = e["intercept"] + e["anhedonia_per_sd"] * anh + e["per_prior_failed_trial"] * prior_failed
    if teh == "planted":
        half = 0.5 * (e["arm_b_vs_a"] + e["immune_metabolic_x_arm_b"] * im + e["anhedonia_per_sd_x_arm_b"] * anh)
    else:
        half = np.zeros(len(anh))
    return shared - half, shared + half


def _response_logits(
    anh: np.ndarray, im: np.ndarray, hist: Histories, pgx: PgxDraw, index_agent, arm_b, *, null: bool, teh: str | None
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """Log-odds of response to the index treatment (:data:`EFFECTS`, :data:`NULL_INTERCEPT` or
    :data:`TEH_EFFECTS`), and for a two-arm cohort those under arm A and arm B."""
    n = len(anh)
    if null:
        return np.full(n, NULL_INTERCEPT), None
    if teh is not None:
        logit_a, logit_b = _two_arm_logits(teh, im, anh, hist.prior_failed)
        return np.where(arm_b, logit_b, logit_a), (logit_a, logit_b)
    ssri_snri = np.array([INDEX_AGENTS[a][1] for a in index_agent])
    effects = EFFECTS["cyp2c19_on_escitalopram_citalopram"]
    cyp_eff = np.array([effects.get(p, 0.0) for p in pgx.cyp2c19_phenotype])
    esc_cit = np.isin(index_agent, ["escitalopram", "citalopram"])
    logit = (
        EFFECTS["intercept"]
        + EFFECTS["immune_metabolic_x_ssri_snri"] * (im & ssri_snri)
        + EFFECTS["anhedonia_per_sd"] * anh
        + EFFECTS["per_prior_failed_trial"] * hist.prior_failed
        + cyp_eff * esc_cit
    )
    return logit, None


def _index_outcome(
    rng: np.random.Generator, latent, people, hist: Histories, pgx: PgxDraw, index_agent, arm_b, *, null, teh
) -> dict[str, Any]:
    """Symptom items at week 0 and 8, response and dropout of the index treatment.

    Returns ``dropout``, ``base`` and ``fu`` (items by instrument at week 0 and 8), ``anh`` (the
    measured baseline anhedonia, z-scored), ``p_response``, ``responder`` and ``arm_logits``
    (log-odds under arm A and arm B of a two-arm cohort, else None).
    """
    n = len(people["pid"])
    # The random numbers that decide response, symptom change and dropout come first, the
    # week-0 items after them (the stream order of every earlier version, so null twins are
    # unchanged); the response probability is computed once the items exist, because it
    # uses the measured anhedonia score (the IDS-SR30 items of resources/dimensions.yaml):
    # published effects are of measured scores, and a model can only ever see the measured score.
    u_response = rng.random(n)
    change_if_responder, change_if_not = rng.uniform(0.55, 0.95, n), rng.uniform(-0.15, 0.42, n)
    dropout = rng.random(n) < 0.03
    base, base_lat = baseline_items(rng, n, latent)
    anh = anhedonia_z(base)
    logit, arm_logits = _response_logits(anh, people["im"], hist, pgx, index_agent, arm_b, null=null, teh=teh)
    p_resp = 1 / (1 + np.exp(-logit))
    responder = u_response < p_resp
    reduction = np.where(responder, change_if_responder, change_if_not)
    fu = follow_up_items(rng, latent, base, base_lat, responder=responder, reduction=reduction)
    return {
        "dropout": dropout,
        "base": base,
        "fu": fu,
        "anh": anh,
        "p_response": p_resp,
        "responder": responder,
        "arm_logits": arm_logits,
    }


def _tables(rng: np.random.Generator, people, hist: Histories, outcome: dict[str, Any], *, null: bool, latent):
    """The input tables of the cohort (symptoms, treatments and biomarkers drawn in this order);
    the hard null's markers follow its continuum (``latent["f"]``)."""
    pid, dropout = people["pid"], outcome["dropout"]
    symptoms = symptom_table(rng, pid, outcome["base"], outcome["fu"], dropout=dropout)
    h0, h8 = sum(outcome["base"]["HAMD17"].values()), sum(outcome["fu"]["HAMD17"].values())
    months = np.maximum(people["episode_months"], hist.chronic_months)
    treatments, months = treatment_table(rng, hist, pid, months, baseline=h0, end=h8, dropout=dropout)
    if "f" in latent:
        biomarkers = hard_null_biomarkers(rng, pid, people["site_idx"], latent["f"])
    else:
        biomarkers = biomarker_table(rng, pid, people["site_idx"], people["im"], null=null)
    patients = pd.DataFrame(
        {
            "patient_id": pid,
            "site": people["site"],
            "age": people["age"],
            "sex": people["sex"],
            "diagnosis": hist.diagnosis,
            "episode_months": months,
            "psychotic_features": hist.psychotic,
        }
    )
    return {
        "patients": patients,
        "symptoms": symptoms,
        "treatments": treatments,
        "biomarkers": biomarkers,
        "sample_map": pd.DataFrame({"sample_id": people["sid"], "patient_id": pid}),
    }


def _truth_table(
    people, pgx: PgxDraw, hist: Histories, latent, outcome: dict[str, Any], *, index_agent, arm_b
) -> pd.DataFrame:
    """The planted truth per patient (truth.tsv); for a two-arm cohort also the arm, the
    response probability under each arm and the true individual treatment effect."""
    truth = pd.DataFrame(
        {
            "patient_id": people["pid"],
            "site": people["site"],
            "ancestry": people["ancestry"],
            "immune_metabolic": people["im"].astype(int),
            "cyp2c19_diplotype": pgx.cyp2c19_diplotype,
            "cyp2c19_phenotype": pgx.cyp2c19_phenotype,
            "cyp2d6_diplotype": pgx.cyp2d6_diplotype,
            "index_agent": index_agent,
            "prior_failed_trials": hist.prior_failed,
            "diagnosis": hist.diagnosis,
            "latent_anhedonia": latent["anh"].round(4),
            "baseline_anhedonia_z": outcome["anh"].round(4),
            "latent_aes": latent["aes"].round(4),
            "p_response": outcome["p_response"].round(6),
            "planned_responder": outcome["responder"].astype(int),
            "dropout": outcome["dropout"].astype(int),
        }
    )
    if outcome["arm_logits"] is not None:
        p_a, p_b = (1 / (1 + np.exp(-x)) for x in outcome["arm_logits"])
        at = truth.columns.get_loc("p_response") + 1
        for k, (col, vals) in enumerate(
            [
                ("arm", np.where(arm_b, "B", "A").astype(object)),
                ("p_response_A", p_a.round(6)),
                ("p_response_B", p_b.round(6)),
                ("ite_true", (p_b - p_a).round(6)),
            ]
        ):
            truth.insert(at + k, col, vals)
    return truth


def simulate_cohort(
    n: int, *, seed: int, null: bool = False, teh: str | None = None, null_kind: str = "hard"
) -> dict[str, Any]:
    """Simulate a cohort; returns the tables (DataFrames), VCF records and truth.

    ``teh`` (``"planted"`` or ``"none"``) makes the index treatment a randomised two-arm
    comparison (:data:`TWO_ARM`) with planted or no treatment-effect heterogeneity; the
    truth then has the columns ``arm``, ``p_response_A``, ``p_response_B`` and ``ite_true``.
    With ``teh=None`` (the default) nothing changes. ``null_kind`` says which null a ``null``
    cohort is: ``"hard"`` (the default; :func:`stratify.simulate.clinical.hard_null_latent` and
    :func:`~stratify.simulate.clinical.hard_null_biomarkers`: bounded, rounded item scores and
    skewed log-normal markers driven by one continuum, no clusters) or ``"gaussian"`` (the null
    twin of earlier versions: independent Gaussian latent traits and log-normal markers).

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
    _check_options(n, null=null, teh=teh, null_kind=null_kind)
    rng = np.random.default_rng(seed)
    people = _draw_people(rng, n, null=null)
    hard = null and null_kind == "hard"
    latent = hard_null_latent(rng, n) if hard else latent_traits(rng, n, people["im"])
    pgx = draw_pgx(rng, people["ancestry"])
    index_agent, arm_b = _index_treatment(rng, n, seed=seed, teh=teh)
    # treatment histories come from their own stream, so that richer histories leave every
    # other draw (symptoms, markers, genotypes) of a seed unchanged
    hist = draw_histories(np.random.default_rng([seed, 7919]), people["pid"], index_agent)
    outcome = _index_outcome(rng, latent, people, hist, pgx, index_agent, arm_b, null=null, teh=teh)
    tables = _tables(rng, people, hist, outcome, null=null, latent=latent)
    truth = _truth_table(people, pgx, hist, latent, outcome, index_agent=index_agent, arm_b=arm_b)
    return {
        "tables": tables,
        "cyp2c19": (pgx.cyp2c19, pgx.h1, pgx.h2),
        "cyp2d6": pgx.cyp2d6_diplotype,
        "sample_ids": people["sid"],
        "ancestry": people["ancestry"],
        "truth": truth,
        "rng": rng,
        "null": null,
        "null_kind": null_kind if null else None,
        "teh": teh,
    }


GENOTYPE_FILES = ("genotypes.vcf.gz", "genotypes.vcf.gz.tbi", "cyp2d6.cyrius.tsv", "PGS_SIM_hmPOS_GRCh38.txt.gz")


def _write_genotypes(out: Path, c: dict[str, Any], *, n_snps: int, seed: int) -> dict[str, Path]:
    """The VCF, the PGS scoring file and Cyrius's CYP2D6 calls, drawn after everything else."""
    cyp, h1, h2 = c["cyp2c19"]
    log.info("writing VCF: %d samples, %d CYP2C19 positions, %d common SNPs", len(h1), len(cyp.positions), n_snps)
    recs = vcf_records(c["rng"], cyp, h1, h2, c["ancestry"], n_snps)
    return {
        "vcf": write_vcf(out / "genotypes.vcf.gz", c["sample_ids"], recs),
        "pgs": write_pgs_file(out / "PGS_SIM_hmPOS_GRCh38.txt.gz", recs, seed=seed),
        "cyrius": write_cyrius(out / "cyp2d6.cyrius.tsv", c["sample_ids"], c["cyp2d6"], c["rng"]),
    }


def _truth_doc(*, n: int, seed: int, null: bool, teh: str | None, null_kind: str = "hard") -> dict[str, Any]:
    """The planted effects (truth.yaml)."""
    doc = {
        "simulator": "stratify simulate",
        "n": n,
        "seed": seed,
        "null": null,
        **({"null_kind": null_kind} if null else {}),
        "immune_metabolic_share": 0.0 if null else 0.25,
        "response_model": {"intercept": NULL_INTERCEPT} if null else EFFECTS,
        "marker_shift_log_scale": {} if null else {m: v[2] for m, v in MARKERS.items()},
        "aes_latent_shift": 0.0 if null else 1.6,
        "planted_predictors": []
        if null
        else [
            "inflammatory_index",
            "log_crp",
            "metabolic_index",
            "aes",
            "anhedonia",
            "n_failed_trials",
            "cyp2c19_rank",
            "index_escitalopram_citalopram",
            "index_ssri_snri",
        ],
        "endpoint": "HAMD17 response (>= 50% reduction) at week 8 of the index treatment",
    }
    if teh is not None:
        planted = teh == "planted"
        doc.update(
            {
                "response_model": {
                    k: v
                    for k, v in TEH_EFFECTS.items()
                    if planted or k in ("intercept", "anhedonia_per_sd", "per_prior_failed_trial")
                },
                "planted_predictors": ["anhedonia", "n_failed_trials"]
                + (["inflammatory_index", "log_crp", "metabolic_index", "aes"] if planted else []),
                "teh": teh,
                "two_arm": {
                    "arms": dict(TWO_ARM),
                    "allocation": "1:1, n // 2 patients to arm B",
                    "randomisation_stream": [seed, 4243],
                    "prognostic_terms": ["intercept", "anhedonia_per_sd", "per_prior_failed_trial"],
                    "effect_modifiers": (["immune_metabolic", "baseline_anhedonia_z"] if planted else []),
                    "ite_true": "p_response_B - p_response_A",
                },
            }
        )
    return doc


def cohort_config(
    out: Path,
    *,
    name: str,
    seed: int,
    genotypes: bool,
    teh: str | None,
    instruments: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The config that runs the cohort written into ``out`` (files named in ``out``: absolute when
    it is); with ``instruments``, the endpoint and features that the rated instruments allow
    (:mod:`stratify.simulate.relabel`)."""
    config = {
        "cohort": name,
        "genome_build": "GRCh38",
        "seed": seed,
        "inputs": {
            "patients": str(out / "patients.tsv"),
            "symptoms": str(out / "symptoms.tsv"),
            "treatments": str(out / "treatments.tsv"),
            "biomarkers": str(out / "biomarkers.tsv"),
        },
        **endpoint_config(instruments),
    }
    if instruments is not None:
        config.update(feature_config(instruments))
    if genotypes:
        config["inputs"]["genotypes"] = {
            "vcf": str(out / "genotypes.vcf.gz"),
            "sample_map": str(out / "sample_map.tsv"),
            "pgs": [str(out / "PGS_SIM_hmPOS_GRCh38.txt.gz")],
        }
        config["inputs"]["star_alleles"] = [
            {
                "path": str(out / "cyp2d6.cyrius.tsv"),
                "tool": "cyrius",
                "gene": "CYP2D6",
                "sample_map": str(out / "sample_map.tsv"),
            }
        ]
    if teh is not None:
        # the index treatment is a 1:1 randomised trial: the heterogeneity stage analyses it
        config["heterogeneity"] = {"arms": [TWO_ARM["A"], TWO_ARM["B"]], "randomised": True}
    return config


def _label_doc(*, instruments: Sequence[str] | None, sites: Sequence[str] | None, id_prefix: str) -> dict[str, Any]:
    """truth.yaml's record of the relabelling options (nothing when they are at their defaults)."""
    doc: dict[str, Any] = {}
    if instruments is not None:
        doc["instruments"] = list(instruments)
        if "HAMD17" not in instruments:
            doc["endpoint_note"] = (
                "no HAMD-17 items were written: planned_responder is the response on the unobserved HAMD-17; "
                "the config's endpoint is measured on the instruments written (converted where it says so)"
            )
    if sites is not None:
        doc["sites"] = {s[0]: new for s, new in zip(SITES, sites, strict=True)}
    if id_prefix:
        doc["id_prefix"] = id_prefix
    return doc


def _write_yaml(doc: dict[str, Any], path: Path) -> Path:
    with open(path, "w") as fh:
        yaml.safe_dump(doc, fh, sort_keys=False)
    return path


def write_cohort(
    out: str | Path,
    *,
    n: int,
    seed: int,
    null: bool = False,
    n_snps: int = 3000,
    cohort: str | None = None,
    teh: str | None = None,
    genotypes: bool = True,
    null_kind: str = "hard",
    instruments: Sequence[str] | None = None,
    sites: Sequence[str] | None = None,
    id_prefix: str = "",
) -> dict[str, Path]:
    """Simulate a cohort and write it, with its config and truth, into ``out``.

    ``teh`` as in :func:`simulate_cohort` (a two-arm cohort; ``truth.yaml`` then also has
    ``teh`` and ``two_arm``, and the config a ``heterogeneity`` block declaring the randomised
    arms, escitalopram first). With ``genotypes=False`` neither the VCF nor the Cyrius CYP2D6
    calls are written (a cohort without genetic data; the written config then has no
    ``inputs.genotypes`` and no ``inputs.star_alleles``); every other file is the same as with
    them, because both are drawn after everything else. Returns the written paths by role.
    The config names the files by absolute path, so it stays valid wherever it is copied.

    ``instruments`` (a subset of HAMD17, QIDS_SR16, IDS_SR30), ``sites`` (names replacing
    site_A..site_D) and ``id_prefix`` (put before every patient and sample id) make the cohort
    look like another site's (:func:`stratify.simulate.relabel.relabel`; a consortium's cohorts
    differ in them). They are applied after every draw, so the patients and values are those of
    the same seed without them; the config's endpoint and feature lists then follow the
    instruments (:func:`~stratify.simulate.relabel.endpoint_config`), and ``truth.yaml`` records
    the three options. Left at their defaults, nothing changes.
    """
    check_labels(instruments=instruments, sites=sites, id_prefix=id_prefix)
    out = Path(out).resolve()
    c = simulate_cohort(n, seed=seed, null=null, teh=teh, null_kind=null_kind)
    if instruments is not None or sites is not None or id_prefix:
        c = relabel(c, instruments=instruments, sites=sites, id_prefix=id_prefix)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, df in c["tables"].items():
        paths[name] = out / f"{name}.tsv"
        df.to_csv(paths[name], sep="\t", index=False, float_format="%.6g")
    if genotypes:
        paths.update(_write_genotypes(out, c, n_snps=n_snps, seed=seed))
    else:
        for stale in GENOTYPE_FILES:
            (out / stale).unlink(missing_ok=True)  # files of an earlier run must not pass for this one's
        log.info("no genotype files written (no VCF, no scoring file, no Cyrius calls): the cohort has no genetic data")
    c["truth"].to_csv(out / "truth.tsv", sep="\t", index=False)
    paths["truth"] = out / "truth.tsv"
    doc = _truth_doc(n=n, seed=seed, null=null, teh=teh, null_kind=null_kind)
    doc.update(_label_doc(instruments=instruments, sites=sites, id_prefix=id_prefix))
    paths["truth_doc"] = _write_yaml(doc, out / "truth.yaml")
    name = cohort or (f"sim{'null' if null else ''}_n{n}_s{seed}" if teh is None else f"simteh{teh}_n{n}_s{seed}")
    config = cohort_config(out, name=name, seed=seed, genotypes=genotypes, teh=teh, instruments=instruments)
    paths["config"] = _write_yaml(config, out / "config.yaml")
    return paths
