"""Is the simulator's null twin null feature by feature? (issue 5, diagnosing the null sweep)

For the 20 null cohorts of bench/model_null_sweep.py (seeds 400-419, 800 patients), the AUC of
each model feature on its own against the response endpoint. Under a true null each averages
0.5 over the seeds with a spread of about 0.02 at this size.

    uv run python bench/null_feature_audit.py --out bench/null_feature_audit.tsv
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from recovery import _simulated_clinical

FEATURES = [
    "baseline_severity",
    "anhedonia",
    "aes",
    "anxiety_somatization",
    "inflammatory_index",
    "metabolic_index",
    "immune_metabolic_score",
    "n_failed_trials",
    "age",
    "sex_female",
    "index_ssri_snri",
    "log_crp",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=400)
    ap.add_argument("--n", type=int, default=800)
    ap.add_argument("--out", default="bench/null_feature_audit.tsv")
    args = ap.parse_args()
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        cfg, p, _ = _simulated_clinical(seed, args.n, True)
        y = p[cfg["endpoint"]["kind"]]
        r = {"seed": seed}
        for f in FEATURES:
            m = y.notna() & p[f].notna()
            r[f] = roc_auc_score(y[m].astype(int), p.loc[m, f])
        rows.append(r)
    d = pd.DataFrame(rows).set_index("seed")
    d.to_csv(args.out, sep="\t")
    summ = pd.DataFrame(
        {"mean": d.mean(), "sd": d.std(ddof=1), "t": (d.mean() - 0.5) / (d.std(ddof=1) / np.sqrt(len(d)))}
    )
    print(d.round(3).to_string())
    print(summ.round(4).to_string())


if __name__ == "__main__":
    main()
