"""Subtype stage on planted cohorts and on null cohorts of both kinds, for every clustering method.

For each method, planted cohorts of 1,000 patients (``--seeds`` from ``--first-seed``; 20
from 300 are the seeds of tests/test_subtype_acceptance.py) and null cohorts of each kind
(``--null-kinds``: ``hard``, the default null of ``stratify simulate --null``, and/or
``gaussian``, the null twin of earlier versions; ``--null-count`` seeds from ``--first-seed``)
are simulated and run through the validate, clinical and subtype stages. Reported per method
and kind: how often subtypes were claimed on null cohorts (false claims), how often the planted
subgroup was recovered (claimed, adjusted Rand index >= 0.8 and named immune-metabolic), and
time. With ``--test-all`` the existence tests (the default Gaussian-copula test with its Kendall
correlation, the same copula correlated by the normal scores' Pearson correlation, and the old
single-Gaussian one) are also run on every cohort whatever k the method chose, and their calibration
on the null cohorts is reported: share p < 0.05, and a one-sample Kolmogorov-Smirnov test of
the p-values against U(0, 1) (and the one-sided version whose alternative is "stochastically
smaller than uniform", i.e. anti-conservative). The power simulation of the stage
(detectable separation) decides no claim and is turned off here.

    uv run python bench/subtype_sweep.py --methods gmm_bic --null-kinds hard gaussian \\
        --null-count 100 --test-all --out bench/subtype_null_calibration.tsv
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import pandas as pd
from scipy.stats import kstest

from recovery import recovery_sweep


def calibration(p: pd.Series) -> dict:
    """Share p < 0.05, and KS tests of the p-values against U(0, 1) (two-sided, and one-sided
    against p-values smaller than uniform). Empirical p-values are discrete (steps of
    1 / (n_sim + 1)); the KS test treats them as continuous, which makes it conservative for
    the one-sided question asked."""
    p = p.dropna().to_numpy(float)
    two = kstest(p, "uniform")
    less = kstest(p, "uniform", alternative="greater")  # H1: CDF of p above uniform's (p too small)
    return {
        "n": len(p),
        "p<0.05": int(np.sum(p < 0.05)),
        "mean p": round(float(p.mean()), 3),
        "KS D": round(float(two.statistic), 3),
        "KS p (two-sided)": float(f"{two.pvalue:.3g}"),
        "KS p (p-values too small)": float(f"{less.pvalue:.3g}"),
    }


def _lines(method: str, d: pd.DataFrame, minutes: float, test_all: bool) -> list[dict]:
    p = d[~d["null"]]
    ok = p["claimed"] & (p["ari"] >= 0.8) & p["named_immune_metabolic"]
    out = [
        {
            "method": method,
            "cohorts": f"planted ({len(p)})",
            "claimed": int(p["claimed"].sum()),
            "recovered": int(ok.sum()),
            "ARI min": round(p["ari"].min(), 3),
            "ARI median": round(p["ari"].median(), 3),
            "minutes": minutes,
        }
    ]
    for kind, z in d[d["null"]].groupby("null_kind"):
        line = {
            "method": method,
            "cohorts": f"null, {kind} ({len(z)})",
            "claimed": int(z["claimed"].sum()),
            "k on null (counts)": {int(k): int(v) for k, v in z["n_clusters"].value_counts().sort_index().items()},
        }
        if test_all:
            for test in ("p_copula", "p_copula_scores", "p_gaussian"):
                line.update({f"{test} {k}": v for k, v in calibration(z[test]).items()})
        out.append(line)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["gmm_bic", "kmeans", "hdbscan", "consensus"])
    ap.add_argument("--seeds", type=int, default=20, help="planted cohorts")
    ap.add_argument("--first-seed", type=int, default=300)
    ap.add_argument("--null-kinds", nargs="+", choices=["hard", "gaussian"], default=["hard", "gaussian"])
    ap.add_argument("--null-count", type=int, default=20, help="null cohorts of each kind")
    ap.add_argument("--first-null-seed", type=int, help="first seed of the null cohorts (default: --first-seed)")
    ap.add_argument("--test-all", action="store_true", help="run both existence tests on every cohort")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--out", default="bench/subtype_sweep.tsv")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    frames, lines = [], []
    null0 = args.first_seed if args.first_null_seed is None else args.first_null_seed
    for method in args.methods:
        t0 = time.monotonic()
        d = recovery_sweep(
            range(args.first_seed, args.first_seed + args.seeds),
            n=args.n,
            subtype={"method": method, "detectable_separation": {"run": False}},
            processes=args.processes,
            null_seeds=range(null0, null0 + args.null_count),
            null_kinds=tuple(args.null_kinds),
            test_all=args.test_all,
        )
        frames.append(d)
        lines += _lines(method, d, round((time.monotonic() - t0) / 60, 1), args.test_all)
        print(lines[-1], flush=True)
    pd.concat(frames, ignore_index=True).to_csv(args.out, sep="\t", index=False)
    summary = pd.DataFrame(lines)
    summary.to_csv(args.out.replace(".tsv", "_summary.tsv"), sep="\t", index=False)
    print(summary.T.to_markdown())


if __name__ == "__main__":
    main()
