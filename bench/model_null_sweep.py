"""Permutation test of the response model on null cohorts (issue 5 acceptance, null part).

20 null cohorts (seeds 400-419, 800 patients, no planted signal) are simulated and run
through validate and clinical; the response model (XGBoost with the default nested
cross-validation: leave-one-site-out over the 4 simulated sites, inner search of 6
candidates with early stopping; clinical and biomarker features) is fitted with its
permutation test (100 permutations of the outcome, the outer cross-validation repeated each
time). Acceptance: permutation p > 0.05 in at least 18 of 20.

    uv run python bench/model_null_sweep.py --out bench/model_null_sweep.tsv
"""

from __future__ import annotations

import argparse
import logging

from stratify.recovery import model_null_sweep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=400)
    ap.add_argument("--n", type=int, default=800)
    ap.add_argument("--permutations", type=int, default=100)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--out", default="bench/model_null_sweep.tsv")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    d = model_null_sweep(range(args.first_seed, args.first_seed + args.seeds), n=args.n, null=True,
                         n_permutations=args.permutations, processes=args.processes)
    d.to_csv(args.out, sep="\t", index=False)
    above = int((d["permutation_p"] > 0.05).sum())
    ci_excl = int(((d["auc_lo"] > 0.5) | (d["auc_hi"] < 0.5)).sum())
    print(d.round(3).to_string(index=False))
    print(f"null cohorts: permutation p > 0.05 in {above} of {len(d)} (acceptance: >= 18 of 20); "
          f"bootstrap AUC interval excludes 0.5 in {ci_excl} of {len(d)}")


if __name__ == "__main__":
    main()
