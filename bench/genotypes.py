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


def score_file(vcf: Path, path: Path, *, seed: int = 1) -> Path:
    """A harmonised PGS Catalog file over every variant; a third given on the other strand."""
    import gzip

    from stratify.genotypes.vcfscan import scan

    rng = np.random.default_rng(seed)
    comp = str.maketrans("ACGT", "TGCA")
    rows = []
    for i, r in enumerate(scan(vcf, None, columns=(0, 1))):
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
vcf, step, work, chunk = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
t0 = time.perf_counter()
samples = G.header_samples(vcf)
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


def layout_runs(args, work: Path) -> tuple[list[dict], dict]:
    """Extraction and scores on the realistic layouts (GATK-style, imputed with DS), side by side."""
    rows, cmps = [], {}
    n, m = args.layout_samples, args.layout_variants
    for layout in [x for x in args.layouts.split(",") if x]:
        vcf = work / f"bench_{layout}_{n}x{m}.vcf.gz"
        if not vcf.exists():
            log(f"writing {vcf}")
            write_vcf(vcf, n, m, layout=layout)
        score = score_file(vcf, work / f"PGSBENCH_{layout}_hmPOS_GRCh38.txt.gz")
        for rep in range(args.repeats):
            for name, fn in extractors(vcf):
                sec, alt = fn()
                rows.append({"test": "extraction", "layout": layout, "tool": name, "repeat": rep, "seconds": sec})
                rows[-1]["alt_alleles"] = alt
                log(f"  {layout} {name}: {sec:.2f} s, {alt} ALT alleles")
            sec, prs, report, variants = stratify_prs(vcf, score, 2)
            rows.append(
                {"test": "prs", "layout": layout, "tool": "stratify (2 processes)", "repeat": rep, "seconds": sec}
            )
            if rep == 0:
                from stratify.genotypes.vcfscan import scan

                alleles = {(r.chrom[3:], r.pos): (r.ref, r.alt) for r in scan(vcf, None, columns=(0, 1))}
                v = variants.copy()
                v["vcf_ref"] = [alleles[(c, int(p))][0] for c, p in zip(v["chrom"], v["pos"])]
                v["vcf_alt"] = [alleles[(c, int(p))][1] for c, p in zip(v["chrom"], v["pos"])]
            psec, pl = plink2_prs(vcf, v, work, 2, dosage=layout == "DS")
            rows.append(
                {
                    "test": "prs",
                    "layout": layout,
                    "tool": "plink2 --vcf --score (2 threads)",
                    "repeat": rep,
                    "seconds": psec,
                }
            )
            log(f"  {layout} scores: stratify {sec:.2f} s, plink2 {psec:.2f} s")
            if rep == 0:
                ids = pl.index
                rel, within = printed_ok(prs.loc[ids, "prs_PGSBENCH"], pl["SCORE1_SUM"])
                cmps[layout] = {
                    "samples": len(ids),
                    "variants_used": int(report["used"].iloc[0]),
                    "max_rel_diff_sum": rel,
                    "within_printed_precision": within,
                    "allele_ct_equal": bool((prs.loc[ids, "prs_PGSBENCH_allele_ct"] == pl["ALLELE_CT"]).all()),
                }
                log(f"  {layout} parity: {cmps[layout]}")
    return rows, cmps


def render_layouts(d: pd.DataFrame, cmps: dict, args) -> list[str]:
    """The section on the realistic layouts: each tool's best and median, and the ratios."""
    n, m = args.layout_samples, args.layout_variants
    what = {"GATK": "GATK-style GT:AD:DP:GQ:PL", "DS": "imputed GT:DS:GP (scores use DS)"}
    lines = [
        "",
        f"### Realistic layouts: {n:,} samples x {m:,} biallelic SNPs, 1% missing",
        "",
        f"Best and median of {args.repeats} runs; ratio = the reference tool's best over stratify's best "
        "(above 1: stratify is faster).",
        "",
        "| layout | test | tool | best s | median s | vs reference |",
        "|---|---|---|---:|---:|---:|",
    ]
    for layout, g in d.groupby("layout", sort=False):
        for test, ref in (("extraction", "bcftools"), ("prs", "plink2")):
            t = g[g["test"] == test].groupby("tool", sort=False)["seconds"].agg(["min", "median"])
            best_ref = t.loc[[x for x in t.index if x.startswith(ref)][0], "min"]
            for tool, r in t.iterrows():
                lines.append(
                    f"| {what.get(layout, layout)} | {test} | {tool} | {r['min']:.2f} | {r['median']:.2f} | "
                    f"{best_ref / r['min']:.2f}x |"
                )
    lines += ["", "Scores against plink2 (`--vcf X [dosage=DS] --score ... no-mean-imputation cols=+scoresums`):", ""]
    for layout, c in cmps.items():
        lines.append(
            f"- {what.get(layout, layout)}: {c['samples']:,} samples, {c['variants_used']:,} variants; largest relative "
            f"difference of the sums {c['max_rel_diff_sum']:.1e}; every sum within plink2's printed precision "
            f"(6 significant digits): {c['within_printed_precision']}; ALLELE_CT equal: {c['allele_ct_equal']}"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--variants", type=int, default=20000)
    ap.add_argument("--mem-samples", type=int, default=4000, help="N of the memory test (and 2N)")
    ap.add_argument("--mem-variants", type=int, default=4000)
    ap.add_argument("--chunk", type=int, default=2000, help="sample chunk of the memory test")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--layouts", default="GATK,DS", help="realistic layouts to measure (GATK, DS; empty: none)")
    ap.add_argument("--layout-samples", type=int, default=2000)
    ap.add_argument("--layout-variants", type=int, default=20000)
    ap.add_argument("--skip-gt", action="store_true", help="only the realistic layouts (no GT-only run, no memory)")
    ap.add_argument("--work", default="/tmp/stratify-bench-genotypes")
    ap.add_argument("--out", default="bench/genotypes.tsv")
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args()
    for tool in ("bcftools", "plink2", "bgzip", "tabix"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: apt-get install bcftools plink2 tabix")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()
    lrows, lcmps = layout_runs(args, work) if args.layouts else ([], {})
    if lrows:
        lmd = render_layouts(pd.DataFrame(lrows), lcmps, args)
        lmd.append(f"\nLoad average (1/5/15 min): {os.getloadavg()} (at start {load0}).")
        if args.skip_gt:
            pd.DataFrame(lrows).to_csv(ROOT / "bench" / "genotypes_layouts.tsv", sep="\t", index=False)
            print("\n".join(lmd))
            return
    vcf = work / f"bench_{args.samples}x{args.variants}.vcf.gz"
    if not vcf.exists():
        log(f"writing {vcf}")
        write_vcf(vcf, args.samples, args.variants)
    rows = []
    mb = vcf.stat().st_size / 2**20
    log("extraction: bcftools query vs stratify")
    for rep in range(args.repeats):
        for name, fn in extractors(vcf):
            sec, alt = fn()
            rows.append(
                {
                    "test": "extraction",
                    "tool": name,
                    "repeat": rep,
                    "seconds": sec,
                    "alt_alleles": alt,
                    "genotypes_per_s": args.samples * args.variants / sec,
                    "vcf_mib": mb,
                }
            )
            log(f"  {name}: {sec:.2f} s, {alt} ALT alleles")
    log("polygenic score: plink2 --score vs stratify")
    score = score_file(vcf, work / "PGSBENCH_hmPOS_GRCh38.txt.gz")
    cmp = {}
    for rep in range(args.repeats):
        sec, prs, report, variants = stratify_prs(vcf, score, 2)
        rows.append({"test": "prs", "tool": "stratify (2 processes)", "repeat": rep, "seconds": sec})
        log(f"  stratify: {sec:.2f} s")
        if rep == 0:
            from stratify.genotypes.vcfscan import scan

            alleles = {(r.chrom[3:], r.pos): (r.ref, r.alt) for r in scan(vcf, None, columns=(0, 1))}
            v = variants.copy()  # stratify's own per-variant matching
            v["vcf_ref"] = [alleles[(c, int(p))][0] for c, p in zip(v["chrom"], v["pos"])]
            v["vcf_alt"] = [alleles[(c, int(p))][1] for c, p in zip(v["chrom"], v["pos"])]
        psec, p = plink2_prs(vcf, v, work, 2)
        rows.append({"test": "prs", "tool": "plink2 --vcf --score (2 threads)", "repeat": rep, "seconds": psec})
        log(f"  plink2: {psec:.2f} s")
        if rep == 0:
            ids = p.index
            cmp = {
                "samples": len(ids),
                "variants_used": int(report["used"].iloc[0]),
                "flipped": int(report["matched_flipped"].iloc[0]),
                "ambiguous_dropped": int(report["ambiguous_dropped"].iloc[0]),
                "max_abs_diff_avg": float(np.abs(prs.loc[ids, "prs_PGSBENCH_avg"] - p["SCORE1_AVG"]).max()),
                "max_rel_diff_sum": float(
                    (
                        np.abs(prs.loc[ids, "prs_PGSBENCH"] - p["SCORE1_SUM"])
                        / np.maximum(np.abs(p["SCORE1_SUM"]), 1e-12)
                    ).max()
                ),
                "allele_ct_equal": bool((prs.loc[ids, "prs_PGSBENCH_allele_ct"] == p["ALLELE_CT"]).all()),
            }
    log("memory: N and 2N samples at a fixed chunk")
    for n in (args.mem_samples, 2 * args.mem_samples):
        mv = work / f"mem_{n}x{args.mem_variants}.vcf.gz"
        if not mv.exists():
            write_vcf(mv, n, args.mem_variants, seed=2)
        for r in step_memory(mv, work / f"mem_{n}", args.chunk):
            rows.append(
                {
                    "test": "memory",
                    "tool": r["step"],
                    "samples": n,
                    "chunk": args.chunk,
                    "seconds": r["seconds"],
                    "peak_rss_mib": r["peak_rss_mib"],
                }
            )
            log(f"  n={n} {r['step']}: {r['seconds']:.1f} s, peak {r['peak_rss_mib']:.0f} MiB")
    d = pd.DataFrame(rows + lrows)
    d.to_csv(ROOT / args.out, sep="\t", index=False)
    facts = machine()
    fmt = lambda la: " ".join(f"{x:.2f}" for x in la)  # noqa: E731
    facts["load (1/5/15 min)"] = f"{fmt(load0)} at start, {fmt(os.getloadavg())} at end"
    md = render(d[d["layout"].isna()] if "layout" in d else d, cmp, facts, args, mb)
    if lrows:
        md = md.replace("\n### Acceptance (issue 7)", "\n".join(lmd[:-1]) + "\n\n### Acceptance (issue 7)")
    print(md)
    if not args.no_doc:
        doc = ROOT / "docs" / "performance.md"
        text = doc.read_text()
        if BEGIN in text:
            text = text[: text.index(BEGIN)] + md + text[text.index(END) + len(END) :]
        else:
            text = text.rstrip("\n") + "\n\n" + md + "\n"
        doc.write_text(text)


def render(d: pd.DataFrame, cmp: dict, facts: dict, args, mb: float) -> str:
    ex = (
        d[d["test"] == "extraction"]
        .groupby("tool", sort=False)
        .agg(best=("seconds", "min"), median=("seconds", "median"), alt=("alt_alleles", "first"))
    )
    bcf = ex.iloc[0]["best"]
    lines = [
        BEGIN,
        "## Genotype stage: extraction, polygenic scores, memory",
        "",
        "Measured with `bench/genotypes.py` (one run, every tool side by side); `bench/genotypes.tsv` has every "
        "repeat.",
        "",
        "| | |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in facts.items()]
    n, m = args.samples, args.variants
    lines += [
        "",
        f"### Genotype extraction: {n:,} samples x {m:,} biallelic SNPs ({mb:.0f} MiB bgzipped, GT only, 1% missing)",
        "",
        f"Every call decoded by each tool; the ALT-allele totals must agree. Best and median of {args.repeats} runs.",
        "",
        "| tool | best s | median s | genotypes / s (best) | vs bcftools | ALT alleles |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for tool, r in ex.iterrows():
        lines.append(
            f"| {tool} | {r['best']:.2f} | {r['median']:.2f} | {n * m / r['best'] / 1e6:.1f} M | "
            f"{bcf / r['best']:.2f}x | {int(r['alt']):,} |"
        )
    pr = d[d["test"] == "prs"].groupby("tool", sort=False)["seconds"].agg(["min", "median"])
    lines += [
        "",
        f"### Polygenic score from the same VCF: {m:,} variants, a third on the other strand",
        "",
        "| tool | best s | median s |",
        "|---|---:|---:|",
    ]
    lines += [f"| {t} | {r['min']:.2f} | {r['median']:.2f} |" for t, r in pr.iterrows()]
    lines += [
        "",
        f"Agreement over {cmp['samples']:,} samples ({cmp['variants_used']:,} variants used, "
        f"{cmp['flipped']:,} of them matched on the other strand, {cmp['ambiguous_dropped']:,} strand-ambiguous "
        f"A/T or C/G dropped; plink2 was given the same variants with the effect allele as the VCF spells it): "
        f"ALLELE_CT equal: {cmp['allele_ct_equal']}; largest |avg difference| {cmp['max_abs_diff_avg']:.1e}; "
        f"largest relative sum difference {cmp['max_rel_diff_sum']:.1e} (plink2 prints 6 significant digits, "
        "which bounds what can be compared).",
    ]
    mem = d[d["test"] == "memory"]
    piv = mem.pivot_table(index="tool", columns="samples", values="peak_rss_mib", sort=False)
    sec = mem.pivot_table(index="tool", columns="samples", values="seconds", sort=False)
    a, b = (int(c) for c in piv.columns)
    piv.columns, sec.columns = [a, b], [a, b]
    lines += [
        "",
        f"### Peak memory per step: {a:,} vs {b:,} samples ({args.mem_variants:,} SNPs), sample chunk "
        f"{args.chunk:,}, PCA on 2,000 reference samples",
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
    st = pr.iloc[0]
    pl = pr.iloc[1]
    shard = piv.loc[[t for t in piv.index if t.startswith("one shard job")][0]]
    ok = lambda b: "holds" if b else "does not hold"  # noqa: E731
    lines += [
        "",
        "### Acceptance (issue 7)",
        "",
        "| criterion | measured | |",
        "|---|---|---|",
        f"| extraction throughput at least that of `bcftools query` | "
        f"{bcf / ex.iloc[2]['best']:.2f}x (2 processes), {bcf / ex.iloc[1]['best']:.2f}x (1 process), "
        f"best of {args.repeats} | {ok(ex.iloc[2]['best'] <= bcf)} |",
        f"| polygenic score no slower than `plink2 --score` on the same VCF | median {st['median']:.2f} s "
        f"vs {pl['median']:.2f} s, best {st['min']:.2f} s vs {pl['min']:.2f} s | "
        f"{ok(st['median'] <= pl['median'])} |",
        f"| scores equal to plink2's to 1e-6 | per-allele average: {cmp['max_abs_diff_avg']:.1e}; "
        f"ALLELE_CT equal: {cmp['allele_ct_equal']} | "
        f"{ok(cmp['max_abs_diff_avg'] < 1e-6 and cmp['allele_ct_equal'])} |",
        f"| shard-job peak memory flat when samples double at a fixed chunk | {shard[a]:.0f} vs "
        f"{shard[b]:.0f} MiB | {ok(shard[b] <= 1.1 * shard[a])} |",
    ]
    lines += [
        "",
        "### Reproduce",
        "",
        "```",
        "apt-get install bcftools plink2 tabix   # the reference tools",
        "uv run python bench/genotypes.py",
        "```",
        END,
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
