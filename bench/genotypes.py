"""Genotype stage side by side with the reference tools, in one run (issue 7).

1. Extraction: every genotype of a synthetic VCF decoded by stratify (stratify.genotypes.vcfscan,
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
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- bench/genotypes.py begin -->", "<!-- bench/genotypes.py end -->"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def write_vcf(path: Path, n: int, m: int, *, seed: int = 0, chroms: int = 4, miss: float = 0.01) -> Path:
    """Synthetic GT-only VCF (bgzip + tabix), allele frequencies U(0.02, 0.5), ``miss`` missing calls."""
    rng = np.random.default_rng(seed)
    lut = np.array([b"0/0", b"0/1", b"1/1", b"./."])
    bases = "ACGT"
    with open(path, "wb") as out, subprocess.Popen(["bgzip", "-@", "2", "-c"], stdin=subprocess.PIPE, stdout=out) as p:
        w = p.stdin
        w.write(b"##fileformat=VCFv4.2\n")
        for c in range(1, chroms + 1):
            w.write(f"##contig=<ID=chr{c},length=200000000>\n".encode())
        w.write(b'##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
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
                g[rng.random(n) < miss] = 3
                r = int(rng.integers(4))
                a = (r + int(rng.integers(1, 4))) % 4
                w.write(
                    f"chr{c}\t{pos[j]}\tchr{c}:{pos[j]}\t{bases[r]}\t{bases[a]}\t.\tPASS\t.\tGT\t".encode()
                    + b"\t".join(lut[g].tolist())
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


def plink2_prs(vcf: Path, report_variants: pd.DataFrame, work: Path, threads: int) -> tuple[float, pd.DataFrame]:
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--variants", type=int, default=20000)
    ap.add_argument("--mem-samples", type=int, default=4000, help="N of the memory test (and 2N)")
    ap.add_argument("--mem-variants", type=int, default=4000)
    ap.add_argument("--chunk", type=int, default=2000, help="sample chunk of the memory test")
    ap.add_argument("--repeats", type=int, default=3)
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
    vcf = work / f"bench_{args.samples}x{args.variants}.vcf.gz"
    if not vcf.exists():
        log(f"writing {vcf}")
        write_vcf(vcf, args.samples, args.variants)
    rows = []
    mb = vcf.stat().st_size / 2**20
    log("extraction: bcftools query vs stratify")
    for rep in range(args.repeats):
        for name, fn in [
            ("bcftools query -f '[%GT]' (1 process)", lambda: bcftools_query(vcf)),
            ("stratify vcfscan, 1 process", lambda: extraction(vcf, 1)),
            ("stratify vcfscan, 2 processes (region shards)", lambda: extraction(vcf, 2)),
        ]:
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
    d = pd.DataFrame(rows)
    d.to_csv(ROOT / args.out, sep="\t", index=False)
    facts = machine()
    fmt = lambda la: " ".join(f"{x:.2f}" for x in la)  # noqa: E731
    facts["load (1/5/15 min)"] = f"{fmt(load0)} at start, {fmt(os.getloadavg())} at end"
    md = render(d, cmp, facts, args, mb)
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
