"""What the genetic features cost the elastic net on cohorts whose response has no genetic term.

Two-arm cohorts (``stratify simulate --teh planted``: the response model has no CYP2C19 or
polygenic effect) are simulated and run through every stage up to the features; the elastic
net (:func:`stratify.model.linear.enet_search` with its derived terms,
:func:`stratify.model.response.linear_design`) is scored under leave-one-site-out, once on all
model features and once without the genetic group, each with its own inner search (5-fold,
stratified). The difference is the cost of the noise features to the learner the model stage
chose in these cohorts (docs/validation.md, two-arm cohorts); ``xgboost_no_genetic`` in
bench/model_oracle.py compares against trees instead.

    uv run python bench/model_genetic_cost.py --teh planted --seeds 600 601 602 603 604   # ~3 min per cohort
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold


def _features(seed: int, n: int, teh: str | None, tmp: Path) -> tuple[pd.DataFrame, dict]:
    from stratify.config import load_config
    from stratify.pipeline import STAGES
    from stratify.simulate.cohort import write_cohort

    paths = write_cohort(tmp / "cohort", n=n, seed=seed, n_snps=300, teh=teh)
    cfg = load_config(paths["config"])
    for stage in ("validate", "genotypes", "pgx", "clinical", "trd", "features"):
        STAGES[stage](cfg, tmp / "results")
    f = pd.read_parquet(tmp / "results" / "features" / "features.parquet")
    return f[f["y"].notna()], json.loads((tmp / "results" / "features" / "summary.json").read_text())


def _loso_enet_auc(f: pd.DataFrame, feats: list[str], genetic: set[str], seed: int) -> float:
    from stratify.model.linear import enet_search
    from stratify.model.response import covariate_columns, fit_learner, linear_design

    X, y, sites = f[feats].to_numpy(float), f["y"].to_numpy(float), f["site"].to_numpy()
    cov = [i for i in covariate_columns(feats) if feats[i] in genetic]
    design = linear_design(feats)
    pred = np.zeros(len(y))
    for k, site in enumerate(np.unique(sites)):
        te, tr = sites == site, sites != site
        splits = list(StratifiedKFold(5, shuffle=True, random_state=seed + k).split(X[tr], y[tr]))
        s = enet_search(X[tr], y[tr], splits, task="classification", covariates=cov, seed=seed, design=design)
        m = fit_learner(
            "elastic_net", X[tr], y[tr], s["params"], task="classification", seed=seed, covariates=cov, design=design
        )
        pred[te] = m.predict(X[te])
    return float(roc_auc_score(y, pred))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[600])
    ap.add_argument("--teh", choices=["planted", "none"], default="planted")
    ap.add_argument("--out", default="bench/model_genetic_cost.tsv")
    args = ap.parse_args()
    rows = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            f, summary = _features(seed, args.n, args.teh, Path(tmp))
        feats = summary["model_features"]
        genetic = set(summary["feature_groups"].get("genetic", []))
        row = {
            "seed": seed,
            "n": args.n,
            "teh": args.teh,
            "enet_all_features": _loso_enet_auc(f, feats, genetic, seed),
            "enet_without_genetic": _loso_enet_auc(f, [c for c in feats if c not in genetic], genetic, seed),
        }
        row["difference"] = row["enet_all_features"] - row["enet_without_genetic"]
        rows.append(row)
        print(
            f"seed {seed}: elastic net, leave-one-site-out AUC {row['enet_all_features']:.4f} with the genetic "
            f"features, {row['enet_without_genetic']:.4f} without ({row['difference']:+.4f})",
            flush=True,
        )
        pd.DataFrame(rows).to_csv(args.out, sep="\t", index=False)
    d = pd.DataFrame(rows)
    print(
        f"{len(d)} cohorts: mean difference {d['difference'].mean():+.4f} ({d['difference'].min():+.4f} to {d['difference'].max():+.4f})"
    )


if __name__ == "__main__":
    main()
