"""Genotype stage side by side with the reference tools, in one run (issue 7).

0. Realistic layouts (issue 21): GATK-style GT:AD:DP:GQ:PL and imputed GT:DS:GP VCFs (2,000 x
   20,000 by default, ``--layouts``): extraction vs ``bcftools query`` and scores vs
   ``plink2 --vcf X [dosage=DS] --score`` (DS scores use the dosages), results compared.
1. Extraction: every genotype of a synthetic VCF (FORMAT GT alone) decoded by stratify (stratify.genotypes.vcfscan,
   region shards in 1 and 2 processes) vs ``bcftools query -f '[%GT]'`` on the same file.
   Both totals of ALT alleles are compared, so both really decoded every call.
2. Polygenic score: a PGS Catalog-format scoring file over the VCF's variants (a third on the
   other strand, 1% of calls missing), scored by stratify (region shards, 2 processes, the
   stage's own matching) vs ``plink2 --vcf ... --score ... no-mean-imputation`` (2 threads)
   on the same VCF; per-sample results compared.
3. Memory: each step of the genotype stage (plan, pca, one shard job, merge) in a fresh
   process on a VCF of N and of 2N samples at a fixed sample chunk; peak RSS per step.

Writes bench/genotypes.tsv and the section between the markers in docs/performance.md.

    uv run python bench/genotypes.py   # 1-2 minutes on 2 cores once the VCFs exist (the first run writes them)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- bench/genotypes.py begin -->", "<!-- bench/genotypes.py end -->"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


LAYOUTS = ("GT", "GATK", "DS")
FORMAT_LINES = {
    "GT": [b'##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">'],
    "GATK": [
        b'##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        b'##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">',
        b'##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">',
        b'##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">',
        b'##FORMAT=<ID=PL,Number=G,Type=Integer,Description="Phred-scaled genotype likelihoods">',
    ],
    "DS": [
        b'##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        b'##FORMAT=<ID=DS,Number=1,Type=Float,Description="Estimated ALT dose [P(RA) + 2P(AA)]">',
        b'##FORMAT=<ID=GP,Number=G,Type=Float,Description="Estimated genotype probabilities">',
    ],
}


def _gatk_pool(rng: np.random.Generator, size: int = 512) -> list[np.ndarray]:
    """Per genotype (0/0, 0/1, 1/1) ``size`` realistic GATK fields GT:AD:DP:GQ:PL, and the missing one."""
    pools = []
    for g, gt in enumerate(("0/0", "0/1", "1/1")):
        dp = rng.poisson(30, size) + 1
        frac = (0.01, 0.5, 0.99)[g]
        alt = rng.binomial(dp, frac)
        ref = dp - alt
        # PL: 0 for the call, the others from the read counts (about 3 per supporting read), capped
        pl = np.zeros((size, 3), dtype=np.int64)
        for o in range(3):
            if o != g:
                pl[:, o] = np.minimum(3 * np.abs(o - g) * np.where(o > g, ref, alt) + 3 * dp * (o != 1), 1500)
        pl[:, g] = 0
        gq = np.minimum(np.sort(pl, axis=1)[:, 1], 99)
        pools.append(
            np.array(
                [
                    f"{gt}:{r},{a}:{d}:{q}:{p0},{p1},{p2}".encode()
                    for r, a, d, q, (p0, p1, p2) in zip(ref, alt, dp, gq, pl)
                ]
            )
        )
    pools.append(np.array([b"./.:.:.:.:."]))
    return pools


def _ds_pool() -> np.ndarray:
    """GT:DS:GP for every DS of 0.000 .. 2.000: GP = binomial(2, DS/2) (certain at 0, 1, 2; sums to 1, mean DS),
    GT the likeliest."""
    out = []
    for k in range(2001):
        d = k / 1000
        q = d / 2
        gp = ((1 - q) ** 2, 2 * q * (1 - q), q * q) if k % 1000 else tuple(float(k == i * 1000) for i in range(3))
        gt = ("0/0", "0/1", "1/1")[int(np.argmax(gp))]
        out.append(f"{gt}:{d:.3f}:{gp[0]:.3f},{gp[1]:.3f},{gp[2]:.3f}".encode())
    return np.array(out)


def write_vcf(
    path: Path, n: int, m: int, *, seed: int = 0, chroms: int = 4, miss: float = 0.01, layout: str = "GT"
) -> Path:
    """Synthetic VCF (bgzip + tabix), allele frequencies U(0.02, 0.5), ``miss`` missing calls.

    ``layout``: "GT" (FORMAT GT alone), "GATK" (GT:AD:DP:GQ:PL as GATK writes them: allelic
    depths, depth, genotype quality, Phred likelihoods) or "DS" (imputation output GT:DS:GP:
    dosages with 3 decimals, 70% of them exactly 0/1/2, the rest the true genotype plus noise;
    GP binomial around DS). Missing calls are ``./.`` with ``.`` for every other field.
    """
    rng = np.random.default_rng(seed)
    gt_lut = np.array([b"0/0", b"0/1", b"1/1", b"./."])
    gatk = _gatk_pool(rng) if layout == "GATK" else None
    ds_lut = _ds_pool() if layout == "DS" else None
    fmt = {"GT": "GT", "GATK": "GT:AD:DP:GQ:PL", "DS": "GT:DS:GP"}[layout]
    bases = "ACGT"
    with open(path, "wb") as out, subprocess.Popen(["bgzip", "-@", "2", "-c"], stdin=subprocess.PIPE, stdout=out) as p:
        w = p.stdin
        w.write(b"##fileformat=VCFv4.2\n")
        for c in range(1, chroms + 1):
            w.write(f"##contig=<ID=chr{c},length=200000000>\n".encode())
        w.write(b"\n".join(FORMAT_LINES[layout]) + b"\n")
        w.write(
            (
                "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
                + "\t".join(f"S{i:07d}" for i in range(n))
                + "\n"
            ).encode()
        )
        per = m // chroms
        for c in range(1, chroms + 1):
            pos = np.sort(rng.choice(np.arange(1, 199_000_000), per, replace=False))
            for j in range(per):
                g = rng.binomial(2, rng.uniform(0.02, 0.5), n)
                missing = rng.random(n) < miss
                if layout == "GT":
                    g[missing] = 3
                    fields = gt_lut[g]
                elif layout == "GATK":
                    pick = rng.integers(0, len(gatk[0]), n)
                    fields = np.empty(n, dtype=gatk[0].dtype)
                    for k in range(3):
                        fields[g == k] = gatk[k][pick[g == k]]
                    fields[missing] = gatk[3][0]
                else:
                    noisy = rng.random(n) < 0.3
                    ds = np.where(noisy, np.clip(g + rng.normal(0, 0.2, n), 0, 2), g)
                    fields = ds_lut[np.rint(ds * 1000).astype(np.int64)].astype(object)
                    fields[missing] = b"./.:.:."
                r = int(rng.integers(4))
                a = (r + int(rng.integers(1, 4))) % 4
                w.write(
                    f"chr{c}\t{pos[j]}\tchr{c}:{pos[j]}\t{bases[r]}\t{bases[a]}\t.\tPASS\t.\t{fmt}\t".encode()
                    + b"\t".join(fields.tolist())
                    + b"\n"
                )
    subprocess.run(["tabix", "-f", "-p", "vcf", str(path)], check=True)
    return path


def _scan_shard(args):
    from stratify.genotypes.vcfscan import scan

    vcf, intervals = args
    alt = calls = 0
    for r in scan(vcf, intervals):
        ok = r.dosage >= 0
        alt += int(r.dosage[ok].sum())
        calls += int(ok.sum())
    return alt, calls


def extraction(vcf: Path, processes: int) -> tuple[float, int]:
    from stratify.genotypes.vcfscan import plan_shards

    t0 = time.perf_counter()
    shards = plan_shards(vcf, target_bytes=max(vcf.stat().st_size // (4 * processes), 1 << 16))
    jobs = [(str(vcf), s.intervals) for s in shards]
    if processes == 1:
        res = [_scan_shard(j) for j in jobs]
    else:
        with ProcessPoolExecutor(processes) as ex:
            res = list(ex.map(_scan_shard, jobs))
    return time.perf_counter() - t0, sum(a for a, _ in res)


def extractors(vcf: Path) -> list[tuple[str, Callable[[], tuple[float, int]]]]:
    """The extraction contenders on one file, by the name the tables show: (seconds, ALT alleles)."""
    return [
        ("bcftools query -f '[%GT]' (1 process)", lambda: bcftools_query(vcf)),
        ("stratify vcfscan, 1 process", lambda: extraction(vcf, 1)),
        ("stratify vcfscan, 2 processes (region shards)", lambda: extraction(vcf, 2)),
    ]


def bcftools_query(vcf: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    p = subprocess.Popen(["bcftools", "query", "-f", "[%GT]", str(vcf)], stdout=subprocess.PIPE)
    alt = 0
    while chunk := p.stdout.read(1 << 24):
        alt += chunk.count(b"1")
    p.wait()
    return time.perf_counter() - t0, alt


def score_file(vcf: Path, path: Path, *, seed: int = 1, every: int = 1) -> Path:
    """A harmonised PGS Catalog file over every variant (or every ``every``-th); a third given on the other strand."""
    import gzip
    from itertools import islice

    from stratify.genotypes.vcfscan import scan

    rng = np.random.default_rng(seed)
    comp = str.maketrans("ACGT", "TGCA")
    rows = []
    for i, r in enumerate(islice(scan(vcf, None, columns=(0, 1)), 0, None, every)):
        e, o = (r.alt, r.ref) if i % 2 else (r.ref, r.alt)
        if i % 3 == 0:
            e, o = e.translate(comp), o.translate(comp)
        rows.append(f"{r.id}\t{e}\t{o}\t{rng.normal() / 100:.6g}\t{r.chrom[3:]}\t{r.pos}")
    with gzip.open(path, "wt") as f:
        f.write("###PGS CATALOG SCORING FILE\n#format_version=2.0\n#pgs_id=PGSBENCH\n#HmPOS_build=GRCh38\n")
        f.write("rsID\teffect_allele\tother_allele\teffect_weight\thm_chr\thm_pos\n" + "\n".join(rows) + "\n")
    return path


def _prs_shard(args):
    from stratify.genotypes.shards import run_shard

    plan, job, scores = args
    r = run_shard(plan, job, {}, scores, genome_build="none")
    return job, r


def stratify_prs(vcf: Path, score: Path, processes: int) -> tuple[float, pd.DataFrame, pd.DataFrame]:
    from stratify.genotypes.shards import load_scores, make_plan, merge, settings
    from stratify.genotypes.vcfscan import header_samples

    t0 = time.perf_counter()
    samples = header_samples(vcf)
    cfg = settings(
        {
            "genotypes": {
                "shard_mb": max(vcf.stat().st_size / (4 * processes) / 2**20, 0.1),
                "sample_chunk": len(samples),
            }
        }
    )
    plan = make_plan(vcf, patient_ids=set(samples), cfg=cfg)
    scores = load_scores([str(score)], genome_build="GRCh38")
    with ProcessPoolExecutor(processes) as ex:
        res = dict(ex.map(_prs_shard, [(plan, j, scores) for j in plan["jobs"]]))
    out = merge(plan, {}, res, scores, sample_map=None, patient_ids=set(samples), genome_build="none")
    return time.perf_counter() - t0, out["prs"].set_index("patient_id"), out["prs_report"], out["prs_variants"]


def plink2_prs(
    vcf: Path, report_variants: pd.DataFrame, work: Path, threads: int, *, dosage: bool = False
) -> tuple[float, pd.DataFrame]:
    """plink2 on the same VCF with the variants stratify matched (effect allele as the VCF spells it)."""
    from stratify.genotypes.prs import match_allele

    used = report_variants[report_variants["status"].isin(["matched", "matched_flipped"])]
    rows = []
    for _, u in used.iterrows():
        ref, alt = u["vcf_ref"], u["vcf_alt"]
        _, orient = match_allele(u["effect_allele"], u["other_allele"], ref, alt)
        rows.append((f"{u['chrom']}:{int(u['pos'])}", alt if orient > 0 else ref, u["weight"]))
    sf = work / "plink2_score.tsv"
    pd.DataFrame(rows, columns=["ID", "A1", "W"]).to_csv(sf, sep="\t", index=False)
    t0 = time.perf_counter()
    subprocess.run(
        [
            "plink2",
            "--vcf",
            str(vcf),
            *(["dosage=DS"] if dosage else []),
            "--set-all-var-ids",
            "@:#",
            "--score",
            str(sf),
            "1",
            "2",
            "3",
            "header",
            "no-mean-imputation",
            "cols=+scoresums",
            "--threads",
            str(threads),
            "--out",
            str(work / "plink2"),
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t0, pd.read_csv(work / "plink2.sscore", sep="\t").set_index("#IID")


STEP_CODE = """
import json, sys, time
from pathlib import Path
from stratify.genotypes import shards as G
from stratify.genotypes.pca import fit_pca
from stratify.genotypes.vcfscan import header_samples
vcf, step, work, chunk = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
t0 = time.perf_counter()
samples = header_samples(vcf)
cfg = G.settings({"genotypes": {"sample_chunk": chunk, "shard_mb": 1000, "pca": {"samples": 2000}}})
if step == "plan":
    (work / "plan.json").write_text(json.dumps(G.make_plan(vcf, patient_ids=set(samples), cfg=cfg)))
else:
    plan = json.loads((work / "plan.json").read_text())
    if step == "pca":
        G.save_pca(fit_pca(plan), work / "pca.npz")
    else:
        pca = G.load_pca(work / "pca.npz")
        if step in ("shard", "other_shards"):
            for j in (plan["jobs"][:1] if step == "shard" else plan["jobs"][1:]):
                G.save_shard(G.run_shard(plan, j, pca, [], genome_build="none"), work / "shards" / j)
        else:
            res = G.merge(plan, pca, {j: G.load_shard(work / "shards" / j) for j in plan["jobs"]}, [],
                          sample_map=None, patient_ids=set(samples), genome_build="none")
            assert len(res["pcs"]) == len(samples)
# VmHWM: this process image's own peak (ru_maxrss would carry the parent's peak over fork + exec)
hwm = next(int(ln.split()[1]) for ln in open("/proc/self/status") if ln.startswith("VmHWM:"))
print(json.dumps({"seconds": time.perf_counter() - t0, "peak_rss_mib": hwm / 1024}))
"""


def step_memory(vcf: Path, work: Path, chunk: int) -> list[dict]:
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    names = {
        "plan": "plan",
        "pca": "pca (reference samples)",
        "shard": "one shard job (first region x first chunk)",
        "other_shards": "the other shard jobs, one after another in one process",
        "merge": "merge",
    }
    for step in names:
        out = subprocess.run(
            [sys.executable, "-c", STEP_CODE, str(vcf), step, str(work), str(chunk)],
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append({"step": names[step], **r})
    return rows


def machine() -> dict:
    import cyvcf2
    import sklearn

    from stratify import __version__

    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    mem = next((ln.split()[1] for ln in open("/proc/meminfo") if ln.startswith("MemTotal")), "0")
    ver = lambda *a: subprocess.run(a, capture_output=True, text=True).stdout.splitlines()[0]  # noqa: E731
    return {
        "date": time.strftime("%Y-%m-%d"),
        "cpu": f"{os.cpu_count()} cores, {cpu}, {int(mem) / 2**20:.1f} GiB RAM",
        "platform": platform.platform(),
        "versions": (
            f"stratify {__version__}, Python {platform.python_version()}, numpy {np.__version__}, "
            f"cyvcf2 {cyvcf2.__version__}, scikit-learn {sklearn.__version__}; "
            f"{ver('bcftools', '--version')}; {ver('plink2', '--version')}"
        ),
    }


def printed_ok(ours: pd.Series, printed: pd.Series) -> tuple[float, bool]:
    """Largest relative difference from plink2's printed sums, and whether every one is within
    half a unit of the 6th significant digit plink2 prints (plus float rounding)."""
    x = printed.to_numpy(float)
    half_ulp = 0.5 * 10.0 ** (np.floor(np.log10(np.maximum(np.abs(x), 1e-300))) - 5)
    diff = np.abs(ours.to_numpy(float) - x)
    return float((diff / np.maximum(np.abs(x), 1e-12)).max()), bool((diff <= half_ulp * (1 + 1e-9) + 1e-12).all())


def load_cols() -> dict:
    """The 1/5/15-minute load averages (``uptime``), recorded with every timing row."""
    a, b, c = os.getloadavg()
    return {"load1": round(a, 2), "load5": round(b, 2), "load15": round(c, 2)}


def vcf_alleles(vcf: Path, variants: pd.DataFrame) -> pd.DataFrame:
    """stratify's per-variant report with the VCF's REF and ALT (for plink2's score file)."""
    from stratify.genotypes.vcfscan import scan

    alleles = {(r.chrom[3:], r.pos): (r.ref, r.alt) for r in scan(vcf, None, columns=(0, 1))}
    v = variants.copy()
    v["vcf_ref"] = [alleles[(c, int(p))][0] for c, p in zip(v["chrom"], v["pos"])]
    v["vcf_alt"] = [alleles[(c, int(p))][1] for c, p in zip(v["chrom"], v["pos"])]
    return v


def prs_parity(prs: pd.DataFrame, report: pd.DataFrame, pl: pd.DataFrame) -> dict:
    """stratify's per-sample scores against plink2's .sscore (one row of the TSV)."""
    ids = pl.index
    rel, within = printed_ok(prs.loc[ids, "prs_PGSBENCH"], pl["SCORE1_SUM"])
    return {
        "test": "parity",
        "tool": "stratify vs plink2 --vcf --score",
        "samples": len(ids),
        "variants_used": int(report["used"].iloc[0]),
        "flipped": int(report["matched_flipped"].iloc[0]),
        "ambiguous_dropped": int(report["ambiguous_dropped"].iloc[0]),
        "max_abs_diff_avg": float(np.abs(prs.loc[ids, "prs_PGSBENCH_avg"] - pl["SCORE1_AVG"]).max()),
        "max_rel_diff_sum": rel,
        "within_printed": within,
        "allele_ct_equal": bool((prs.loc[ids, "prs_PGSBENCH_allele_ct"] == pl["ALLELE_CT"]).all()),
    }


def vcf_runs(vcf: Path, score: Path, work: Path, repeats: int, *, dosage: bool, base: dict) -> list[dict]:
    """Extraction (bcftools query vs vcfscan) and scores (plink2 --vcf --score vs stratify) on one VCF."""
    rows = []
    n_calls = base.get("samples", 0) * base.get("variants", 0)
    for rep in range(repeats):
        for name, fn in extractors(vcf):
            sec, alt = fn()
            rows.append({**base, "test": "extraction", "tool": name, "repeat": rep, "seconds": sec, "alt_alleles": alt})
            rows[-1].update(genotypes_per_s=n_calls / sec, **load_cols())
            log(f"  {base} {name}: {sec:.2f} s, {alt} ALT alleles")
        sec, prs, report, variants = stratify_prs(vcf, score, 2)
        rows.append({**base, "test": "prs", "tool": "stratify (2 processes)", "repeat": rep, "seconds": sec})
        rows[-1].update(load_cols())
        if rep == 0:
            v = vcf_alleles(vcf, variants)
        psec, pl = plink2_prs(vcf, v, work, 2, dosage=dosage)
        rows.append({**base, "test": "prs", "tool": "plink2 --vcf --score (2 threads)", "repeat": rep, "seconds": psec})
        rows[-1].update(load_cols())
        log(f"  {base} scores: stratify {sec:.2f} s, plink2 {psec:.2f} s")
        if rep == 0:
            rows.append({**base, **prs_parity(prs, report, pl)})
            log(f"  parity: {rows[-1]}")
    return rows


def layout_vcfs(args, work: Path) -> dict[str, Path]:
    """The realistic layouts' VCFs (GATK-style, imputed GT:DS:GP), written once."""
    out = {}
    n, m = args.layout_samples, args.layout_variants
    for layout in [x for x in args.layouts.split(",") if x]:
        vcf = work / f"bench_{layout}_{n}x{m}.vcf.gz"
        if not vcf.exists():
            log(f"writing {vcf}")
            write_vcf(vcf, n, m, layout=layout)
        out[layout] = vcf
    return out


def layout_runs(args, work: Path) -> list[dict]:
    """Extraction and scores on the realistic layouts (GATK-style, imputed with DS), side by side."""
    rows = []
    n, m = args.layout_samples, args.layout_variants
    for layout, vcf in layout_vcfs(args, work).items():
        score = score_file(vcf, work / f"PGSBENCH_{layout}_hmPOS_GRCh38.txt.gz")
        base = {"part": "layouts", "layout": layout, "samples": n, "variants": m}
        rows += vcf_runs(vcf, score, work, args.repeats, dosage=layout == "DS", base=base)
    return rows


def gt_runs(args, work: Path) -> list[dict]:
    """The GT-only VCF: extraction and scores (issue 7's acceptance)."""
    vcf = work / f"bench_{args.samples}x{args.variants}.vcf.gz"
    if not vcf.exists():
        log(f"writing {vcf}")
        write_vcf(vcf, args.samples, args.variants)
    score = score_file(vcf, work / "PGSBENCH_hmPOS_GRCh38.txt.gz")
    base = {"part": "extraction", "samples": args.samples, "variants": args.variants}
    rows = vcf_runs(vcf, score, work, args.repeats, dosage=False, base=base)
    for r in rows:
        r["vcf_mib"] = vcf.stat().st_size / 2**20
    return rows


def step_memory_runs(args, work: Path) -> list[dict]:
    """Each step of the VCF stage in a fresh process at N and 2N samples, a fixed chunk."""
    rows = []
    for n in (args.mem_samples, 2 * args.mem_samples):
        mv = work / f"mem_{n}x{args.mem_variants}.vcf.gz"
        if not mv.exists():
            write_vcf(mv, n, args.mem_variants, seed=2)
        for r in step_memory(mv, work / f"mem_{n}", args.chunk):
            rows.append(
                {
                    "part": "memory",
                    "test": "memory",
                    "tool": r["step"],
                    "samples": n,
                    "variants": args.mem_variants,
                    "chunk": args.chunk,
                    "seconds": r["seconds"],
                    "peak_rss_mib": r["peak_rss_mib"],
                    **load_cols(),
                }
            )
            log(f"  n={n} {r['step']}: {r['seconds']:.1f} s, peak {r['peak_rss_mib']:.0f} MiB")
    return rows


def best_median(d: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Best (min) and median seconds per group, and the load (1 min) over its repeats."""
    g = d.groupby(keys, sort=False)
    out = g["seconds"].agg(best="min", median="median")
    if "load1" in d:
        out["load"] = g["load1"].agg(lambda x: f"{x.min():.1f}-{x.max():.1f}" if x.notna().any() else "")
    else:
        out["load"] = ""
    return out


def load_range(frames: list[pd.DataFrame]) -> str:
    vals = pd.concat([f["load1"] for f in frames if "load1" in f and len(f)], ignore_index=True).dropna()
    return f"{vals.min():.2f} to {vals.max():.2f}" if len(vals) else "not recorded"


def render_gt(d: pd.DataFrame, args) -> list[str]:
    """GT-only extraction and scores (the extraction part)."""
    if not len(d):
        return []
    n, m = int(d["samples"].dropna().iloc[0]), int(d["variants"].dropna().iloc[0])
    mb = float(d["vcf_mib"].dropna().iloc[0])
    ex = best_median(d[d["test"] == "extraction"], ["tool"])
    alt = d[d["test"] == "extraction"].groupby("tool", sort=False)["alt_alleles"].first()
    bcf = ex["best"].iloc[0]
    lines = [
        "",
        f"### Genotype extraction: {n:,} samples x {m:,} biallelic SNPs ({mb:.0f} MiB bgzipped, GT only, 1% missing)",
        "",
        "Every call decoded by each tool; the ALT-allele totals must agree. Best and median of 3 runs.",
        "",
        "| tool | best s | median s | genotypes / s (best) | vs bcftools | ALT alleles | load (1 min) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for tool, r in ex.iterrows():
        lines.append(
            f"| {tool} | {r['best']:.2f} | {r['median']:.2f} | {n * m / r['best'] / 1e6:.1f} M | "
            f"{bcf / r['best']:.2f}x | {int(alt[tool]):,} | {r['load']} |"
        )
    pr = best_median(d[d["test"] == "prs"], ["tool"])
    lines += [
        "",
        f"### Polygenic score from the same VCF: {m:,} variants, a third on the other strand",
        "",
        "| tool | best s | median s | vs plink2 | load (1 min) |",
        "|---|---:|---:|---:|---|",
    ]
    lines += [
        f"| {t} | {r['best']:.2f} | {r['median']:.2f} | {pr['best'].iloc[-1] / r['best']:.2f}x | {r['load']} |"
        for t, r in pr.iterrows()
    ]
    c = d[d["test"] == "parity"]
    if len(c):
        c = c.iloc[0]
        lines += [
            "",
            f"Agreement over {int(c['samples']):,} samples ({int(c['variants_used']):,} variants used, "
            f"{int(c['flipped']):,} of them matched on the other strand, {int(c['ambiguous_dropped']):,} "
            "strand-ambiguous A/T or C/G dropped; plink2 was given the same variants with the effect allele as the "
            f"VCF spells it): ALLELE_CT equal: {c['allele_ct_equal']}; largest |avg difference| "
            f"{c['max_abs_diff_avg']:.1e}; largest relative sum difference {c['max_rel_diff_sum']:.1e} (plink2 "
            "prints 6 significant digits, which bounds what can be compared).",
        ]
    return lines


def render_steps(d: pd.DataFrame, args) -> list[str]:
    """Peak memory of each VCF step at N and 2N samples (the memory part, genotypes.tsv)."""
    if not len(d):
        return []
    piv = d.pivot_table(index="tool", columns="samples", values="peak_rss_mib", sort=False)
    sec = d.pivot_table(index="tool", columns="samples", values="seconds", sort=False)
    a, b = (int(c) for c in piv.columns)
    piv.columns, sec.columns = [a, b], [a, b]
    chunk = int(d["chunk"].iloc[0])
    lines = [
        "",
        f"### Peak memory per step of the VCF stage: {a:,} vs {b:,} samples (GT-only, "
        f"{int(d['variants'].dropna().iloc[0]) if 'variants' in d and d['variants'].notna().any() else 4000:,} "
        f"SNPs), sample chunk {chunk:,}, PCA on 2,000 reference samples",
        "",
        "Each step in a fresh process (peak RSS = VmHWM from /proc/self/status; it includes about 150 MiB of imports).",
        "",
        f"| step | peak MiB at {a:,} | peak MiB at {b:,} | ratio | s at {a:,} | s at {b:,} |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for tool in piv.index:
        lines.append(
            f"| {tool} | {piv.loc[tool, a]:.0f} | {piv.loc[tool, b]:.0f} | "
            f"{piv.loc[tool, b] / piv.loc[tool, a]:.2f} | {sec.loc[tool, a]:.1f} | {sec.loc[tool, b]:.1f} |"
        )
    return lines


def render_layouts(d: pd.DataFrame, args) -> list[str]:
    """The section on the realistic layouts: each tool's best and median, and the ratios."""
    if not len(d):
        return []
    n, m = args.layout_samples, args.layout_variants
    if "samples" in d and d["samples"].notna().any():
        n, m = int(d["samples"].dropna().iloc[0]), int(d["variants"].dropna().iloc[0])
    lines = [
        "",
        f"### Realistic layouts: {n:,} samples x {m:,} biallelic SNPs, 1% missing",
        "",
        "Best and median of 3 runs; ratio = the reference tool's best over stratify's best (above 1: stratify is "
        "faster).",
        "",
        "| layout | test | tool | best s | median s | vs reference | load (1 min) |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for layout, g in d[d["test"] != "parity"].groupby("layout", sort=False):
        for test, ref in (("extraction", "bcftools"), ("prs", "plink2")):
            t = best_median(g[g["test"] == test], ["tool"])
            best_ref = t.loc[[x for x in t.index if x.startswith(ref)][0], "best"]
            for tool, r in t.iterrows():
                lines.append(
                    f"| {LAYOUT_NAMES.get(layout, layout)} | {test} | {tool} | {r['best']:.2f} | {r['median']:.2f} | "
                    f"{best_ref / r['best']:.2f}x | {r['load']} |"
                )
    par = d[d["test"] == "parity"]
    if len(par):
        lines += [
            "",
            "Scores against plink2 (`--vcf X [dosage=DS] --score ... no-mean-imputation cols=+scoresums`):",
            "",
        ]
    for c in par.itertuples(index=False):
        lines.append(
            f"- {LAYOUT_NAMES.get(c.layout, c.layout)}: {int(c.samples):,} samples, {int(c.variants_used):,} variants; "
            f"largest relative difference of the sums {c.max_rel_diff_sum:.1e}; every sum within plink2's printed "
            f"precision (6 significant digits): {c.within_printed}; ALLELE_CT equal: {c.allele_ct_equal}"
        )
    return lines


LAYOUT_NAMES = {"GATK": "GATK-style GT:AD:DP:GQ:PL", "DS": "imputed GT:DS:GP (scores use DS)", "GT": "GT only"}


def render_doc(t: dict[str, pd.DataFrame], args) -> str:
    """The docs/performance.md section, from the TSVs alone."""
    import genotypes_formats as F

    gt = t["extraction"]
    facts = machine()
    facts["load (1 min, over every timed row)"] = load_range(list(t.values()))
    lines = [
        BEGIN,
        "## Genotype stage: extraction, polygenic scores, PCA, memory, scaling",
        "",
        "Measured with `bench/genotypes.py` (every tool side by side, on the same files in the same run); the "
        "tables below are rendered from the TSVs it writes (`bench/genotypes.tsv`, `genotypes_layouts.tsv`, "
        "`genotypes_formats.tsv`, `genotypes_scaling.tsv`), which hold every repeat and the 1/5/15-minute load "
        "average at the time of each. Timings are the best of 3 repeats unless a table says otherwise.",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in facts.items()],
    ]
    lines += render_gt(gt[gt["part"] == "extraction"], args)
    lines += render_layouts(t["layouts"], args)
    lines += F.render_scores(t["scores"])
    lines += F.render_pca(t["scores"])
    lines += render_steps(gt[gt["part"] == "memory"], args)
    lines += F.render_memory(t["scaling"], args)
    lines += F.render_scaling(t["scaling"], args)
    lines += F.render_acceptance(t, args)
    lines += [
        "",
        "### Reproduce",
        "",
        "```",
        "apt-get install bcftools plink2 tabix   # the reference tools",
        "uv run python bench/genotypes.py                         # every part, about 10 minutes on 2 cores",
        "uv run python bench/genotypes.py --parts scores,pca --formats pgen,bgen   # some parts; the others' rows stay",
        "uv run python bench/genotypes.py --doc-only              # this section again from the TSVs",
        "```",
        "",
        "Parts: `extraction` (GT-only VCF vs bcftools and plink2), `layouts` (GATK-style and imputed VCFs), "
        "`scores` (pgen and BGEN vs plink2), `pca` (LD pruning and PCA from a pgen vs plink2), `memory` (each VCF "
        "step, and one shard job per format, at N and 2N samples), `scaling` (shard jobs and PCA passes at 2,000 to "
        "8,000 samples, the fits and the extrapolation). The first run writes the synthetic files under `--work` "
        "(a few minutes); later runs reuse them.",
        END,
    ]
    return "\n".join(lines)


TSVS = {
    "extraction": "genotypes.tsv",
    "memory": "genotypes.tsv",
    "layouts": "genotypes_layouts.tsv",
    "scores": "genotypes_formats.tsv",
    "pca": "genotypes_formats.tsv",
    "scaling": "genotypes_scaling.tsv",
}
PARTS = ("extraction", "layouts", "scores", "pca", "memory", "scaling")


def read_tsv(path: Path) -> pd.DataFrame:
    """A bench TSV, with the ``part`` column inferred for files written before it existed."""
    if not path.exists():
        return pd.DataFrame({"part": pd.Series([], dtype=str), "test": pd.Series([], dtype=str)})
    d = pd.read_csv(path, sep="\t")
    if "part" not in d:
        legacy = {"extraction": "extraction", "prs": "extraction", "memory": "memory"}
        d["part"] = "layouts" if "layout" in d and d["layout"].notna().all() else d["test"].map(legacy)
    return d


def update_tsv(path: Path, parts: set[str], rows: list[dict]) -> pd.DataFrame:
    """Replace the rows of ``parts`` in the TSV at ``path`` with ``rows`` (the other parts' rows stay)."""
    old = read_tsv(path)
    d = pd.concat([old[~old["part"].isin(parts)], pd.DataFrame(rows)], ignore_index=True)
    d.to_csv(path, sep="\t", index=False)
    return d


def refit(path: Path, args) -> pd.DataFrame:
    """The fitted models and the extrapolation, recomputed from the measured points in the scaling TSV."""
    import genotypes_formats as F

    d = read_tsv(path)
    points = d[d["test"].isin(["shard_job", "pca_pass"])]
    if "score_variants" not in points:
        points = points.assign(score_variants=points["variants"])
    points = points.assign(score_variants=points["score_variants"].fillna(points["variants"]))
    points = points.assign(region_score=points["score_variants"])  # a bench job's region is the whole file
    points = points.drop_duplicates(["test", "format", "samples", "chunk", "variants", "score_variants"], keep="last")
    fits = pd.DataFrame(F.fit(points))
    ext = pd.DataFrame(F.extrapolate(points, fits, args)) if len(fits) else pd.DataFrame()
    out = pd.concat([points, fits, ext], ignore_index=True)
    out.to_csv(path, sep="\t", index=False)
    return out


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default=",".join(PARTS), help=f"what to measure (default all: {','.join(PARTS)})")
    ap.add_argument("--formats", default="vcf,pgen,bgen", help="input formats of scores, memory, scaling")
    ap.add_argument("--samples", type=int, default=5000, help="GT-only VCF (extraction part)")
    ap.add_argument("--variants", type=int, default=20000)
    ap.add_argument("--mem-samples", type=int, default=4000, help="N of the memory test (and 2N)")
    ap.add_argument("--mem-variants", type=int, default=4000)
    ap.add_argument("--chunk", type=int, default=2000, help="sample chunk of the memory test")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--layouts", default="GATK,DS", help="realistic layouts (GATK, DS) for layouts and scores")
    ap.add_argument("--layout-samples", type=int, default=2000)
    ap.add_argument("--layout-variants", type=int, default=20000)
    ap.add_argument("--pca-samples", type=int, default=2000, help="LD pruning and PCA from a pgen")
    ap.add_argument("--pca-variants", type=int, default=10000)
    ap.add_argument("--scale-samples", default="2000,4000,8000", help="samples of the scaling points")
    ap.add_argument("--target-samples", type=int, default=500_000, help="extrapolation: samples")
    ap.add_argument("--target-variants", type=int, default=10_000_000, help="extrapolation: variants")
    ap.add_argument("--target-score-variants", type=int, default=1_000_000, help="extrapolation: a score's variants")
    ap.add_argument("--extrap-shard-mb", default="64,4096", help="extrapolation: shard sizes (genotypes.shard_mb)")
    ap.add_argument("--slots", type=int, default=100, help="extrapolation: SLURM jobs running at once")
    ap.add_argument("--skip-gt", action="store_true", help="same as --parts layouts")
    ap.add_argument("--work", default="/tmp/stratify-bench-genotypes")
    ap.add_argument("--tsv-dir", default=str(ROOT / "bench"), help="where the TSVs are read and written")
    ap.add_argument("--no-doc", action="store_true", help="print the section instead of replacing it in the docs")
    ap.add_argument("--doc-only", action="store_true", help="measure nothing: the section from the TSVs")
    args = ap.parse_args(argv)
    args.parts = {"layouts"} if args.skip_gt else set(args.parts.split(",")) - {""}
    if args.doc_only:
        args.parts = set()
    if bad := args.parts - set(PARTS):
        ap.error(f"--parts {','.join(sorted(bad))}: expected some of {','.join(PARTS)}")
    if bad := set(args.formats.split(",")) - {"vcf", "pgen", "bgen"}:
        ap.error(f"--formats {','.join(sorted(bad))}: expected some of vcf,pgen,bgen")
    args.scale_samples = [int(x) for x in args.scale_samples.split(",")]
    args.extrap_shard_mb = [float(x) for x in args.extrap_shard_mb.split(",")]
    return args


def main(argv: list[str] | None = None) -> str:
    """Measure the parts asked for, update their TSVs, render the docs section (returned)."""
    sys.path.insert(0, str(ROOT / "bench"))  # genotypes_formats imports this file as ``genotypes``
    import genotypes_formats as F

    args = parse_args(argv)
    for tool in ("bcftools", "plink2", "bgzip", "tabix"):
        if args.parts and shutil.which(tool) is None:
            sys.exit(f"{tool} not found: apt-get install bcftools plink2 tabix")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    out = {k: Path(args.tsv_dir) / v for k, v in TSVS.items()}
    p = args.parts
    if "layouts" in p:
        update_tsv(out["layouts"], {"layouts"}, layout_runs(args, work))
    if p & {"extraction", "memory"}:
        rows = (gt_runs(args, work) if "extraction" in p else []) + (
            step_memory_runs(args, work) if "memory" in p else []
        )
        update_tsv(out["extraction"], p & {"extraction", "memory"}, rows)
    if p & {"scores", "pca"}:
        rows = F.score_runs(args, work, layout_vcfs(args, work)) if "scores" in p else []
        rows += F.pca_runs(args, work) if "pca" in p else []
        update_tsv(out["scores"], p & {"scores", "pca"}, rows)
    if p & {"memory", "scaling"}:
        shard_pts, pca_pts = F.scaling_points(args)
        if "scaling" in p:
            rows = F.job_runs(args, work, shard_pts, "scaling") + F.pca_pass_runs(args, work, pca_pts)
        else:
            n, c, m = args.mem_samples, args.chunk, args.mem_variants
            rows = F.job_runs(args, work, [(n, c, m, 1), (2 * n, c, m, 1)], "memory")
        update_tsv(out["scaling"], p & {"memory", "scaling"}, rows)
    if out["scaling"].exists():
        refit(out["scaling"], args)
    md = render_doc({k: read_tsv(v) for k, v in out.items()}, args)
    print(md)
    if not args.no_doc:
        doc = ROOT / "docs" / "performance.md"
        text = doc.read_text()
        if BEGIN in text:
            text = text[: text.index(BEGIN)] + md + text[text.index(END) + len(END) :]
        else:
            text = text.rstrip("\n") + "\n\n" + md + "\n"
        doc.write_text(text)
    return md


if __name__ == "__main__":
    main()
