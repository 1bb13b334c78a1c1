"""How often does the consortium analysis get the right answer? Simulated consortia over seeds.

For each seed S this writes the default simulated consortium (what ``stratify simulate
--consortium OUT --seed S`` writes, via :func:`stratify.simulate.consortium.write_consortium`:
cohort a planted, 1,200 patients, HAMD-17 and IDS-SR30; cohort b planted, 1,000, QIDS-SR16 and
IDS-SR30 with its HAMD-17 endpoint converted from QIDS-SR16; cohort c the hard null, 800, all
three instruments; cohort seeds S, S+1, S+2) **without genotypes** (``genotypes=False``: no VCF
and no CYP2D6 calls, so the genotype and PGx stages have nothing to do and ``cyp2c19_rank``, one
of the planted predictors, is not a feature), validates each cohort config
(:func:`stratify.config.load_config`), runs every stage up to heterogeneity of each cohort with
its *default* subtype and model settings (:data:`stratify.pipeline.ORDER` and
:func:`stratify.io.layout.config_slice`, as tests/conftest.py ``consortium_runs`` does), then the
consortium stage (:func:`stratify.consortium.stage.run_consortium_folders`, 1,000 bootstrap
replicates), and writes one row per seed to ``--out`` as soon as that seed is done. A seed
already in ``--out`` is skipped, so the command can be stopped and run again.

The targets (issue 20, docs/consortia.md "What the demo should show"):

* ``target_replicated_ab``: the immune-metabolic subtype of a is "replicated" in b and that of b
  in a;
* ``target_null_subtype``: the null cohort c names no immune-metabolic subtype and no cohort's
  immune-metabolic subtype is "replicated" in c;
* ``target_transport_ab``: the external AUC of a's model on b and of b's on a have a 95%
  interval above 0.5;
* ``target_transport_into_null``: the intervals of a->c and b->c include 0.5;
  ``target_transport_out_of_null``: those of c->a and c->b; ``target_transport_null``: all four.

Run by hand (about 1.5 minutes a seed on 2 cores; the results of seeds 101-120 are in
docs/validation.md, "Consortium: replication and transport over seeds"):

    nice -n 10 uv run python bench/consortium_sweep.py \
        --seeds 101,102,103,104,105,106,107,108,109,110,111,112,113,114,115,116,117,118,119,120 \
        --out bench/consortium_sweep.tsv

``--sizes 200,200,200 --quick`` (the quick subtype and model settings of tests/conftest.py)
checks the script in under a minute; its rows are not results. ``--keep DIR`` keeps each
seed's cohorts and results (DIR/seed<S>/) for a closer look.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from stratify.config import load_config
from stratify.consortium.stage import run_consortium_folders
from stratify.io.layout import config_slice
from stratify.pipeline import ORDER, STAGES
from stratify.simulate.consortium import SIZES, write_consortium

NAME = "sweep"
SUBTYPE = "immune-metabolic"
#: the replication pairs recorded (cohort letters: a, b planted, c null)
PAIRS = (("a", "b"), ("b", "a"), ("a", "c"), ("b", "c"))
#: the external transport cells, train -> test
CELLS = (("a", "b"), ("b", "a"), ("a", "c"), ("b", "c"), ("c", "a"), ("c", "b"))


def run_cohorts(paths: dict[str, Path], root: Path, *, quick: bool) -> tuple[dict[str, Path], dict[str, dict]]:
    """Every stage up to heterogeneity of each cohort; returns results folders and configs."""
    results, configs = {}, {}
    for letter in "abc":
        name = f"{NAME}_{letter}"
        cfg = load_config(paths[name])  # raises if the cohort config does not validate
        if quick:
            cfg["subtype"].update(n_null=39, n_bootstrap=20, n_init=2, detectable_separation={"run": False})
            cfg["model"].update(n_permutations=0, n_bootstrap=100, search={"n_candidates": 2})
        out = root / "results" / name
        for stage in ORDER[: ORDER.index("heterogeneity") + 1]:
            STAGES[stage](config_slice(cfg, stage), out)
        results[name], configs[name] = out, cfg
    return results, configs


def subtype_columns(folder: Path, results: dict[str, Path]) -> dict[str, Any]:
    """Per cohort whether it claimed subtypes and which it named; the verdict, prediction
    strength and adjusted Rand index of the immune-metabolic subtype for each pair of PAIRS."""
    row: dict[str, Any] = {}
    for letter in "abc":
        s = json.loads((results[f"{NAME}_{letter}"] / "subtype" / "summary.json").read_text())
        row[f"claimed_{letter}"] = bool(s.get("claimed"))
        row[f"k_{letter}"] = s.get("n_clusters")
    verdicts = pd.read_csv(folder / "verdicts.tsv", sep="\t")
    rep = pd.read_csv(folder / "replication.tsv", sep="\t")
    named = {c: set(verdicts.loc[verdicts["cohort_a"] == f"{NAME}_{c}", "subtype"]) for c in "abc"}
    for letter in "abc":
        row[f"named_{letter}"] = ",".join(sorted(named[letter])) or "none"
    for a, b in PAIRS:
        v = verdicts[
            (verdicts["cohort_a"] == f"{NAME}_{a}")
            & (verdicts["cohort_b"] == f"{NAME}_{b}")
            & (verdicts["subtype"] == SUBTYPE)
        ]
        pair = rep[(rep["cohort_a"] == f"{NAME}_{a}") & (rep["cohort_b"] == f"{NAME}_{b}")]
        row[f"verdict_{a}{b}"] = v["verdict"].iloc[0] if len(v) else f"none ({a} names no {SUBTYPE})"
        row[f"why_{a}{b}"] = v["why"].iloc[0] if len(v) and isinstance(v["why"].iloc[0], str) else ""
        row[f"ps_{a}{b}"] = pair["prediction_strength"].iloc[0] if len(pair) else float("nan")
        row[f"ari_{a}{b}"] = pair["adjusted_rand"].iloc[0] if len(pair) else float("nan")
    return row


def transport_columns(folder: Path) -> dict[str, Any]:
    """External AUC with its interval for each cell of CELLS, the leave-one-cohort-out AUCs."""
    t = pd.read_csv(folder / "transport.tsv", sep="\t")
    row: dict[str, Any] = {}
    for a, b in CELLS:
        c = t[(t["train"] == f"{NAME}_{a}") & (t["test"] == f"{NAME}_{b}")].iloc[0]
        row[f"auc_{a}{b}"], row[f"lo_{a}{b}"], row[f"hi_{a}{b}"] = c["auc"], c["auc_ci_low"], c["auc_ci_high"]
    for letter in "abc":
        c = t[(t["train"] == f"{NAME}_{letter}") & (t["test"] == f"{NAME}_{letter}")].iloc[0]
        row[f"auc_{letter}{letter}"] = c["auc"]
    loco = pd.read_csv(folder / "loco.tsv", sep="\t")
    for letter in "abc":
        c = loco[loco["test"] == f"{NAME}_{letter}"].iloc[0]
        row[f"loco_{letter}"], row[f"loco_lo_{letter}"], row[f"loco_hi_{letter}"] = (
            c["auc"],
            c["auc_ci_low"],
            c["auc_ci_high"],
        )
    return row


def one(seed: int, *, sizes: tuple[int, ...], quick: bool, n_boot: int, tmp: Path) -> dict[str, Any]:
    """One seed: write the consortium, run the cohorts and the consortium stage, read the results."""
    t0 = time.monotonic()
    root = tmp / f"seed{seed}"
    paths = write_consortium(root / "data", seed=seed, name=NAME, sizes=sizes, genotypes=False)
    results, configs = run_cohorts(paths, root, quick=quick)
    t1 = time.monotonic()
    out = root / "consortium"
    summary = run_consortium_folders(
        NAME, results, configs, out=out, n_boot=n_boot, seed=0, config_files={n: paths[n] for n in results}
    )
    row: dict[str, Any] = {"seed": seed, "sizes": ",".join(map(str, sizes)), "quick": quick}
    row |= subtype_columns(out, results)
    row |= transport_columns(out)
    row["pooled_max_abs_diff"] = summary["analyses"]["pooling"]["max_abs_difference_from_raw"]
    row["seconds_cohorts"] = round(t1 - t0, 1)
    row["seconds_consortium"] = round(time.monotonic() - t1, 1)
    row["seconds"] = round(time.monotonic() - t0, 1)
    return row


def targets(df: pd.DataFrame) -> pd.DataFrame:
    """The target columns (module docstring), from the recorded verdicts and intervals."""
    df = df.copy()

    def covers(p: str) -> pd.Series:
        return (df[f"lo_{p}"] <= 0.5) & (df[f"hi_{p}"] >= 0.5)

    df["target_replicated_ab"] = (df["verdict_ab"] == "replicated") & (df["verdict_ba"] == "replicated")
    df["target_null_subtype"] = ~df["named_c"].str.contains(SUBTYPE) & ~(
        (df["verdict_ac"] == "replicated") | (df["verdict_bc"] == "replicated")
    )
    df["target_transport_ab"] = (df["lo_ab"] > 0.5) & (df["lo_ba"] > 0.5)
    df["target_transport_into_null"] = covers("ac") & covers("bc")
    df["target_transport_out_of_null"] = covers("ca") & covers("cb")
    df["target_transport_null"] = df["target_transport_into_null"] & df["target_transport_out_of_null"]
    return df[[c for c in df.columns if c not in TARGETS] + list(TARGETS)]


TARGETS = (
    "target_replicated_ab",
    "target_null_subtype",
    "target_transport_ab",
    "target_transport_into_null",
    "target_transport_out_of_null",
    "target_transport_null",
)


def report(df: pd.DataFrame) -> str:
    """How many seeds meet each target."""
    n = len(df)
    lines = [f"{t}: {int(df[t].sum())}/{n}" for t in TARGETS]
    for p in ("ac", "bc", "ca", "cb"):
        above, below = df[df[f"lo_{p}"] > 0.5]["seed"].tolist(), df[df[f"hi_{p}"] < 0.5]["seed"].tolist()
        lines.append(f"{p[0]}->{p[1]}: interval above 0.5 in seeds {above or 'none'}, below 0.5 in {below or 'none'}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="101,102,103,104,105", help="comma-separated consortium seeds")
    ap.add_argument("--out", default="bench/consortium_sweep.tsv")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="patients of cohorts a, b, c")
    ap.add_argument("--quick", action="store_true", help="quick subtype and model settings (a check, not results)")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--keep", help="write each seed's cohorts and results into KEEP/seed<S>/ and keep them")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # without genotypes every patient "has no VCF sample": expected here, one warning per cohort and seed
    logging.getLogger("stratify.genotypes.stage").setLevel(logging.ERROR)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    sizes = tuple(int(s) for s in args.sizes.split(","))
    out = Path(args.out)
    done = pd.read_csv(out, sep="\t") if out.is_file() else pd.DataFrame()
    for seed in seeds:
        if len(done) and seed in set(done["seed"]):
            print(f"seed {seed}: already in {out}, skipped", flush=True)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(args.keep) if args.keep else Path(tmp)
            row = one(seed, sizes=sizes, quick=args.quick, n_boot=args.n_boot, tmp=work)
        done = targets(pd.concat([done, pd.DataFrame([row])], ignore_index=True))
        done.to_csv(out, sep="\t", index=False, float_format="%.4g")
        print(done.iloc[-1][["seed", *TARGETS, "seconds"]].to_dict(), flush=True)
    if len(done):
        done = targets(done)
        done.to_csv(out, sep="\t", index=False, float_format="%.4g")
        print(report(done))


if __name__ == "__main__":
    main()
