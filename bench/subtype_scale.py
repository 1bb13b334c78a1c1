"""Wall time and peak memory of subtyping at 10,000 and 100,000 patients, per clustering
method. Run by hand, never in CI:

    uv run python bench/subtype_scale.py --n 10000 100000 \
        --methods gmm_bic kmeans hdbscan consensus --out bench/subtype_scale.tsv

Every (data, n, method) configuration runs in a fresh Python subprocess (this script with
``--child``), so its peak resident set size (``ru_maxrss``) is that configuration's own.
The child limits BLAS/OpenMP thread pools to one thread (``threadpoolctl.threadpool_limits(1)``,
plus ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS`` = 1 in its
environment) and does what ``stratify.subtype.subtyping.run_subtyping`` does with the default
configuration: ``make_method(name, max_k=6, min_cluster_fraction=0.05, n_init=5,
random_state=0).fit(X)``, then, only when ``n_clusters_ > 1``, ``sigclust(X, n_sim=100,
random_state=0)`` and ``bootstrap_stability(X, labels, est.refit_fixed, n_boot=100,
random_state=0)``. (``--force-tests`` runs the two tests even when one cluster is found,
to measure what they would cost.)

Data (no cohort is simulated: ``stratify.simulate.cohort`` is far too slow at 100,000 patients):
four features standing for the pipeline's standardised ``inflammatory_index``,
``metabolic_index``, ``aes`` and ``anhedonia``, drawn with numpy:

* within a group, N(0, 1) each, independent except corr(aes, anhedonia) = 0.24;
* ``planted``: 25% of patients (Bernoulli) form an immune-metabolic subgroup shifted by
  +2.4 within-group SD on the first three features (about 1.7 SD of the pooled,
  standardised feature); anhedonia is not shifted;
* ``null``: the same without a subgroup;
* then every column is z-scored, as ``stratify.subtype.subtyping.standardise`` does.

The shift and the correlation are what the demo cohort shows (``stratify simulate``,
n = 800, seed 7: standardised mean differences 2.3-2.5 on the first three features,
-0.13 on anhedonia; corr(aes, anhedonia) 0.24 within the majority group).

Bootstrap budget: before the bootstrap the child times one refit on a bootstrap-like
resample (not counted in any reported time). If fit + existence test + ``n_boot`` such
refits would exceed ``--budget`` seconds (default 600), the bootstrap runs with fewer
resamples (at least 5), recorded in the ``n_boot`` column; nothing is extrapolated.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from _tsv import write_tsv  # bench/ is on sys.path when a script runs

FEATURES = ["inflammatory_index", "metabolic_index", "aes", "anhedonia"]
SHIFT = 2.4  # within-group SD, first three features
SHARE = 0.25  # immune-metabolic subgroup
AES_ANH_CORR = 0.24
MIN_BOOT = 5

COLUMNS = [
    "data",
    "n",
    "method",
    "n_clusters",
    "tests",
    "fit_s",
    "sigclust_s",
    "n_sim",
    "bootstrap_s",
    "n_boot",
    "boot_per_resample_s",
    "total_s",
    "rss_base_mib",
    "peak_fit_mib",
    "peak_sigclust_mib",
    "peak_rss_mib",
    "ari_truth",
    "noise_fraction",
    "sigclust_p",
    "min_jaccard",
    "max_jaccard",
    "claimed",
    "child_wall_s",
    "load_start",
    "load_end",
    "status",
]


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return ""


def _peak_mib() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_data(n: int, null: bool, seed: int = 0):
    """(X, truth): standardised n x 4 matrix and the subgroup indicator (all False if null)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    im = np.zeros(n, dtype=bool) if null else rng.random(n) < SHARE
    z = rng.standard_normal((n, 4))
    # corr(aes, anhedonia) within groups
    z[:, 3] = AES_ANH_CORR * z[:, 2] + math.sqrt(1 - AES_ANH_CORR**2) * z[:, 3]
    z[:, :3] += SHIFT * im[:, None]
    X = (z - z.mean(axis=0)) / z.std(axis=0)
    return X, im


def child(args) -> dict:
    """One configuration, in this (fresh) process; returns the measured row."""
    load_start = _loadavg()
    t_child = time.perf_counter()
    import numpy as np
    from sklearn.metrics import adjusted_rand_score
    from threadpoolctl import threadpool_limits

    from stratify.subtype.methods import make_method
    from stratify.subtype.stats import bootstrap_stability, sigclust

    _limits = threadpool_limits(1)
    null = args.child_data == "null"
    X, truth = make_data(args.child_n, null)
    row = {
        "data": args.child_data,
        "n": args.child_n,
        "method": args.child_method,
        "load_start": load_start,
        "rss_base_mib": _peak_mib(),
        "n_sim": None,
        "n_boot": None,
        "sigclust_s": None,
        "bootstrap_s": None,
    }

    def say(msg: str) -> None:
        print(f"  [{args.child_data} n={args.child_n} {args.child_method}] {msg}", file=sys.stderr, flush=True)

    est = make_method(args.child_method, max_k=6, min_cluster_fraction=0.05, n_init=5, random_state=0)
    t = time.perf_counter()
    est.fit(X)
    row["fit_s"] = time.perf_counter() - t
    row["peak_fit_mib"] = _peak_mib()
    k = int(est.n_clusters_)
    labels = np.asarray(est.labels_, dtype=int)
    row["n_clusters"] = k
    row["ari_truth"] = None if null else float(adjusted_rand_score(truth, labels))
    row["noise_fraction"] = float((labels < 0).mean())
    say(f"fit {row['fit_s']:.1f} s, {k} cluster(s)")

    run_tests = k > 1 or args.force_tests
    row["tests"] = "run" if k > 1 else ("forced (k=1)" if args.force_tests else "skipped (k=1)")
    if run_tests:
        step = max(1, args.n_sim // 4)
        t = time.perf_counter()
        sc = sigclust(
            X, n_sim=args.n_sim, random_state=0, progress=lambda i, m: i % step == 0 and say(f"sigclust {i}/{m}")
        )
        row["sigclust_s"] = time.perf_counter() - t
        row["n_sim"] = args.n_sim
        row["sigclust_p"] = sc["p_value"]
        row["peak_sigclust_mib"] = _peak_mib()

        # one probe refit on a bootstrap-like resample, to keep the configuration within budget
        probe_rng = np.random.default_rng(12345)
        rows = np.unique(probe_rng.integers(0, len(X), size=len(X)))
        t = time.perf_counter()
        est.refit_fixed(X[rows], np.random.default_rng(probe_rng.integers(2**31 - 1)))
        probe = time.perf_counter() - t
        spent = row["fit_s"] + row["sigclust_s"]
        n_boot = args.n_boot
        if spent + n_boot * probe > args.budget:
            n_boot = max(MIN_BOOT, int((args.budget - spent) / probe))
            n_boot = min(n_boot, args.n_boot)
            say(f"one refit took {probe:.1f} s: bootstrap cut to {n_boot} resamples (budget {args.budget:.0f} s)")
        step = max(1, n_boot // 4)
        t = time.perf_counter()
        bs = bootstrap_stability(
            X,
            labels,
            lambda x, rng: est.refit_fixed(x, rng),
            n_boot=n_boot,
            random_state=0,
            progress=lambda i, m: i % step == 0 and say(f"bootstrap {i}/{m}"),
        )
        row["bootstrap_s"] = time.perf_counter() - t
        row["n_boot"] = n_boot
        row["boot_per_resample_s"] = row["bootstrap_s"] / n_boot
        jac = [c["mean_jaccard"] for c in bs["clusters"].values() if c["mean_jaccard"] is not None]
        row["min_jaccard"] = min(jac) if jac else None
        row["max_jaccard"] = max(jac) if jac else None
        stable = sum(j >= 0.75 for j in jac)
        row["claimed"] = bool(k > 1 and sc["p_value"] < 0.05 and stable >= 2)
    else:
        row["claimed"] = False
    row["total_s"] = row["fit_s"] + (row["sigclust_s"] or 0.0) + (row["bootstrap_s"] or 0.0)
    row["peak_rss_mib"] = _peak_mib()
    row["child_wall_s"] = time.perf_counter() - t_child
    row["load_end"] = _loadavg()
    row["status"] = "ok"
    return row


def run_one(data: str, n: int, method: str, args) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--child-data",
        data,
        "--child-n",
        str(n),
        "--child-method",
        method,
        "--n-sim",
        str(args.n_sim),
        "--n-boot",
        str(args.n_boot),
        "--budget",
        str(args.budget),
    ]
    if args.force_tests:
        cmd.append("--force-tests")
    t = time.perf_counter()
    try:
        out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, timeout=args.budget * 2 + 120)
    except subprocess.TimeoutExpired:
        return {"data": data, "n": n, "method": method, "status": f"killed after {time.perf_counter() - t:.0f} s"}
    if out.returncode != 0:
        return {"data": data, "n": n, "method": method, "status": f"failed (exit {out.returncode})"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fmt(v, col: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if col.endswith("_mib"):
            return f"{v:.0f}"
        if col in ("ari_truth", "min_jaccard", "max_jaccard", "noise_fraction", "sigclust_p"):
            return f"{v:.3f}"
        if col == "boot_per_resample_s":
            return f"{v:.3f}"
        if col.endswith("_s"):
            return f"{v:.2f}"
        return f"{v:.1f}"
    return str(v)


def _sec(v: float) -> str:
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def markdown(rows: list[dict]) -> str:
    head = [
        "data",
        "n",
        "method",
        "k",
        "fit s",
        "sigclust s",
        "bootstrap s (n_boot)",
        "total s",
        "RSS after data MiB",
        "peak RSS MiB",
        "ARI vs truth",
        "SigClust p",
        "Jaccard min-max",
        "claimed",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * (len(head) - 3)]
    for r in rows:
        if r.get("status") != "ok":
            lines.append(f"| {r['data']} | {r['n']:,} | {r['method']} | {r['status']} |" + " |" * (len(head) - 4))
            continue
        tested = r["tests"] != "skipped (k=1)"
        boot = f"{_sec(r['bootstrap_s'])} ({r['n_boot']})" if tested else "not run"
        sig = _sec(r["sigclust_s"]) if tested else "not run"
        jac = f"{r['min_jaccard']:.2f}-{r['max_jaccard']:.2f}" if tested and r.get("min_jaccard") is not None else ""
        cells = [
            r["data"],
            f"{r['n']:,}",
            r["method"] + (" (tests forced)" if r["tests"].startswith("forced") else ""),
            str(r["n_clusters"]),
            _sec(r["fit_s"]),
            sig,
            boot,
            _sec(r["total_s"]),
            f"{r['rss_base_mib']:.0f}",
            f"{r['peak_rss_mib']:.0f}",
            "" if r.get("ari_truth") is None else f"{r['ari_truth']:.3f}",
            f"{r['sigclust_p']:.3f}" if tested else "",
            jac,
            "yes" if r["claimed"] else "no",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    import numpy
    import sklearn

    mem = ""
    try:
        kb = int(
            next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")).split()[1]
        )
        mem = f"{kb / 1024**2:.1f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return (
        f"{os.cpu_count()} cores, {mem}; {platform.platform()}; Python {platform.python_version()}, "
        f"numpy {numpy.__version__}, scikit-learn {sklearn.__version__}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument(
        "--methods",
        nargs="+",
        default=["gmm_bic", "kmeans", "hdbscan", "consensus"],
        choices=["gmm_bic", "kmeans", "hdbscan", "consensus"],
    )
    ap.add_argument("--data", nargs="+", default=["planted", "null"], choices=["planted", "null"])
    ap.add_argument("--n-sim", type=int, default=100, help="SigClust null simulations (default 100)")
    ap.add_argument("--n-boot", type=int, default=100, help="bootstrap resamples (default 100)")
    ap.add_argument(
        "--budget",
        type=float,
        default=600.0,
        help="seconds per configuration above which the bootstrap runs fewer resamples (default 600)",
    )
    ap.add_argument(
        "--force-tests",
        action="store_true",
        help="run SigClust and the bootstrap even when the method finds one cluster",
    )
    ap.add_argument("--out", default="bench/subtype_scale.tsv")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child-n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--child-method", help=argparse.SUPPRESS)
    ap.add_argument("--child-data", choices=["planted", "null"], help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        print(json.dumps(child(args)), flush=True)
        return

    print(f"machine: {machine()}", file=sys.stderr)
    print(f"load average at start: {_loadavg()}", file=sys.stderr, flush=True)
    rows: list[dict] = []
    t0 = time.perf_counter()
    for data in args.data:
        for n in args.n:
            for method in args.methods:
                print(f"{data} n={n:,} {method} ...", file=sys.stderr, flush=True)
                row = run_one(data, n, method, args)
                rows.append(row)
                write_tsv(rows, Path(args.out), COLUMNS, _fmt)
                if row.get("status") == "ok":
                    tests = (
                        f"sigclust {row['sigclust_s']:.1f}, bootstrap {row['bootstrap_s']:.1f} with "
                        f"n_boot={row['n_boot']}"
                        if row["n_boot"]
                        else "tests not run"
                    )
                    print(
                        f"{data} n={n:,} {method}: k={row['n_clusters']}, total {row['total_s']:.1f} s "
                        f"(fit {row['fit_s']:.1f}, {tests}), peak RSS {row['peak_rss_mib']:.0f} MiB",
                        file=sys.stderr,
                        flush=True,
                    )
                else:
                    print(f"{data} n={n:,} {method}: {row['status']}", file=sys.stderr, flush=True)
    print(f"load average at end: {_loadavg()}; whole run {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    print(f"wrote {args.out}", file=sys.stderr)
    print(f"Machine: {machine()}. BLAS/OpenMP limited to 1 thread per child process.\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
