"""Polygenic scores from PLINK 2 .pgen and BGEN files: stratify vs ``plink2 --score`` (issue 21).

The filesets are plink2's own ``--dummy <samples> <variants> 0.01 acgt`` (hard calls, 1% missing)
and the same with ``dosage-freq=0.5`` (dosages; plink2 2.00a3.5's dummy then also leaves about a
quarter of the dosages missing), written once under ``--dir``; the BGEN is the dosage fileset's
``--export bgen-1.2 bits=8 ref-first``. The scoring file (PGS Catalog format) covers two thirds
of the variants, the effect allele ALT or REF at random; plink2 gets the variants stratify
matched (ID, effect allele, weight: strand-ambiguous A/T and C/G SNPs are dropped by stratify's
rules, so neither tool scores them).

Timed, each the minimum of ``--repeats`` runs:

* ``ours_s``: stratify in this process after its imports: open the source, read the scoring
  file, match, read the genotypes and sum (``score_source(..., threads=T)``: with T = 2 the next
  block is read on a second thread while one is summed; BLAS on one thread either way);
* ``plink2_s``: ``plink2 --pfile X --score F 1 2 3 header cols=+scoresums no-mean-imputation
  --threads T`` (``--bgen X ref-first`` for BGEN), the whole process;
* ``*_cpu_s``: the same runs' CPU time (user + system), the fairer measure on a shared machine
  (plink2 reads on a second thread even with --threads 1, so under load its wall time suffers
  less than a one-thread process's); ``match_cpu_s``: opening, reading the scoring file and
  matching alone, the part a "run plink2 for the products" engine would still need;
* ``process_s``: stratify as a whole process (``python bench/pgen_scores.py --one ...``: start-up,
  imports, scoring), and ``import_s`` the start-up and imports alone.

Per-sample sums are compared with plink2's SCORE1_SUM, which plink2 prints to six significant
digits (no option for more in 2.00a3.5): ``max_rel_diff`` is the largest |ours - plink2| /
|plink2|, at most 5e-6 when equal to the printed digits; ALLELE_CT must be equal.

    uv run python bench/pgen_scores.py                       # 2,000 x 50,000 and 5,000 x 100,000
    uv run python bench/pgen_scores.py --sizes 2000x50000 --threads 1

``compare(prefix, score_file, threads)`` is the importable entry (bench/genotypes.py may call it):
it returns one dict per run.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from _tsv import write_tsv  # noqa: E402

COLUMNS = [
    "format",
    "samples",
    "variants",
    "used",
    "threads",
    "ours_s",
    "plink2_s",
    "ratio",
    "ours_cpu_s",
    "plink2_cpu_s",
    "cpu_ratio",
    "match_cpu_s",
    "process_s",
    "import_s",
    "max_rel_diff",
    "max_abs_diff",
    "allele_ct_equal",
    "load",
]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _run(cmd: list[str]) -> float:
    return _run_cpu(cmd)[0]


def _run_cpu(cmd: list[str]) -> tuple[float, float]:
    """(wall, CPU user + system) seconds of a command."""
    t, c = time.perf_counter(), _children_cpu()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return time.perf_counter() - t, _children_cpu() - c


def make_fileset(folder: Path, n_samples: int, n_variants: int, *, dosage: bool) -> Path:
    """plink2 --dummy fileset (written once): hard calls, or dosages when ``dosage``."""
    prefix = folder / f"dummy_{n_samples}x{n_variants}_{'dosage' if dosage else 'hard'}"
    if not prefix.with_suffix(".pgen").exists():
        folder.mkdir(parents=True, exist_ok=True)
        extra = ["dosage-freq=0.5"] if dosage else []
        _run(["plink2", "--dummy", str(n_samples), str(n_variants), "0.01", "acgt", *extra, "--seed", "1"]
             + ["--make-pgen", "--threads", "2", "--out", str(prefix)])  # fmt: skip
    return prefix


def make_bgen(prefix: Path) -> Path:
    """The fileset as BGEN v1.2, 8 bits, REF first (read back with --bgen ref-first)."""
    out = prefix.with_name(prefix.name + "_b8")
    if not out.with_suffix(".bgen").exists():
        _run(["plink2", "--pfile", str(prefix), "--export", "bgen-1.2", "bits=8", "ref-first"]
             + ["--threads", "2", "--out", str(out)])  # fmt: skip
    return out.with_suffix(".bgen")


def make_score_file(prefix: Path, *, fraction: float = 2 / 3, seed: int = 1) -> Path:
    """A PGS Catalog-format scoring file over ``fraction`` of the fileset's variants."""
    out = prefix.with_name(prefix.name + "_pgs.txt")
    if out.exists():
        return out
    v = pd.read_csv(prefix.with_suffix(".pvar"), sep="\t", dtype={"#CHROM": str})
    rng = np.random.default_rng(seed)
    v = v.iloc[np.sort(rng.choice(len(v), size=int(len(v) * fraction), replace=False))]
    ref_effect = rng.random(len(v)) < 0.5
    table = pd.DataFrame(
        {
            "hm_chr": v["#CHROM"].to_numpy(),
            "hm_pos": v["POS"].to_numpy(),
            "effect_allele": np.where(ref_effect, v["REF"], v["ALT"]),
            "other_allele": np.where(ref_effect, v["ALT"], v["REF"]),
            "effect_weight": rng.normal(0, 0.01, len(v)).round(6),
        }
    )
    with out.open("w") as fh:
        fh.write("#pgs_id=BENCH\n#HmPOS_build=GRCh38\n")
        table.to_csv(fh, sep="\t", index=False)
    return out


def _open(source_path: Path):
    from stratify.genotypes.sources import BgenSource, PgenSource

    return BgenSource(source_path) if source_path.suffix == ".bgen" else PgenSource(source_path)


def score_once(source_path: Path, score_file: Path, threads: int | None = None):
    """Open, read the scoring file, score: what ``ours_s`` times (``threads`` as plink2's)."""
    from stratify.genotypes.prs import read_scoring_file
    from stratify.genotypes.sourcescore import score_source

    with _open(source_path) as src:
        score = read_scoring_file(score_file)
        return score_source(src, [score], threads=threads), score


def match_once(source_path: Path, score_file: Path):
    """Open, read the scoring file, match: what a plink2 engine would still have to do first."""
    from stratify.genotypes.prs import read_scoring_file
    from stratify.genotypes.sourcescore import match_source

    with _open(source_path) as src:
        return match_source(src, [read_scoring_file(score_file)])


def _plink_inputs(source_path: Path, score_file: Path, folder: Path) -> tuple[list[str], Path, int]:
    """plink2's input options and its score file (the variants stratify used)."""
    from stratify.genotypes.prs import read_scoring_file
    from stratify.genotypes.sourcescore import USED, match_source

    score = read_scoring_file(score_file)
    with _open(source_path) as src:
        seen = match_source(src, [score]).seen
    used = seen[seen["status"].isin(USED)]
    rows = score.variants.iloc[used["index"].to_numpy()]
    table = pd.DataFrame({"ID": used["vcf_id"].to_numpy(), "A1": rows["effect_allele"].to_numpy()})
    table["W"] = rows["weight"].to_numpy()
    pf = folder / "plink_score.tsv"
    table.to_csv(pf, sep="\t", index=False)
    source = (
        ["--bgen", str(source_path), "ref-first"] if source_path.suffix == ".bgen" else ["--pfile", str(source_path)]
    )
    return source, pf, len(table)


def compare(prefix: str | Path, score_file: str | Path, threads: int, *, repeats: int = 3) -> list[dict]:
    """stratify vs plink2 --score on one fileset (``prefix`` of a .pgen fileset, or a .bgen path)."""
    from threadpoolctl import threadpool_limits

    source_path = Path(prefix)
    score_file = Path(score_file)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source, pf, n_used = _plink_inputs(source_path, score_file, folder)
        cmd = ["plink2", *source, "--score", str(pf), "1", "2", "3", "header", "cols=+scoresums"]
        cmd += ["no-mean-imputation", "--threads", str(threads), "--out", str(folder / "p")]
        plink_s, plink_cpu = (min(x) for x in zip(*(_run_cpu(cmd) for _ in range(repeats))))
        with threadpool_limits(limits=threads):
            ours_s = ours_cpu = match_cpu = np.inf
            for _ in range(repeats):
                t, c = time.perf_counter(), time.process_time()
                res, score = score_once(source_path, score_file, threads)
                ours_s, ours_cpu = min(ours_s, time.perf_counter() - t), min(ours_cpu, time.process_time() - c)
                c = time.process_time()
                match_once(source_path, score_file)
                match_cpu = min(match_cpu, time.process_time() - c)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}
        one = [sys.executable, str(Path(__file__).resolve()), "--one", str(source_path), str(score_file)]
        imp = [sys.executable, "-c", "import stratify.genotypes.sourcescore, stratify.genotypes.sources, pgenlib"]
        process_s = min(_timed_env(one, env) for _ in range(repeats))
        import_s = min(_timed_env(imp, env) for _ in range(repeats))
        p = pd.read_csv(folder / "p.sscore", sep="\t").set_index("#IID")
    got = res.table([score]).set_index("sample").loc[p.index]
    diff = np.abs(got[f"prs_{score.id}"].to_numpy() - p["SCORE1_SUM"].to_numpy())
    with _open(source_path) as src:
        n_var = src.n_variants
    return [
        {
            "format": "bgen" if source_path.suffix == ".bgen" else ("pgen dosage" if res.dosage else "pgen hard"),
            "samples": len(p),
            "variants": n_var,
            "used": n_used,
            "threads": threads,
            "ours_s": ours_s,
            "plink2_s": plink_s,
            "ratio": ours_s / plink_s,
            "ours_cpu_s": ours_cpu,
            "plink2_cpu_s": plink_cpu,
            "cpu_ratio": ours_cpu / plink_cpu,
            "match_cpu_s": match_cpu,
            "process_s": process_s,
            "import_s": import_s,
            "max_rel_diff": float(np.max(diff / np.maximum(np.abs(p["SCORE1_SUM"].to_numpy()), 1e-300))),
            "max_abs_diff": float(diff.max()),
            "allele_ct_equal": bool((got[f"prs_{score.id}_allele_ct"] == p["ALLELE_CT"]).all()),
            "load": os.getloadavg()[0],
        }
    ]


def _timed_env(cmd: list[str], env: dict) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return time.perf_counter() - t


def _fmt(v, col: str) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if col in ("max_rel_diff", "max_abs_diff") else f"{v:.3f}"
    return str(v)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["2000x50000", "5000x100000"], help="SAMPLESxVARIANTS")
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bgen-sizes", nargs="*", default=["2000x50000"], help="sizes also run as BGEN")
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "stratify_pgen_scores")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "pgen_scores.tsv")
    ap.add_argument("--one", nargs=2, metavar=("SOURCE", "SCORE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:  # the whole-process timing: score once and exit
        score_once(Path(args.one[0]), Path(args.one[1]))
        return 0
    if shutil.which("plink2") is None:
        print("plink2 not found on PATH", file=sys.stderr)
        return 2
    rows = []
    for size in args.sizes:
        n, m = (int(x) for x in size.lower().split("x"))
        for dosage in (False, True):
            prefix = make_fileset(args.dir, n, m, dosage=dosage)
            targets = [prefix] + ([make_bgen(prefix)] if dosage and size in args.bgen_sizes else [])
            for target in targets:
                for threads in args.threads:
                    log(f"{target.name}, {threads} thread(s); load {os.getloadavg()[0]:.2f}")
                    rows += compare(target, make_score_file(prefix), threads, repeats=args.repeats)
                    print("\t".join(_fmt(rows[-1][c], c) for c in COLUMNS), flush=True)
    write_tsv(rows, args.out, COLUMNS, _fmt)
    print("\t".join(COLUMNS))
    for r in rows:
        print("\t".join(_fmt(r[c], c) for c in COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
