"""Subtype stage on planted cohorts and their null twins, for every clustering method.

For each method, 20 planted cohorts and their 20 null twins of 1,000 patients (seeds
300-319, the seeds of tests/test_subtype_acceptance.py) are simulated and run through the
validate, clinical and subtype stages (recovery). Reported per method: how often
subtypes were claimed on null cohorts (false claims), how often the planted subgroup was
recovered (claimed, adjusted Rand index >= 0.8 and named immune-metabolic), and time.

    uv run python bench/subtype_sweep.py --out bench/subtype_sweep.tsv
"""

from __future__ import annotations

import argparse
import logging
import time

import pandas as pd

from recovery import recovery_sweep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["gmm_bic", "kmeans", "hdbscan", "consensus"])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=300)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--out", default="bench/subtype_sweep.tsv")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    frames, lines = [], []
    for method in args.methods:
        t0 = time.monotonic()
        d = recovery_sweep(
            range(args.first_seed, args.first_seed + args.seeds),
            n=args.n,
            subtype={"method": method},
            processes=args.processes,
        )
        frames.append(d)
        p, z = d[~d["null"]], d[d["null"]]
        ok = p["claimed"] & (p["ari"] >= 0.8) & p["named_immune_metabolic"]
        lines.append(
            {
                "method": method,
                "null cohorts": len(z),
                "false claims": int(z["claimed"].sum()),
                "planted cohorts": len(p),
                "recovered": int(ok.sum()),
                "ARI min": round(p["ari"].min(), 3),
                "ARI median": round(p["ari"].median(), 3),
                "k on null (counts)": {int(k): int(v) for k, v in z["n_clusters"].value_counts().sort_index().items()},
                "minutes": round((time.monotonic() - t0) / 60, 1),
            }
        )
        print(lines[-1], flush=True)
    pd.concat(frames, ignore_index=True).to_csv(args.out, sep="\t", index=False)
    print(pd.DataFrame(lines).to_markdown(index=False))


if __name__ == "__main__":
    main()
