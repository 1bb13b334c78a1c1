"""Planted-truth checks of the subtype stage on simulated cohorts (used by tests and bench/).

:func:`subtype_recovery` simulates one cohort (planted or its null twin), runs the
validate and clinical stages in memory and the subtype stage on the clinical features,
and compares the result with the planted truth. :func:`recovery_sweep` does that over
many seeds, in parallel processes.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.metrics import adjusted_rand_score


def _simulated_clinical(
    seed: int, n: int, null: bool, null_kind: str = "hard"
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Simulate a cohort (10 SNPs: no stage here reads the genotypes) and run the validate
    and clinical stages in memory; returns the config, the clinical patients table and the truth.
    ``null_kind`` as ``stratify simulate --null-kind`` (only with ``null``)."""
    from stratify.clinical.scores import clinical_options, clinical_tables
    from stratify.config import load_config
    from stratify.inputs.validate import validate_inputs, validate_options
    from stratify.simulate.cohort import write_cohort

    with tempfile.TemporaryDirectory() as tmp:
        paths = write_cohort(Path(tmp), n=n, seed=seed, null=null, n_snps=10, null_kind=null_kind)
        cfg = load_config(paths["config"])
        tables, _ = validate_inputs(cfg["inputs"], **validate_options(cfg))
        patients = clinical_tables(tables, **clinical_options(cfg))["patients"]
        truth = pd.read_csv(paths["truth"], sep="\t")
    return cfg, patients, truth


def subtype_recovery(
    seed: int,
    *,
    n: int = 1000,
    null: bool = False,
    subtype: dict[str, Any] | None = None,
    null_kind: str = "hard",
    test_all: bool = False,
) -> dict[str, Any]:
    """Simulate, run validate, clinical and subtype, and score against the truth.

    Returns seed, null, n_clusters, claimed, existence p-value, the adjusted Rand index
    between the clusters and the planted immune-metabolic membership, whether the
    cluster holding most planted patients is named immune-metabolic, and seconds. With
    ``test_all`` also both existence tests on the standardised features whatever k the method
    chose (``p_copula``: the default, Kendall-based copula; ``p_copula_scores``: the copula
    correlated by the normal scores' Pearson correlation; ``p_gaussian``: the single Gaussian;
    the stage runs its test only when k > 1), for calibration.
    """
    from stratify.subtype.subtyping import EXISTENCE_TESTS, run_subtyping, standardise, subtype_options

    t0 = time.monotonic()
    cfg, patients, truth = _simulated_clinical(seed, n, null, null_kind)
    cfg["subtype"].update(subtype or {})
    assign, prof, summary, _ = run_subtyping(patients, options=subtype_options(cfg))
    m = assign.merge(truth[["patient_id", "immune_metabolic"]], on="patient_id")
    ari = float(adjusted_rand_score(m["immune_metabolic"], m["cluster"]))
    named = False
    if not null and summary["claimed"]:
        planted = m[m["immune_metabolic"] == 1]
        top = planted["cluster"].value_counts().idxmax()
        named = bool((m.loc[m["cluster"] == top, "subtype"] == "immune-metabolic").all())
    e = summary.get("existence_test", {})
    extra = {}
    if test_all:
        o = subtype_options(cfg)
        z, _, _ = standardise(patients, summary["features"])
        kw = {"n_sim": o.n_null, "random_state": o.seed, "n_init": o.n_init}
        extra["p_copula"] = EXISTENCE_TESTS["gaussian_copula"](z, **kw)["p_value"]
        extra["p_copula_scores"] = EXISTENCE_TESTS["gaussian_copula"](z, correlation="normal_scores", **kw)["p_value"]
        extra["p_gaussian"] = EXISTENCE_TESTS["gaussian"](z, **kw)["p_value"]
    return {
        "seed": seed,
        "null": null,
        "null_kind": null_kind if null else "",
        "n": n,
        "method": summary.get("method"),
        "n_clusters": summary.get("n_clusters"),
        "claimed": bool(summary.get("claimed")),
        "existence_p": e.get("p_value"),
        "ari": ari,
        "named_immune_metabolic": named,
        "min_jaccard": min(
            (v["mean_jaccard"] for v in summary.get("stability", {}).get("clusters", {}).values()), default=None
        ),
        **extra,
        "separation_sd": summary.get("detectable_separation", {}).get("separation_sd"),
        "seconds": round(time.monotonic() - t0, 1),
    }


def _one(args):
    seed, n, null, subtype, null_kind, test_all = args
    return subtype_recovery(seed, n=n, null=null, subtype=subtype, null_kind=null_kind, test_all=test_all)


def recovery_sweep(
    seeds,
    *,
    n: int = 1000,
    subtype: dict[str, Any] | None = None,
    processes: int = 2,
    null_seeds=None,
    null_kinds: tuple[str, ...] = ("hard",),
    test_all: bool = False,
) -> pd.DataFrame:
    """:func:`subtype_recovery` for every seed (planted), and for every seed of ``null_seeds``
    (default: ``seeds``) and null kind, in ``processes`` processes."""
    null_seeds = seeds if null_seeds is None else null_seeds
    jobs = [(s, n, False, subtype, "hard", test_all) for s in seeds]
    jobs += [(s, n, True, subtype, kind, test_all) for kind in null_kinds for s in null_seeds]
    if processes <= 1:
        rows = [_one(j) for j in jobs]
    else:
        with ProcessPoolExecutor(processes) as ex:
            rows = list(ex.map(_one, jobs))
    return pd.DataFrame(rows)


def model_null_check(seed: int, *, n: int = 800, null: bool = True, n_permutations: int = 100) -> dict[str, Any]:
    """Simulate a cohort, build the clinical and biomarker features, and run the response
    model with its permutation test (the genetic features are left out: they need the
    genotypes stage, and a null cohort has no signal in any feature)."""
    from stratify.features.table import available_features
    from stratify.model.fit import fit_response_model, model_options

    t0 = time.monotonic()
    cfg, p, _ = _simulated_clinical(seed, n, null)
    cfg["model"].update(n_permutations=n_permutations, n_bootstrap=200)
    known = available_features(cfg)
    groups = {g: [f for f in cfg["features"][g] if f in p.columns and f in known] for g in ("clinical", "biomarker")}
    feats = groups["clinical"] + groups["biomarker"]
    df = p[["patient_id", "site", *feats]].copy()
    df["y"] = p[cfg["endpoint"]["kind"]]
    res = fit_response_model(df, {"model_features": feats, "feature_groups": groups}, options=model_options(cfg))
    x = res["metrics"].get("selected", res["metrics"]["xgboost"])  # the main model (learner chosen in the CV)
    return {
        "seed": seed,
        "null": null,
        "n": n,
        "learner": res["info"].get("learner", "xgboost"),
        "fold_learners": ",".join(res["info"].get("fold_learners", [])),
        "auc": x["auc"],
        "auc_lo": x["auc_ci"][0],
        "auc_hi": x["auc_ci"][1],
        "permutation_p": x["permutation_test"]["p_value"],
        "permutation_null_sd": x["permutation_test"]["null_sd"],
        "calibration_slope": x["calibration"]["slope"],
        "seconds": round(time.monotonic() - t0, 1),
    }


def _model_one(args):
    seed, n, null, n_perm = args
    return model_null_check(seed, n=n, null=null, n_permutations=n_perm)


def model_null_sweep(
    seeds, *, n: int = 800, null: bool = True, n_permutations: int = 100, processes: int = 2
) -> pd.DataFrame:
    """:func:`model_null_check` for every seed, in ``processes`` processes."""
    jobs = [(s, n, null, n_permutations) for s in seeds]
    with ProcessPoolExecutor(processes) as ex:
        return pd.DataFrame(list(ex.map(_model_one, jobs)))
