"""PLINK 2 .pgen and BGEN beside the VCF (issue 21): the parts of bench/genotypes.py that read them.

* scores: the bench's VCFs converted with plink2 (``--vcf X [dosage=DS] --make-pgen``, then
  ``--export bgen-1.2 bits=8 ref-first``); scores by ``stratify.genotypes.sourcescore.score_source``
  (timed in-process, after the imports) vs ``plink2 --pfile X --score`` and
  ``plink2 --bgen X ref-first --score`` (``cols=+scoresums no-mean-imputation``); parity of SCORE1_SUM.
* pca: ``stratify.genotypes.ldprune.indep_pairwise`` vs ``plink2 --indep-pairwise 500kb 1 0.2`` and
  ``stratify.genotypes.pca_plink2.pca_like_plink2`` on the kept variants vs ``plink2 --extract
  prune.in --pca 10``, from a pgen of a VCF with LD blocks and two populations.
* jobs: one shard job per format in a fresh process at (samples N, sample chunk C, variants V):
  seconds and peak RSS (VmHWM). The memory table is N and 2N at a fixed chunk; the scaling part
  fits linear models to all the points (bench/genotypes_scaling.tsv) and extrapolates.

Imported by bench/genotypes.py (``--parts scores,pca,memory,scaling``, ``--formats vcf,pgen,bgen``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import genotypes as GB  # bench/genotypes.py: the VCF writer, the score file, printed_ok, log

FORMAT_NAMES = {"vcf": "VCF (bgzip + tabix)", "pgen": "PLINK 2 .pgen", "bgen": "BGEN v1.2, 8 bits"}


def load() -> dict:
    """The 1/5/15-minute load averages, recorded with every row."""
    a, b, c = os.getloadavg()
    return {"load1": round(a, 2), "load5": round(b, 2), "load15": round(c, 2)}


def plink2(*args, threads: int = 2) -> float:
    """Run plink2; its wall seconds."""
    cmd = ["plink2", *map(str, args), "--threads", str(threads)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return time.perf_counter() - t0


def convert(vcf: Path, *, dosage: bool) -> dict[str, Path]:
    """<stem>.pgen/.pvar/.psam (``dosage=DS`` for an imputed VCF) and <stem>.bgen/.sample, made once.
    Variant IDs chrom:pos (``--set-all-var-ids @:#``) so that one plink2 score file fits all three."""
    stem = vcf.with_name(vcf.name.removesuffix(".vcf.gz"))
    if not Path(f"{stem}.pgen").exists():
        GB.log(f"plink2 --make-pgen {stem}")
        plink2(
            "--vcf", vcf, *(["dosage=DS"] if dosage else []), "--set-all-var-ids", "@:#", "--make-pgen", "--out", stem
        )
    if not Path(f"{stem}.bgen").exists():
        GB.log(f"plink2 --export bgen-1.2 bits=8 ref-first {stem}")
        plink2("--pfile", stem, "--export", "bgen-1.2", "bits=8", "ref-first", "--out", stem)
    return {"vcf": vcf, "pgen": stem, "bgen": Path(f"{stem}.bgen")}


def open_source(fmt: str, path: Path):
    from stratify.genotypes.sources import BgenSource, PgenSource

    if fmt == "pgen":
        return PgenSource(path)
    return BgenSource(path, sample_file=path.with_suffix(".sample"))


def ours_score(fmt: str, path: Path, score: Path):
    """score_source from opening the file to the sums (the scoring file read included): (seconds, result, scores)."""
    from stratify.genotypes.prs import read_scoring_file
    from stratify.genotypes.sourcescore import score_source

    t0 = time.perf_counter()
    scores = [read_scoring_file(score)]
    with open_source(fmt, path) as src:
        res = score_source(src, scores)
        variants = src.variants()
    return time.perf_counter() - t0, res, scores, variants


def plink2_score_file(res, variants: pd.DataFrame, path: Path) -> Path:
    """The variants score_source used, effect allele as the file spells it, ID chrom:pos."""
    from stratify.genotypes.prs import match_allele, norm_chrom

    alleles = {
        (norm_chrom(str(c)), int(p)): (r, a)
        for c, p, r, a in variants[["chrom", "pos", "ref", "alt"]].itertuples(index=False)
    }
    used = res.variants[res.variants["status"].isin(["matched", "matched_flipped"])]
    rows = []
    for u in used.itertuples(index=False):
        ref, alt = alleles[(norm_chrom(str(u.chrom)), int(u.pos))]
        _, orient = match_allele(u.effect_allele, u.other_allele, ref, alt)
        rows.append((f"{norm_chrom(str(u.chrom))}:{int(u.pos)}", alt if orient > 0 else ref, u.weight))
    pd.DataFrame(rows, columns=["ID", "A1", "W"]).to_csv(path, sep="\t", index=False)
    return path


def plink2_score(fmt: str, path: Path, sf: Path, out: Path) -> tuple[float, pd.DataFrame]:
    src = ["--pfile", path] if fmt == "pgen" else ["--bgen", path, "ref-first", "--sample", path.with_suffix(".sample")]
    sec = plink2(
        *src, "--set-all-var-ids", "@:#", "--score", sf, 1, 2, 3, "header", "no-mean-imputation", "cols=+scoresums",
        "--out", out,
    )  # fmt: skip
    return sec, pd.read_csv(f"{out}.sscore", sep="\t").set_index("#IID")


def import_seconds(repeats: int) -> float:
    """Python start-up and the imports a score run needs, in a fresh process (best of ``repeats``)."""
    code = "import stratify.genotypes.sourcescore, stratify.genotypes.sources, stratify.genotypes.prs, pgenlib, cbgen"
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        best = min(best, time.perf_counter() - t0)
    return best


SHORT_RUN_REPEATS = 15  # a run under a second is repeated this often (each tool alike): one run in a
# few on a shared machine takes twice as long, so the best of three was often a slow one


def score_runs(args, work: Path, vcfs: dict[str, Path]) -> list[dict]:
    """Scores from pgen and BGEN (converted from each layout's VCF) vs plink2, best of args.repeats
    (of SHORT_RUN_REPEATS where the first run of both tools took under a second)."""
    rows = [{"part": "scores", "test": "startup", "tool": "python start-up + imports", "seconds": import_seconds(3)}]
    formats = [f for f in args.formats.split(",") if f in ("pgen", "bgen")]
    for layout, vcf in vcfs.items():
        files = convert(vcf, dosage=layout == "DS")
        score = work / f"PGSBENCH_{layout}_hmPOS_GRCh38.txt.gz"
        if not score.exists():
            GB.score_file(vcf, score)
        for fmt in formats:
            path = files[fmt]
            base = {"part": "scores", "layout": layout, "format": fmt}
            sf, repeats, rep = None, args.repeats, 0
            while rep < repeats:
                sec, res, scores, variants = ours_score(fmt, path, score)
                rows.append(
                    {**base, "test": "score", "tool": "stratify score_source", "repeat": rep, "seconds": sec, **load()}
                )
                if sf is None:
                    sf = plink2_score_file(res, variants, work / f"plink2_score_{layout}_{fmt}.tsv")
                psec, pl = plink2_score(fmt, path, sf, work / f"plink2_{layout}_{fmt}")
                flag = "--pfile" if fmt == "pgen" else "--bgen ref-first"
                rows.append(
                    {
                        **base,
                        "test": "score",
                        "tool": f"plink2 {flag} --score (2 threads)",
                        "repeat": rep,
                        "seconds": psec,
                        **load(),
                    }
                )
                GB.log(f"  {layout} {fmt} scores: stratify {sec:.3f} s, plink2 {psec:.3f} s")
                if rep == 0 and max(sec, psec) < 1.0:
                    repeats = max(repeats, SHORT_RUN_REPEATS)
                rep += 1
            got = res.table(scores).set_index("sample").loc[pl.index]
            ours, printed = got[f"prs_{scores[0].id}"], pl["SCORE1_SUM"]
            rel, within = GB.printed_ok(ours, printed)
            # plink2 --bgen stores each dosage in units of 1/16384 (rounded): the sum may move by sum |w| / 32768
            w = res.variants.loc[res.variants["status"].isin(["matched", "matched_flipped"]), "weight"]
            bound = float(np.abs(w).sum() / 32768) if fmt == "bgen" and res.dosage else 0.0
            half = 0.5 * 10.0 ** (np.floor(np.log10(np.maximum(np.abs(printed), 1e-300))) - 5)
            rows.append(
                {
                    **base,
                    "test": "parity",
                    "tool": "score_source vs plink2",
                    "samples": len(pl),
                    "variants": int(res.report["used"].iloc[0]),
                    "dosage": bool(res.dosage),
                    "max_rel_diff_sum": rel,
                    "max_abs_diff_sum": float(np.abs(got[f"prs_{scores[0].id}"] - pl["SCORE1_SUM"]).max()),
                    "within_printed": within,
                    "rounding_bound": bound,
                    "within_bound": bool((np.abs(ours - printed) <= half * (1 + 1e-9) + bound + 1e-12).all()),
                    "allele_ct_equal": bool((got[f"prs_{scores[0].id}_allele_ct"] == pl["ALLELE_CT"]).all()),
                }
            )
            GB.log(f"  {layout} {fmt} parity: {rows[-1]}")
    return rows


# ------------------------------------------------------------------------------ LD pruning and PCA


def write_ld_vcf(path: Path, n: int, m: int, *, seed: int = 21, chroms: int = 4, miss: float = 0.01) -> Path:
    """GT-only VCF with LD (each haplotype copies the previous variant's allele with probability
    0, 0.5, 0.8 or 0.95) and two populations (40% of samples, ALT frequency +0.25): pruning and
    PCA have something to find. Gaps between variants geometric, mean 5 kb."""
    rng = np.random.default_rng(seed)
    pop = np.repeat(rng.random(n) < 0.4, 2)
    lut = np.array([b"0/0", b"0/1", b"1/1", b"./."])
    per = m // chroms
    with open(path, "wb") as out, subprocess.Popen(["bgzip", "-c"], stdin=subprocess.PIPE, stdout=out) as p:
        w = p.stdin
        w.write(
            b"##fileformat=VCFv4.2\n"
            + "".join(f"##contig=<ID={c},length=200000000>\n" for c in range(1, chroms + 1)).encode()
        )
        w.write(b'##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
        w.write(
            (
                "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
                + "\t".join(f"S{i:07d}" for i in range(n))
                + "\n"
            ).encode()
        )
        for c in range(1, chroms + 1):
            pos = np.cumsum(rng.geometric(1 / 5000, size=per)) + 1000
            hap = np.zeros(2 * n, dtype=np.int8)
            for j in range(per):
                q = rng.uniform(0.05, 0.5)
                fresh = rng.random(2 * n) < np.where(pop, min(q + 0.25, 0.95), q)
                copy = rng.random(2 * n) < (rng.choice([0.0, 0.5, 0.8, 0.95]) if j else 0.0)
                hap = np.where(copy, hap, fresh).astype(np.int8)
                g = hap[0::2] + hap[1::2]
                g[rng.random(n) < miss] = 3
                w.write(
                    f"{c}\t{pos[j]}\t{c}:{pos[j]}\tA\tG\t.\tPASS\t.\tGT\t".encode()
                    + b"\t".join(lut[g].tolist())
                    + b"\n"
                )
    subprocess.run(["tabix", "-f", "-p", "vcf", str(path)], check=True)
    return path


def ours_prune(prefix: Path) -> tuple[float, np.ndarray, pd.DataFrame]:
    from stratify.genotypes.ldprune import indep_pairwise

    t0 = time.perf_counter()
    with open_source("pgen", prefix) as src:
        v = src.variants()
        d = src.read(np.arange(len(v)), None, dosage=True)
    keep = indep_pairwise(d, v, window_kb=500, r2=0.2)
    return time.perf_counter() - t0, keep, v


def ours_prune_plink2(prefix: Path) -> tuple[float, np.ndarray]:
    """What the stage does when plink2 is installed (genotypes.pca.ld_engine auto): the hard calls, one
    chromosome at a time, written to a temporary pgen and pruned by plink2 (one thread)."""
    import shutil

    from stratify.genotypes.plink2prune import prune_with_plink2

    t0 = time.perf_counter()
    with open_source("pgen", prefix) as src:
        v = src.variants()
        d = src.read(np.arange(len(v)), None, dosage=False)
    calls = np.where(np.isnan(d), -1, d).astype(np.int8)
    keep = np.zeros(len(v), dtype=bool)
    chrom = v["chrom"].astype(str).to_numpy()
    for c in pd.unique(chrom):
        rows = np.flatnonzero(chrom == c)
        sub = v.iloc[rows].reset_index(drop=True)
        k = prune_with_plink2(calls[rows], sub, window_kb=500, r2=0.2, exe=shutil.which("plink2"))
        keep[rows] = np.ones(rows.size, dtype=bool) if k is None else k
    return time.perf_counter() - t0, keep


def ours_pca(prefix: Path, keep: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    from stratify.genotypes.pca_plink2 import pca_like_plink2

    t0 = time.perf_counter()
    with open_source("pgen", prefix) as src:
        v = src.variants()
        idx = np.flatnonzero(keep)
        d = src.read(idx, None, dosage=True)
    vals, vecs = pca_like_plink2(d, v.iloc[idx], n_components=10)
    return time.perf_counter() - t0, vals, vecs


def pca_runs(args, work: Path) -> list[dict]:
    """LD pruning and PCA from a pgen, stratify vs plink2 (best of args.repeats), and their agreement."""
    n, m = args.pca_samples, args.pca_variants
    vcf = work / f"ld_{n}x{m}.vcf.gz"
    if not vcf.exists():
        GB.log(f"writing {vcf}")
        write_ld_vcf(vcf, n, m)
    prefix = convert(vcf, dosage=False)["pgen"]
    rows = []
    base = {"part": "pca", "format": "pgen", "samples": n, "variants": m}
    out = work / f"ld_{n}x{m}_plink2"
    for rep in range(args.repeats):
        sec, keep, v = ours_prune(prefix)
        psec = plink2("--pfile", prefix, "--indep-pairwise", "500kb", "1", "0.2", "--out", out)
        theirs = (out.parent / f"{out.name}.prune.in").read_text().split()
        same = v["id"][keep].tolist() == theirs
        esec, ekeep = ours_prune_plink2(prefix)
        same_engine = v["id"][ekeep].tolist() == theirs
        for tool, s, k, sm in (
            ("stratify indep_pairwise (the port, ld_engine python)", sec, int(keep.sum()), same),
            ("stratify ld_engine auto (plink2 prunes the calls, 1 thread)", esec, int(ekeep.sum()), same_engine),
            ("plink2 --indep-pairwise 500kb 1 0.2 (2 threads)", psec, len(theirs), True),
        ):
            rows.append(
                {
                    **base,
                    "test": "ld_prune",
                    "tool": tool,
                    "repeat": rep,
                    "seconds": s,
                    "kept": k,
                    "same_prune_in": sm,
                    **load(),
                }
            )
        csec, vals, vecs = ours_pca(prefix, keep)
        qsec = plink2("--pfile", prefix, "--extract", f"{out}.prune.in", "--pca", "10", "--out", out)
        their_vals = np.loadtxt(f"{out}.eigenval")
        ev = pd.read_csv(f"{out}.eigenvec", sep="\t")
        their_vecs = ev[[f"PC{i}" for i in range(1, 11)]].to_numpy()
        aligned = vecs * np.sign((vecs * their_vecs).sum(axis=0))
        cmp = {
            "max_rel_eigenvalue_diff": float((np.abs(vals - their_vals) / np.abs(their_vals)).max()),
            "max_eigenvector_diff": float(np.abs(aligned - their_vecs).max()),
        }
        for tool, s in (
            ("stratify pca_like_plink2 (on the kept variants)", csec),
            ("plink2 --extract prune.in --pca 10 (2 threads)", qsec),
        ):
            rows.append(
                {
                    **base,
                    "test": "pca",
                    "tool": tool,
                    "repeat": rep,
                    "seconds": s,
                    "kept": int(keep.sum()),
                    **cmp,
                    **load(),
                }
            )
        GB.log(
            f"  LD prune {sec:.2f} s (port), {esec:.2f} s (plink2 engine) vs plink2 {psec:.2f} s "
            f"(same: {same}, {same_engine}); PCA {csec:.2f} s vs {qsec:.2f} s; {cmp}"
        )
    return rows


# ------------------------------------------------------------------------- one shard job per format

JOB_CODE = r"""
import json, sys, time
t_start = time.perf_counter()
fmt, path, score, chunk, step = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
from stratify.genotypes import shards as G
from stratify.genotypes.records import GenotypeInput

def rss(key):
    return next(int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith(key)) / 1024

t_import = time.perf_counter() - t_start
inp = GenotypeInput(fmt, path, path[:-5] + ".sample" if fmt == "bgen" else None)
pca = step == "pca"  # chunk: the PCA reference samples; else the sample chunk
cfg = G.settings({"genotypes": {"sample_chunk": chunk, "shard_mb": 1e6, "pca": {"samples": chunk}}})
plan = G.make_plan(inp, patient_ids=set(G.input_samples(inp)), cfg=cfg)  # the plan step's work: not the job's
from stratify.genotypes import records as R
R._OPEN.clear()  # a shard job is a fresh process: it opens the file itself
t0 = time.perf_counter()
if fmt != "vcf":
    inp.open().variants()
scores = [] if pca else G.load_scores([score], genome_build="GRCh38")
t_open, rss_open = time.perf_counter() - t0, rss("VmRSS:")
t0 = time.perf_counter()
if pca:
    n_used = len(G.fit_pca(plan).get("variants", ()))  # SNPs kept for the PCA
else:
    r = G.run_shard(plan, plan["jobs"][0], {}, scores, genome_build="none")
    n_used = int(r["score_variants"]["status"].isin(["matched", "matched_flipped", "ambiguous_used"]).sum())
print(json.dumps({"import_s": t_import, "open_s": t_open, "rss_open_mib": rss_open,
                  "seconds": time.perf_counter() - t0, "peak_rss_mib": rss("VmHWM:"), "used": n_used}))
"""


def job_point(fmt: str, path: Path, score: Path, chunk: int, step: str = "shard") -> dict:
    """One shard job (first region = the whole file, first chunk of ``chunk`` samples, the score)
    in a fresh process: import, open and work seconds, RSS after opening, peak RSS (VmHWM)."""
    out = subprocess.run(
        [sys.executable, "-c", JOB_CODE, fmt, str(path), str(score), str(chunk), step],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def job_files(work: Path, n: int, m: int, every: int = 1) -> dict[str, Path]:
    """Imputed (GT:DS:GP) VCF of n x m, its pgen and BGEN, and a score file over every ``every``-th variant."""
    vcf = work / f"job_DS_{n}x{m}.vcf.gz"
    if not vcf.exists() and (work / f"bench_DS_{n}x{m}.vcf.gz").exists():  # the layouts' imputed VCF
        vcf = work / f"bench_DS_{n}x{m}.vcf.gz"
    if not vcf.exists():
        GB.log(f"writing {vcf}")
        GB.write_vcf(vcf, n, m, seed=2, layout="DS")
    files = convert(vcf, dosage=True)
    files["score"] = work / f"PGSBENCH_job_{n}x{m}{f'_every{every}' if every > 1 else ''}_hmPOS_GRCh38.txt.gz"
    if not files["score"].exists():
        GB.score_file(vcf, files["score"], every=every)
    return files


def pca_files(work: Path, n: int, m: int) -> dict[str, Path]:
    """GT-only VCF of n x m (the memory test's, or the extraction part's at its size), its pgen and BGEN.
    Hard calls: the PCA pass reads hard calls, and an imputed file's are missing wherever the dosage is
    more than 0.1 from an integer (plink2's --hard-call-threshold), which its call-rate filter drops."""
    vcf = work / f"bench_{n}x{m}.vcf.gz"
    if not vcf.exists():
        vcf = work / f"mem_{n}x{m}.vcf.gz"
    if not vcf.exists():
        GB.log(f"writing {vcf}")
        GB.write_vcf(vcf, n, m, seed=2)
    return {**convert(vcf, dosage=False), "score": vcf}


def job_runs(args, work: Path, points: list[tuple[int, int, int, int]], part: str) -> list[dict]:
    """Every format's shard job at each (samples, chunk, variants, score every k-th variant) point:
    best of args.repeats for the seconds, the largest peak RSS."""
    rows = []
    for fmt in args.formats.split(","):
        for n, c, m, every in points:
            files = job_files(work, n, m, every)
            rs = [job_point(fmt, files[fmt], files["score"], c) for _ in range(args.repeats)]
            size = Path(f"{files[fmt]}.pgen" if fmt == "pgen" else files[fmt]).stat().st_size
            rows.append(
                {
                    "part": part,
                    "test": "shard_job",
                    "format": fmt,
                    "samples": n,
                    "chunk": c,
                    "variants": m,
                    "score_variants": -(-m // every),
                    "file_bytes": size,
                    "tool": "score_source (one sample chunk)" if fmt != "vcf" else "run_shard (one region x chunk)",
                    "seconds": min(r["seconds"] for r in rs),
                    "open_s": min(r["open_s"] for r in rs),
                    "import_s": min(r["import_s"] for r in rs),
                    "rss_open_mib": max(r["rss_open_mib"] for r in rs),
                    "peak_rss_mib": max(r["peak_rss_mib"] for r in rs),
                    "variants_used": rs[0]["used"],
                    "repeats": len(rs),
                    **load(),
                }
            )
            GB.log(
                f"  {part} {fmt} n={n} chunk={c} m={m} every={every}: {rows[-1]['seconds']:.2f} s, peak {rows[-1]['peak_rss_mib']:.0f} MiB"
            )
    return rows


# ---------------------------------------------------------------------- scaling and extrapolation

# (name, response column, predictors): each a product of the point's columns; non-negative
# least squares (scipy.optimize.nnls), so that no term can make a prediction smaller
MODELS = {
    "shard_job": [
        ("seconds", "seconds", [(), ("region_score", "chunk"), ("region_score", "samples"), ("variants", "samples")]),
        ("open_s", "open_s", [(), ("variants",), ("score_variants",)]),
        (
            "peak_rss_mib",
            "peak_rss_mib",
            [(), ("chunk",), ("region_score", "chunk"), ("variants",), ("score_variants",)],
        ),
    ],
    "pca_pass": [
        ("seconds", "seconds", [(), ("variants", "samples"), ("variants", "chunk")]),
        ("peak_rss_mib", "peak_rss_mib", [(), ("chunk",), ("samples",), ("variants",)]),
    ],
}


SHORT = {"variants": "V", "samples": "N", "chunk": "C", "score_variants": "S", "region_score": "S_r"}


def term_name(t: tuple) -> str:
    return "*".join(t) if t else "1"


def short_name(t: tuple) -> str:
    return " ".join(SHORT[c] for c in t) if t else "1"


def design(d: pd.DataFrame, terms: list[tuple]) -> np.ndarray:
    return np.column_stack(
        [np.prod([d[c].to_numpy(float) for c in t], axis=0) if t else np.ones(len(d)) for t in terms]
    )


def fit(points: pd.DataFrame) -> list[dict]:
    """The fitted models per (test, format, response): coefficients, and each point's measured and fitted value."""
    from scipy.optimize import nnls

    out = []
    for (test, fmt), g in points.groupby(["test", "format"], sort=False):
        for name, col, terms in MODELS[test]:
            if len(g) < len(terms) + 1:  # a fit needs more points than terms (the memory part alone has 2)
                continue
            x = design(g, terms)
            scale = np.maximum(np.abs(x).max(axis=0), 1e-300)  # nnls on unit-scaled columns
            coef, _ = nnls(x / scale, g[col].to_numpy(float))
            coef = coef / scale
            pred = x @ coef
            out.append(
                {
                    "part": "scaling",
                    "test": f"fit_{test}",
                    "format": fmt,
                    "tool": name,
                    "model": " + ".join(f"{c:.3g} {short_name(t)}" if t else f"{c:.3g}" for c, t in zip(coef, terms)),
                    "coef": json.dumps({term_name(t): c for c, t in zip(coef, terms)}),
                    "max_rel_residual": float(np.max(np.abs(pred - g[col]) / np.abs(g[col]))),
                    "points": len(g),
                }
            )
    return out


def terms_at(fits: pd.DataFrame, test: str, fmt: str, name: str, **at) -> dict[str, float]:
    """Each fitted term's value at ``at`` (the model's columns -> values)."""
    r = fits[(fits["test"] == f"fit_{test}") & (fits["format"] == fmt) & (fits["tool"] == name)].iloc[0]
    coef = json.loads(r["coef"])
    return {t: c * (np.prod([at[k] for k in t.split("*")]) if t != "1" else 1.0) for t, c in coef.items()}


def predict(fits: pd.DataFrame, test: str, fmt: str, name: str, **at) -> float:
    return float(sum(terms_at(fits, test, fmt, name, **at).values()))


def extrapolate(points: pd.DataFrame, fits: pd.DataFrame, args) -> list[dict]:
    """Each format's shard job and the whole stage at args.target_samples x args.target_variants,
    the default sample chunk (50,000) and each shard size in args.extrap_shard_mb (extrapolated)."""
    n, v, c, sv = args.target_samples, args.target_variants, 50_000, args.target_score_variants
    out = []
    have = set(zip(fits["test"], fits["format"])) if len(fits) else set()
    for fmt, g in points[points["test"] == "shard_job"].groupby("format", sort=False):
        if not {("fit_shard_job", fmt), ("fit_pca_pass", fmt)} <= have:
            continue
        big = g.loc[(g["samples"] * g["variants"]).idxmax()]
        bytes_per_call = big["file_bytes"] / (big["samples"] * big["variants"])
        startup = float(g["import_s"].min())
        pca_s = predict(fits, "pca_pass", fmt, "seconds", variants=v, samples=n, chunk=5000)
        for mb in args.extrap_shard_mb:
            vs = max(1, int(mb * 2**20 / (bytes_per_call * n)))  # variants per region shard
            jobs = int(np.ceil(v / vs)) * int(np.ceil(n / c))
            svs = sv * vs / v  # the score's variants in one region
            vo = v if fmt == "bgen" else vs  # the variants a job reads to open: a BGEN's whole index, else its region's
            open_s = predict(fits, "shard_job", fmt, "open_s", variants=vo, score_variants=sv)
            work_s = predict(fits, "shard_job", fmt, "seconds", variants=vs, region_score=svs, chunk=c, samples=n)
            job_s = startup + open_s + work_s
            parts = terms_at(
                fits, "shard_job", fmt, "peak_rss_mib", chunk=c, region_score=svs, variants=vo, score_variants=sv
            )
            mib = sum(parts.values())
            out.append(
                {
                    "part": "scaling",
                    "test": "extrapolated",
                    "format": fmt,
                    "samples": n,
                    "variants": v,
                    "score_variants": sv,
                    "chunk": c,
                    "shard_mb": mb,
                    "bytes_per_call": bytes_per_call,
                    "variants_per_shard": vs,
                    "jobs": jobs,
                    "job_seconds": job_s,
                    "job_open_seconds": open_s,
                    "job_startup_seconds": startup,
                    "job_peak_rss_mib": mib,
                    **{f"job_mib_{k.replace('*', '_x_')}": x for k, x in parts.items()},
                    "pca_seconds": pca_s,
                    "stage_cpu_hours": (jobs * job_s + pca_s) / 3600,
                    "stage_wall_hours": (pca_s + jobs * job_s / args.slots) / 3600,
                    "slots": args.slots,
                }
            )
    return out


def scaling_points(args) -> tuple[list[tuple[int, int, int, int]], list[tuple[int, int, int]]]:
    """(samples, chunk, variants, score on every k-th variant) of the shard-job points and (samples,
    reference samples, variants) of the PCA passes."""
    s, m, big = args.scale_samples, args.mem_variants, args.layout_variants
    c = args.chunk
    shard = [(n, c, m, 1) for n in s] + [(s[-1], k, m, 1) for k in (c // 2, 2 * c, 4 * c) if k <= s[-1]]
    # a score on every variant and on a fifth of them, at two chunks each: S C, S and V can be told apart
    shard += [(s[0], c, big, 1), (s[0], c // 2, big, 1), (s[0], c, big, 5), (s[0], c // 2, big, 5)]
    pca = [(n, c // 2, m) for n in s] + [(s[-1], c, m), (args.samples, c // 2, args.variants)]
    return shard, pca


def pca_pass_runs(args, work: Path, points) -> list[dict]:
    rows = []
    for fmt in args.formats.split(","):
        for n, r, m in points:
            files = pca_files(work, n, m)
            rs = [job_point(fmt, files[fmt], files["score"], r, "pca") for _ in range(args.repeats)]
            rows.append(
                {
                    "part": "scaling",
                    "test": "pca_pass",
                    "format": fmt,
                    "samples": n,
                    "chunk": r,
                    "variants": m,
                    "tool": "fit_pca (the stage's pca step)",
                    "seconds": min(x["seconds"] for x in rs),
                    "import_s": min(x["import_s"] for x in rs),
                    "peak_rss_mib": max(x["peak_rss_mib"] for x in rs),
                    "variants_used": rs[0]["used"],
                    "repeats": len(rs),
                    **load(),
                }
            )
            GB.log(
                f"  pca pass {fmt} n={n} ref={r} m={m}: {rows[-1]['seconds']:.2f} s, {rows[-1]['peak_rss_mib']:.0f} MiB"
            )
    return rows


# ----------------------------------------------------------------------------------- the docs


def _bm(d: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return GB.best_median(d, keys)


def render_scores(d: pd.DataFrame) -> list[str]:
    s = d[(d["part"] == "scores")] if len(d) else d
    if not len(s):
        return []
    timed = s[s["test"] == "score"]
    t = _bm(timed, ["layout", "format", "tool"])
    lines = [
        "",
        "### Polygenic scores from PLINK 2 .pgen and BGEN: the layouts' VCFs converted with plink2",
        "",
        "The VCFs of the table above, converted once with `plink2 --vcf X [dosage=DS] --set-all-var-ids @:# "
        "--make-pgen` and `plink2 --pfile X --export bgen-1.2 bits=8 ref-first`. stratify: "
        "`score_source(PgenSource(prefix) | BgenSource(path), [read_scoring_file(...)])` timed in-process from "
        "opening the file and reading the scoring file to the sums (imports done; one process; the next block "
        "read on a second thread, `threads=None` on this 2-CPU machine; BLAS on one thread). Each tool is run "
        f"the same number of times: `--repeats`, or {SHORT_RUN_REPEATS} where both took under a second (on a "
        "shared machine one run in a few takes twice as long). plink2: `plink2 --pfile X | --bgen X ref-first --score F 1 2 3 header no-mean-imputation "
        "cols=+scoresums --threads 2`, given the variants stratify used with the effect allele as the file spells "
        "it (its wall time includes its start-up; plink2 converts a BGEN to a temporary pgen first). The pgen of "
        "the imputed VCF holds dosages, which both tools use; the BGEN's probabilities give the expected ALT count.",
        "",
        "| VCF layout | format | tool | best s | median s | vs plink2 | load (1 min) |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for (layout, fmt), g in t.groupby(level=[0, 1], sort=False):
        ref = g.loc[[i for i in g.index if i[2].startswith("plink2")][0], "best"]
        for (_, _, tool), r in g.iterrows():
            lines.append(
                f"| {GB.LAYOUT_NAMES.get(layout, layout)} | {FORMAT_NAMES[fmt]} | {tool} | {r['best']:.3f} | "
                f"{r['median']:.3f} | {ref / r['best']:.2f}x | {r['load']} |"
            )
    st = s[s["test"] == "startup"]
    if len(st):
        lines += [
            "",
            f"Python start-up and the imports of a score run (`stratify.genotypes.sourcescore`, `sources`, `prs`, "
            f"pgenlib, cbgen) in a fresh process: {st['seconds'].iloc[0]:.2f} s (best of 3), paid once per process "
            "and not in stratify's times above; a Snakemake job pays it once.",
        ]
    lines += ["", "Scores against plink2's `.sscore` (SCORE1_SUM printed with 6 significant digits):", ""]
    for c in s[s["test"] == "parity"].itertuples(index=False):
        lines.append(
            f"- {GB.LAYOUT_NAMES.get(c.layout, c.layout)}, {FORMAT_NAMES[c.format]} "
            f"({'dosages' if c.dosage else 'hard calls'}): {int(c.samples):,} samples, {int(c.variants):,} variants; "
            f"largest relative difference of the sums {c.max_rel_diff_sum:.1e} (absolute {c.max_abs_diff_sum:.1e}); "
            f"every sum within plink2's printed precision: {c.within_printed}"
            + (
                f"; within it plus plink2's rounding of BGEN dosages to 1/16384 (sum |w| / 32768 = "
                f"{c.rounding_bound:.1e}): {c.within_bound}"
                if c.rounding_bound > 0
                else ""
            )
            + f"; ALLELE_CT equal: {c.allele_ct_equal}"
        )
    return lines


def render_pca(d: pd.DataFrame) -> list[str]:
    p = d[d["part"] == "pca"] if len(d) else d
    if not len(p):
        return []
    n, m = int(p["samples"].iloc[0]), int(p["variants"].iloc[0])
    t = _bm(p, ["test", "tool"])
    kept = p.groupby(["test", "tool"], sort=False)["kept"].first()
    lines = [
        "",
        f"### LD pruning and PCA from a pgen: {n:,} samples x {m:,} SNPs with LD blocks and two populations",
        "",
        "A GT-only VCF where each haplotype copies the previous SNP's allele with probability 0, 0.5, 0.8 or 0.95 "
        "(LD) and 40% of the samples have ALT frequencies 0.25 higher (structure), SNPs about 5 kb apart on 4 "
        "chromosomes, 1% missing; converted with `plink2 --vcf --make-pgen`. stratify: the pgen's hard calls read "
        "whole (`PgenSource.read`, variants x samples), then `ldprune.indep_pairwise(window_kb=500, r2=0.2)` (the "
        "port), or, as the stage does when plink2 is installed, the calls of each chromosome written to a temporary "
        "pgen and pruned by `plink2 --indep-pairwise` (`plink2prune.prune_with_plink2`); "
        "PCA: the kept variants read again and `pca_plink2.pca_like_plink2(n_components=10)`. plink2: "
        "`--pfile X --indep-pairwise 500kb 1 0.2`, then `--pfile X --extract X.prune.in --pca 10` (exact PCA, "
        "2 threads).",
        "",
        "| step | tool | best s | median s | vs plink2 | variants kept | load (1 min) |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for test, g in t.groupby(level=0, sort=False):
        ref = g.loc[[i for i in g.index if i[1].startswith("plink2")][0], "best"]
        for (_, tool), r in g.iterrows():
            lines.append(
                f"| {'LD pruning' if test == 'ld_prune' else 'PCA'} | {tool} | {r['best']:.2f} | {r['median']:.2f} | "
                f"{ref / r['best']:.2f}x | {int(kept[(test, tool)]):,} | {r['load']} |"
            )
    ld, pc = p[p["test"] == "ld_prune"], p[p["test"] == "pca"]
    lines += [
        "",
        f"Same `.prune.in` as plink2 (every repeat): {bool(ld['same_prune_in'].astype(bool).all())}. PCA against "
        f"plink2's `.eigenval` / `.eigenvec` (6 significant digits): largest relative eigenvalue difference "
        f"{pc['max_rel_eigenvalue_diff'].max():.1e}, largest eigenvector difference (up to sign) "
        f"{pc['max_eigenvector_diff'].max():.1e}.",
    ]
    return lines


def render_memory(s: pd.DataFrame, args) -> list[str]:
    """One shard job per format at N and 2N samples, a fixed chunk."""
    if not len(s) or "chunk" not in s:
        return []
    n, c, m = args.mem_samples, args.chunk, args.mem_variants
    j = s[(s["test"] == "shard_job") & (s["chunk"] == c) & (s["variants"] == m) & s["samples"].isin([n, 2 * n])]
    if not len(j):
        return []
    lines = [
        "",
        f"### One shard job per input format: {n:,} vs {2 * n:,} samples, chunk {c:,}, {m:,} imputed SNPs",
        "",
        "The same imputed VCF (GT:DS:GP) per size and its pgen (dosages) and BGEN (8 bits), one polygenic score over "
        "every SNP. Each job in a fresh process does what `stratify genotypes --step shard --job r0000_c0000` does "
        "(the plan made beforehand, not counted): open the file, read the scoring file, `shards.run_shard` on the "
        "first region (here the whole file) x the first chunk, without the PCA projection. Peak RSS = VmHWM "
        "(largest of 3 runs); it includes about 110 MiB of imports.",
        "",
        f"| format | peak MiB at {n:,} | peak MiB at {2 * n:,} | ratio | RSS after opening at {2 * n:,} | "
        f"s at {n:,} | s at {2 * n:,} |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for fmt, g in j.groupby("format", sort=False):
        a, b = g[g["samples"] == n].iloc[-1], g[g["samples"] == 2 * n].iloc[-1]
        lines.append(
            f"| {FORMAT_NAMES[fmt]} | {a['peak_rss_mib']:.0f} | {b['peak_rss_mib']:.0f} | "
            f"{b['peak_rss_mib'] / a['peak_rss_mib']:.2f} | {b['rss_open_mib']:.0f} | {a['seconds']:.2f} | "
            f"{b['seconds']:.2f} |"
        )
    return lines


def _fitted(fits: pd.DataFrame, test: str, fmt: str, name: str, r) -> float:
    sv = r.get("score_variants")
    sv = r["variants"] if sv is None or pd.isna(sv) else sv
    at = {"variants": r["variants"], "samples": r["samples"], "chunk": r["chunk"]}
    return predict(fits, test, fmt, name, **at, score_variants=sv, region_score=sv)


def render_scaling(s: pd.DataFrame, args) -> list[str]:
    if not len(s) or not (s["test"] == "extrapolated").any():
        return []
    fits = s[s["test"].astype(str).str.startswith("fit_")]
    pts = s[s["test"].isin(["shard_job", "pca_pass"])]
    lines = [
        "",
        "### Scaling: measured points and fitted linear models (`bench/genotypes_scaling.tsv`)",
        "",
        "Shard job: as in the table above, at samples N, chunk C, V variants in the file (one region: the whole "
        "file) and a score on S of them (every variant, or every fifth). Its work seconds (after the imports and "
        "opening) are fitted as a + b S C + c S N + d V N, the seconds to open (VCF: reading the scoring file; "
        "pgen: the .pvar/.psam and the scoring file; BGEN: also cbgen's index) as a + b V + c S, and the peak RSS "
        "as a + b C + c N + d V + e S. PCA pass (C = "
        "reference samples R): the stage's pca step (`pca.fit_pca`: plink2's variant filters, `--indep-pairwise` "
        "by plink2 itself when installed (genotypes.pca.ld_engine auto, as here), exact PCA of the reference "
        "samples) on a GT-only file of N x V and its pgen and BGEN (PCs come from hard calls, which belong to "
        "genotyped SNPs: an imputed file's are missing wherever a dosage is more than 0.1 from an integer); "
        "seconds fitted as a + b V N + c V R. Non-negative least squares (no term may "
        "lower a prediction); every point is the best of 3 runs (seconds) and the largest peak RSS.",
        "",
        "| step | format | N | C (or R) | V | S | s | fitted s | peak MiB | fitted MiB | load (1 min) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in pts.itertuples(index=False):
        r = r._asdict()
        lines.append(
            f"| {'shard job' if r['test'] == 'shard_job' else 'PCA pass'} | {r['format']} | {int(r['samples']):,} | "
            f"{int(r['chunk']):,} | {int(r['variants']):,} | "
            f"{'' if r['test'] != 'shard_job' else format(int(r['score_variants']), ',')} | "
            f"{r['seconds']:.2f} | "
            f"{_fitted(fits, r['test'], r['format'], 'seconds', r):.2f} | {r['peak_rss_mib']:.0f} | "
            f"{_fitted(fits, r['test'], r['format'], 'peak_rss_mib', r):.0f} | {r['load1']:.1f} |"
        )
    lines += [
        "",
        "| fit | format | response | model (V, N, C, S in counts; s or MiB) | largest relative residual |",
        "|---|---|---|---|---:|",
    ]
    for r in fits.itertuples(index=False):
        lines.append(
            f"| {r.test[4:].replace('_', ' ')} | {r.format} | {r.tool} | {r.model} | {r.max_rel_residual:.2f} |"
        )
    e = s[s["test"] == "extrapolated"]
    n, v = int(e["samples"].iloc[0]), int(e["variants"].iloc[0])
    k = int(e["slots"].iloc[0])
    lines += [
        "",
        f"**Extrapolated** to {n:,} samples x {v / 1e6:.0f} million imputed variants, one score on "
        f"{int(e['score_variants'].iloc[0]):,} of them, genotypes.sample_chunk "
        f"{int(e['chunk'].iloc[0]):,} (the default) and genotypes.shard_mb as given (4096, the default since this bench, and 64, the default before; it cuts a "
        "region at that many compressed megabytes: the variants per region follow from each file's measured bytes "
        "per genotype x N). Per job: Python start-up and imports (measured) + opening (fitted, with the variants a "
        "job reads to open: a BGEN job reads the file's whole index, a pgen job only its region's .pvar lines, a "
        "VCF job its region through the tabix index; and every variant of the scoring file) + the work on its "
        "region x chunk (fitted, with the score's variants in the region). "
        f"Stage: PCA pass on 5,000 reference samples (the default) + jobs x per-job time, on {k} jobs "
        "running at once (CPU hours: the sum); merge not included. These numbers are extrapolated from 2,000-8,000 "
        "samples and 4,000-20,000 variants, far outside the measured range: they say where the time and memory go, "
        "not what a cluster will report.",
        "",
        f"| format | shard_mb | bytes per genotype | variants per region | jobs | s per job | of which opening | "
        f"GiB per job | PCA pass h | stage CPU h | stage wall h ({k} jobs at once) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in e.itertuples(index=False):
        lines.append(
            f"| {FORMAT_NAMES[r.format]} | {r.shard_mb:g} | {r.bytes_per_call:.2f} | {int(r.variants_per_shard):,} | "
            f"{int(r.jobs):,} | {r.job_seconds:,.0f} | {r.job_open_seconds:,.0f} | {r.job_peak_rss_mib / 1024:.1f} | "
            f"{r.pca_seconds / 3600:,.1f} | {r.stage_cpu_hours:,.0f} | {r.stage_wall_hours:,.1f} |"
        )
    lines += [
        "",
        "Where a job's memory goes (extrapolated, MiB: the fitted terms at the target): a constant (imports), "
        "the sample chunk (C), the region's score variants x the chunk (S_r C: the genotypes a job holds), the "
        "variants read to open (V: a region's .pvar lines, a BGEN's whole index) and the score's variants (S: the "
        "scoring file and "
        "its matching, read whole by every job). The points separate V from S by three (V, S) pairs only, so the "
        "split between those two columns is uncertain.",
        "",
        "| format | shard_mb | constant | C | S_r C | V | S | total GiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in e.itertuples(index=False):
        lines.append(
            f"| {FORMAT_NAMES[r.format]} | {r.shard_mb:g} | {r.job_mib_1:,.0f} | {r.job_mib_chunk:,.0f} | "
            f"{r.job_mib_region_score_x_chunk:,.0f} | {r.job_mib_variants:,.0f} | {r.job_mib_score_variants:,.0f} | "
            f"{r.job_peak_rss_mib / 1024:.1f} |"
        )
    lines += ["", "Read from the tables (all extrapolated):", ""]
    for fmt, g in e.groupby("format", sort=False):
        lo, hi = g.loc[g["shard_mb"].idxmin()], g.loc[g["shard_mb"].idxmax()]
        fixed = (lo["job_open_seconds"] + lo["job_startup_seconds"]) / lo["job_seconds"]
        terms = {"the sample chunk": lo["job_mib_chunk"], "the region's genotypes": lo["job_mib_region_score_x_chunk"]}
        terms |= {
            "the variants read to open": lo["job_mib_variants"],
            "the score's variants": lo["job_mib_score_variants"],
        }
        big = max(terms, key=terms.get)
        lines.append(
            f"- {FORMAT_NAMES[fmt]}: at shard_mb {lo['shard_mb']:g} a region holds {int(lo['variants_per_shard']):,} "
            f"variants, so {int(lo['jobs']):,} jobs, and Python start-up plus opening the file and the scoring file is "
            f"{100 * fixed:.0f}% of each; at shard_mb {hi['shard_mb']:g}, {int(hi['jobs']):,} jobs and "
            f"{hi['stage_cpu_hours']:,.0f} instead of {lo['stage_cpu_hours']:,.0f} CPU hours. A job's memory at "
            f"shard_mb {lo['shard_mb']:g} ({lo['job_peak_rss_mib'] / 1024:.1f} GiB) is mostly {big} "
            f"({terms[big] / 1024:.1f} GiB); at {hi['shard_mb']:g}, {hi['job_peak_rss_mib'] / 1024:.1f} GiB."
        )
    return lines


def render_acceptance(t: dict, args) -> list[str]:
    ok = lambda b: "holds" if b else "does not hold"  # noqa: E731
    rows = []
    gt = t["extraction"]
    ex = gt[(gt["part"] == "extraction") & (gt["test"] == "extraction")] if len(gt) else gt
    if len(ex):
        b = ex.groupby("tool", sort=False)["seconds"].min()
        rows.append(
            (
                "extraction throughput at least that of `bcftools query` (GT-only VCF)",
                f"{b.iloc[0] / b.iloc[2]:.2f}x (2 processes), {b.iloc[0] / b.iloc[1]:.2f}x (1 process)",
                b.iloc[2] <= b.iloc[0],
            )
        )
    pr = gt[(gt["part"] == "extraction") & (gt["test"] == "prs")] if len(gt) else gt
    if len(pr):
        b = pr.groupby("tool", sort=False)["seconds"].min()
        st, pl = b.iloc[0], b.iloc[-1]
        rows.append(
            (
                "scores from the GT-only VCF no slower than `plink2 --vcf --score`",
                f"{st:.2f} s vs {pl:.2f} s ({pl / st:.2f}x)",
                st <= pl,
            )
        )
    lay = t["layouts"]
    for layout, g in lay[lay["test"] == "prs"].groupby("layout", sort=False) if len(lay) else []:
        b = g.groupby("tool", sort=False)["seconds"].min()
        st, pl = (
            b[[i for i in b.index if i.startswith("stratify")][0]],
            b[[i for i in b.index if i.startswith("plink2")][0]],
        )
        rows.append(
            (
                f"scores from the {GB.LAYOUT_NAMES[layout]} VCF no slower than `plink2 --vcf --score`",
                f"{st:.2f} s vs {pl:.2f} s ({pl / st:.2f}x)",
                st <= pl,
            )
        )
    sc = t["scores"]
    sc = sc[sc["part"] == "scores"] if len(sc) else sc
    for (layout, fmt), g in sc[sc["test"] == "score"].groupby(["layout", "format"], sort=False) if len(sc) else []:
        b = g.groupby("tool", sort=False)["seconds"].min()
        st, pl = (
            b[[i for i in b.index if i.startswith("stratify")][0]],
            b[[i for i in b.index if i.startswith("plink2")][0]],
        )
        goal = 1.2 if fmt == "pgen" else 1.0
        rows.append(
            (
                f"scores from the {FORMAT_NAMES[fmt]} of the {layout} VCF within {goal}x plink2's time",
                f"{st:.2f} s vs {pl:.2f} s ({st / pl:.2f}x plink2's time)",
                st <= goal * pl,
            )
        )
    for c in sc[sc["test"] == "parity"].itertuples(index=False) if len(sc) else []:
        rows.append(
            (
                f"{FORMAT_NAMES[c.format]} ({c.layout}) scores equal to plink2's printed digits"
                + (" and its 1/16384 dosage rounding" if c.rounding_bound > 0 else ""),
                f"largest relative difference {c.max_rel_diff_sum:.1e} (absolute {c.max_abs_diff_sum:.1e}), "
                f"ALLELE_CT equal: {c.allele_ct_equal}",
                bool(c.within_bound) and bool(c.allele_ct_equal),
            )
        )
    p = t["scores"]
    p = p[p["part"] == "pca"] if len(p) else p
    if len(p):
        rows.append(
            (
                "`--indep-pairwise 500kb 1 0.2`: the same .prune.in",
                f"{int(p['kept'].iloc[0]):,} of {int(p['variants'].iloc[0]):,} kept",
                bool(p.loc[p["test"] == "ld_prune", "same_prune_in"].astype(bool).all()),
            )
        )
        ev, vec = p["max_rel_eigenvalue_diff"].max(), p["max_eigenvector_diff"].max()
        rows.append(
            (
                "`--pca 10` eigenvalues and eigenvectors equal up to sign (to plink2's 6 printed digits)",
                f"eigenvalues {ev:.1e} relative, eigenvectors {vec:.1e}",
                ev <= 5e-6 and vec <= 5e-6,
            )
        )
        best = p.groupby("tool")["seconds"].min()
        theirs = sum(v for k, v in best.items() if k.startswith("plink2"))
        for engine in ("ld_engine auto", "the port"):
            prune = [v for k, v in best.items() if engine in k]
            pca = [v for k, v in best.items() if k.startswith("stratify pca")]
            if prune and pca:
                ours = prune[0] + pca[0]
                rows.append(
                    (
                        f"PCs from a pgen (LD pruning + PCA, pruning by {engine}) within 1.2x plink2's time",
                        f"{ours:.2f} s vs {theirs:.2f} s ({ours / theirs:.2f}x plink2's time)",
                        ours <= 1.2 * theirs,
                    )
                )
    s = t["scaling"]
    n, c, m = args.mem_samples, args.chunk, args.mem_variants
    j = s[(s["test"] == "shard_job") & (s["chunk"] == c) & (s["variants"] == m)] if len(s) and "chunk" in s else s
    for fmt, g in j.groupby("format", sort=False) if len(j) else []:
        a, b = g[g["samples"] == n], g[g["samples"] == 2 * n]
        if len(a) and len(b):
            x, y = a["peak_rss_mib"].iloc[-1], b["peak_rss_mib"].iloc[-1]
            rows.append(
                (
                    f"{FORMAT_NAMES[fmt]}: shard-job peak memory flat when samples double at a fixed chunk",
                    f"{x:.0f} vs {y:.0f} MiB",
                    y <= 1.1 * x,
                )
            )
    if not rows:
        return []
    return ["", "### Acceptance (issues 7 and 21)", "", "| criterion | measured | |", "|---|---|---|"] + [
        f"| {a} | {b} | {ok(h)} |" for a, b, h in rows
    ]
