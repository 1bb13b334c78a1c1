"""Cross-validated AUC against the oracle AUC on a large planted cohort (issue 5 acceptance).

A planted cohort (default 5,000 patients, seed 500) is simulated and run through every
stage up to the model (validate, genotypes, pgx, clinical, trd, features, model: nested
leave-one-site-out cross-validation with the default inner search). The oracle AUC is the
AUC of the simulator's true response probabilities (truth.tsv, ``p_response``) against the
observed endpoint of the same patients: the best any model of these data could do.
Issue 19's acceptance: the selected model's (nested learner choice) mean gap is <= 0.03 over 10
cohorts of 1,000 and <= 0.02 at 5,000. Beside it, :func:`ceilings`
measures how much of the oracle the observed data allow at all.

    uv run python bench/model_oracle.py --seeds 500 501 502 --out bench/model_oracle.tsv   # about 7 minutes
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score


def oracle_check(seed: int, n: int, *, n_snps: int = 300, teh: str | None = None) -> dict:
    from stratify.config import load_config
    from stratify.io.tables import read_table
    from stratify.pipeline import STAGES
    from stratify.simulate.cohort import write_cohort

    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_cohort(Path(tmp) / "cohort", n=n, seed=seed, n_snps=n_snps, teh=teh)
        cfg = load_config(paths["config"])
        cfg["model"].update(n_permutations=0, n_bootstrap=200)
        results = Path(tmp) / "results"
        for stage in ("validate", "genotypes", "pgx", "clinical", "trd", "features", "model"):
            logging.getLogger("bench").info("stage %s", stage)
            STAGES[stage](cfg, results)
        oof = read_table(results / "model" / "oof_predictions.parquet", kind="model.oof")
        truth = pd.read_csv(paths["truth"], sep="\t")
        row = {**_row(oof, truth, seed, n, results), "teh": teh or ""}
    row["seconds"] = round(time.monotonic() - t0, 1)
    return row


def _row(oof, truth, seed: int, n: int, results: Path) -> dict:
    """The oracle AUC and every model's cross-validated AUC and gap."""
    m = oof.merge(truth[["patient_id", "p_response"]], on="patient_id", how="left", validate="one_to_one")
    oracle = float(roc_auc_score(m["y"], m["p_response"]))
    row = {"seed": seed, "n": n, "n_with_endpoint": len(m), "oracle_auc": oracle}
    for col in [c for c in oof.columns if c not in ("patient_id", "site", "y")]:
        row[f"cv_auc_{col}"] = float(roc_auc_score(m["y"], m[col])) if m[col].nunique() > 1 else 0.5
    # the model stage's own statistic under leave-one-site-out: AUC within sites (pairs of patients
    # of the same site), for the oracle and every model alike
    from stratify.model.metrics import stratified_auc

    strata = m["site"].astype(str).to_numpy()
    row["oracle_auc_within_site"] = float(stratified_auc(m["y"].to_numpy(), m["p_response"].to_numpy(), strata))
    for col in [c for c in oof.columns if c not in ("patient_id", "site", "y")]:
        row[f"within_auc_{col}"] = float(stratified_auc(m["y"].to_numpy(), m[col].to_numpy(), strata))
    row["gap_within_selected"] = row["oracle_auc_within_site"] - row["within_auc_selected"]
    row["gap_xgboost"] = oracle - row["cv_auc_xgboost"]
    row["gap_selected"] = oracle - row["cv_auc_selected"]
    msum = json.loads((results / "model" / "metrics.json").read_text())
    row["fold_learners"] = ",".join(msum.get("fold_learners", []))
    row["final_learner"] = msum.get("learner")
    # the final elastic net's inner choice: with the treatment-modifier products or without
    row["final_enet_interactions"] = (msum.get("enet_params") or {}).get("interactions")
    return row


def ceilings(seed: int, n: int) -> dict:
    """How much of the oracle AUC the observed data allow: 5-fold cross-validated AUCs of
    logistic regressions that know the simulator's response model (src/stratify/simulate/cohort.py,
    EFFECTS) and use (a) the observed proxies of the planted subgroup (inflammatory and
    metabolic index, log CRP) with their interactions with an SSRI/SNRI index treatment,
    plus CYP2C19 phenotype x escitalopram/citalopram, or (b) the true subgroup membership and
    the true CYP2C19 phenotype instead. Anhedonia and prior failures are the observed ones.
    (a) is also scored leave-one-site-out with pooled AUC (``ceiling_observed_proxies_loso``), the
    way the pipeline's models are scored in :func:`oracle_check`."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    from recovery import _simulated_clinical

    _, p, truth = _simulated_clinical(seed, n, False)
    d = p.merge(truth, on="patient_id", suffixes=("", "_truth"))
    d = d[d["response"].notna()]
    y = d["response"].astype(int).to_numpy()
    ssri = d["index_ssri_snri"].fillna(0).to_numpy()
    esc = d["index_escitalopram_citalopram"].fillna(0).to_numpy()
    ph = pd.get_dummies(d["cyp2c19_phenotype"]).to_numpy(dtype=float)
    cyp = [ph[:, j] * esc for j in range(ph.shape[1])]
    base = [d["anhedonia"].fillna(d["anhedonia"].mean()), d["n_failed_trials"].fillna(0), ssri, esc]
    prox = [d[c].fillna(d[c].mean()) for c in ("inflammatory_index", "metabolic_index", "log_crp")]
    im = d["immune_metabolic"].to_numpy(dtype=float)

    def cv_auc(cols, by_site=False):
        X = np.column_stack(cols)
        if by_site:  # leave one site out, pooled AUC: how the pipeline's models are scored
            pr = np.zeros(len(y))
            for s in np.unique(sites):
                te = sites == s
                pr[te] = LogisticRegression(max_iter=3000).fit(X[~te], y[~te]).predict_proba(X[te])[:, 1]
        else:
            pr = cross_val_predict(LogisticRegression(max_iter=3000), X, y, cv=5, method="predict_proba")[:, 1]
        return float(roc_auc_score(y, pr))

    sites = d["site"].astype(str).to_numpy()
    proxies = base + prox + [ssri * v for v in prox] + cyp
    return {
        "oracle_auc": float(roc_auc_score(y, d["p_response"])),
        "ceiling_observed_proxies": cv_auc(proxies),
        "ceiling_observed_proxies_loso": cv_auc(proxies, by_site=True),
        "ceiling_true_subgroup": cv_auc(base + [im, ssri * im] + cyp),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[500], help="one cohort per seed (default 500)")
    ap.add_argument("--out", default="bench/model_oracle.tsv")
    ap.add_argument("--ceiling-only", action="store_true", help="only the logistic ceilings (about a minute)")
    ap.add_argument(
        "--teh",
        choices=["planted", "none"],
        help="two-arm cohorts (simulate --teh): no genetic effect on response; implies --skip-ceilings",
    )
    ap.add_argument("--skip-ceilings", action="store_true", help="only the pipeline's models (no logistic ceilings)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("matplotlib", "shap", "numba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    rows = []
    for seed in args.seeds:
        row = {} if args.ceiling_only else oracle_check(seed, args.n, teh=args.teh)
        c = {} if args.skip_ceilings or args.teh else ceilings(seed, args.n)
        if c:
            print(
                f"seed {seed}: correctly specified logistic regression, 5-fold CV: observed proxies "
                f"{c['ceiling_observed_proxies']:.3f} (leave-one-site-out {c['ceiling_observed_proxies_loso']:.3f}), "
                f"true subgroup and CYP2C19 {c['ceiling_true_subgroup']:.3f}; oracle {c['oracle_auc']:.3f}"
            )
        if args.ceiling_only:
            continue
        row.update({k: v for k, v in c.items() if k != "oracle_auc"})
        rows.append(row)
        print(
            f"seed {seed}: oracle AUC {row['oracle_auc']:.3f}, cross-validated AUC of the selected model "
            f"{row['cv_auc_selected']:.3f} (gap {row['gap_selected']:.3f}; XGBoost {row['gap_xgboost']:.3f}; "
            f"within sites {row['gap_within_selected']:.3f}); "
            f"folds chose {row['fold_learners']}, final {row['final_learner']}; without genetic features "
            f"{row.get('cv_auc_xgboost_no_genetic', float('nan')):.3f}",
            flush=True,
        )
        pd.DataFrame(rows).to_csv(args.out, sep="\t", index=False)
    if rows:
        d = pd.DataFrame(rows)
        d.to_csv(args.out, sep="\t", index=False)
        print(d.round(4).T.to_string(header=False))
        print(
            f"n {args.n}, {len(d)} cohorts: mean gap of the selected model {d['gap_selected'].mean():.4f} "
            f"({d['gap_selected'].min():.3f} to {d['gap_selected'].max():.3f}); XGBoost {d['gap_xgboost'].mean():.4f}"
        )
        print(f"within sites: mean gap of the selected model {d['gap_within_selected'].mean():.4f}")
        if "cv_auc_xgboost_no_genetic" in d:
            dw = d["within_auc_selected"] - d["within_auc_xgboost_no_genetic"]
            print(f"within sites, selected minus without genetic: mean {dw.mean():+.4f}")
            diff = d["cv_auc_selected"] - d["cv_auc_xgboost_no_genetic"]
            print(
                f"selected minus XGBoost without genetic features: mean {diff.mean():+.4f} "
                f"({diff.min():+.3f} to {diff.max():+.3f})"
            )


if __name__ == "__main__":
    main()
