"""Run the whole pipeline (without Snakemake) on planted cohorts and their null twins over
many seeds and report how often it finds what was planted and how often it claims
something on a null cohort. Run by hand:

    uv run python bench/seed_sweep.py --seeds 20 --n 800 --out bench/seed_sweep.tsv
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from sklearn.metrics import adjusted_rand_score, roc_auc_score

from stratify.config import load_config
from stratify.io.tables import read_table
from stratify.pipeline import run_all
from stratify.simulate.cohort import write_cohort


def one(seed: int, n: int, null: bool, tmp: Path) -> dict:
    d = tmp / f"{'null' if null else 'planted'}_{seed}"
    paths = write_cohort(d / "cohort", n=n, seed=seed, null=null, n_snps=600)
    t0 = time.monotonic()
    run_all(load_config(paths["config"]), d / "results")
    r = d / "results"
    truth = pd.read_csv(paths["truth"], sep="\t")
    met = json.loads((r / "model" / "metrics.json").read_text())["metrics"]["xgboost"]
    sub = json.loads((r / "subtype" / "summary.json").read_text())
    a = read_table(r / "subtype" / "assignments.parquet", kind="subtype.assignments").merge(truth, on="patient_id")
    f = read_table(r / "features" / "features.parquet", kind="features").merge(truth, on="patient_id")
    f = f[f["y"].notna()]
    imp = pd.read_csv(r / "explain" / "importance.tsv", sep="\t")
    planted = set(yaml.safe_load(Path(paths["truth_doc"]).read_text())["planted_predictors"])
    return {
        "seed": seed,
        "null": null,
        "seconds": round(time.monotonic() - t0, 1),
        "n_clusters": sub["n_clusters"],
        "claimed": sub["claimed"],
        "ari": adjusted_rand_score(a["immune_metabolic"], a["cluster"]),
        "named_immune_metabolic": "immune-metabolic" in set(a["subtype"]),
        "oracle_auc": roc_auc_score(f["y"], f["p_response"]) if not null else 0.5,
        "auc": met["auc"],
        "auc_lo": met["auc_ci"][0],
        "auc_hi": met["auc_ci"][1],
        "planted_in_top5": bool(planted & set(imp["feature"].head(5))),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=100)
    ap.add_argument("--n", type=int, default=800)
    ap.add_argument("--out", default="bench/seed_sweep.tsv")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in range(args.first_seed, args.first_seed + args.seeds):
            for null in (False, True):
                rows.append(one(s, args.n, null, Path(tmp)))
                print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(args.out, sep="\t", index=False)
    p, z = df[~df["null"]], df[df["null"]]
    print(
        f"planted ({len(p)}): ARI >= 0.8 in {(p['ari'] >= 0.8).sum()}, named immune-metabolic in "
        f"{p['named_immune_metabolic'].sum()}, AUC CI above 0.5 in {(p['auc_lo'] > 0.5).sum()}, "
        f"planted predictor in SHAP top 5 in {p['planted_in_top5'].sum()}; "
        f"mean AUC {p['auc'].mean():.3f} vs oracle {p['oracle_auc'].mean():.3f}"
    )
    print(
        f"null ({len(z)}): subtypes claimed in {z['claimed'].sum()}, AUC CI excludes 0.5 in "
        f"{((z['auc_lo'] > 0.5) | (z['auc_hi'] < 0.5)).sum()}"
    )


if __name__ == "__main__":
    main()
