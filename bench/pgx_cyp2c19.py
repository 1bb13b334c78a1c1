"""Benchmark CYP2C19 diplotype calling from a VCF: stratify against PyPGx 0.27.

Run by hand (never in CI); it takes about 5 minutes, almost all of it PyPGx:

    uv run python bench/pgx_cyp2c19.py

What it does:

1. Calls the 3,202 samples of the 1000 Genomes 30x panel
   (``pypgx-bundle/1kgp/GRCh38/CYP2C19.vcf.gz``) with stratify: read + call + phenotype,
   each step timed by wall clock, best of ``--repeats`` runs after one warm-up; peak RSS;
   status counts and the 10 most frequent diplotypes.
2. Runs PyPGx 0.27 (``pypgx run-ngs-pipeline CYP2C19 OUT --variants VCF --assembly
   GRCh38``) and stratify on the 88 GeT-RM samples (``getrm88.CYP2C19.GRCh38.unphased.
   vcf.gz``): per-sample times, speed ratio and diplotype concordance (``*38`` = ``*1``; a
   stratify "ambiguous" call is concordant when PyPGx's diplotype is among its candidates).
   PyPGx runs from its own virtualenv (``--pypgx-venv``, default
   ``~/.cache/stratify-bench/pypgx-venv``), created with ``uv venv`` + ``uv pip install
   "pypgx==0.27.*" "pandas<3"`` when missing. PyPGx phases the unphased VCF with Beagle
   (a Java jar shipped inside the pypgx package; needs ``java`` on PATH) against the
   reference panel ``$PYPGX_BUNDLE/1kgp/GRCh38/CYP2C19.vcf.gz``. CYP2C19 has no SV model in
   PyPGx, so no other bundle file (the ``cnv/`` CNV-caller models) is read.
3. Writes the section "CYP2C19 calling from VCF" of ``docs/performance.md``.

If PyPGx cannot be installed or fails, the error is printed and written to the doc instead
of numbers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata as md
import io
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pandas as pd

from stratify.pgx import add_phenotypes, call_diplotypes, load_definitions, read_vcf_genotypes, star_sort_key

REPO = Path(__file__).resolve().parents[1]
# the shared data folder beside the checkout (../shared/data/pgx), as in CI
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pgx"
BUNDLE = DATA / "pypgx-bundle"
PANEL_VCF = BUNDLE / "1kgp" / "GRCh38" / "CYP2C19.vcf.gz"
GETRM_VCF = DATA / "getrm" / "getrm88.CYP2C19.GRCh38.unphased.vcf.gz"
DEFAULT_VENV = Path.home() / ".cache" / "stratify-bench" / "pypgx-venv"
SECTION = "CYP2C19 calling from VCF"


# --------------------------------------------------------------------------- stratify


def stratify_once(vcf: Path, defs) -> tuple[dict[str, float], pd.DataFrame]:
    t = {}
    t0 = time.perf_counter()
    g = read_vcf_genotypes(vcf, defs)
    t1 = time.perf_counter()
    calls = call_diplotypes(g, defs)
    t2 = time.perf_counter()
    calls = add_phenotypes(calls)
    t3 = time.perf_counter()
    t["read"], t["call"], t["phenotype"], t["total"] = t1 - t0, t2 - t1, t3 - t2, t3 - t0
    return t, calls


def bench_stratify(vcf: Path, repeats: int) -> tuple[dict[str, float], pd.DataFrame]:
    """Best-of-``repeats`` wall-clock seconds per step (and best total), after one warm-up."""
    defs = load_definitions("CYP2C19")
    stratify_once(vcf, defs)  # warm-up (imports, file cache)
    runs = []
    calls = None
    for _ in range(repeats):
        t, calls = stratify_once(vcf, defs)
        runs.append(t)
    best = {k: min(r[k] for r in runs) for k in runs[0]}
    return best, calls


def cold_stratify(vcf: Path) -> float:
    """Wall seconds of a fresh Python process that imports stratify and calls ``vcf``."""
    code = (
        "from stratify.pgx import *;d=load_definitions('CYP2C19');"
        f"add_phenotypes(call_diplotypes(read_vcf_genotypes({str(vcf)!r}, d), d))"
    )
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t0


def peak_rss_mib(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def summarise(calls: pd.DataFrame) -> tuple[dict[str, int], list[tuple[str, int]]]:
    status = {s: int((calls["status"] == s).sum()) for s in ("called", "ambiguous", "no-call")}
    label = calls["diplotype"].where(calls["status"] == "called", calls["status"] + ": " + calls["diplotype"])
    label = label.where(calls["status"] != "ambiguous", label + " | " + calls["alternatives"])
    label = label.where(calls["status"] != "no-call", "no-call")
    top = [(k, int(v)) for k, v in label.value_counts().head(10).items()]
    return status, top


# --------------------------------------------------------------------------- PyPGx


class PyPGxError(RuntimeError):
    pass


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def ensure_pypgx(venv: Path) -> Path:
    exe = venv / "bin" / "pypgx"
    if exe.is_file():
        return exe
    uv = shutil.which("uv")
    if uv is None:
        raise PyPGxError("`uv` is not on PATH; cannot create the PyPGx virtualenv")
    venv.parent.mkdir(parents=True, exist_ok=True)
    print(f"creating PyPGx virtualenv in {venv} ...", flush=True)
    for cmd in (
        [uv, "venv", "-p", "3.11", str(venv)],
        [uv, "pip", "install", "-p", str(venv / "bin" / "python"), "pypgx==0.27.*", "pandas<3"],
    ):
        r = _run(cmd)
        if r.returncode:
            raise PyPGxError(f"`{' '.join(cmd)}` failed (exit {r.returncode}):\n{(r.stderr or r.stdout)[-2000:]}")
    return exe


def run_pypgx(exe: Path, vcf: Path, outdir: Path, plots: bool) -> tuple[float, pd.DataFrame, float]:
    if shutil.which("java") is None:
        raise PyPGxError("`java` is not on PATH; PyPGx phases with Beagle (a Java jar)")
    if not (BUNDLE / "1kgp" / "GRCh38" / "CYP2C19.vcf.gz").is_file():
        raise PyPGxError(f"PyPGx reference panel missing: {BUNDLE}/1kgp/GRCh38/CYP2C19.vcf.gz")
    cmd = [str(exe), "run-ngs-pipeline", "CYP2C19", str(outdir), "--variants", str(vcf), "--assembly", "GRCh38"]
    if not plots:
        cmd += ["--do-not-plot-allele-fraction", "--do-not-plot-copy-number"]
    env = {**os.environ, "PYPGX_BUNDLE": str(BUNDLE)}
    print("running:", "PYPGX_BUNDLE=" + str(BUNDLE), " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    r = _run(cmd, env=env)
    wall = time.perf_counter() - t0
    if r.returncode:
        raise PyPGxError(f"`pypgx run-ngs-pipeline` failed (exit {r.returncode}):\n{(r.stderr or r.stdout)[-3000:]}")
    results = outdir / "results.zip"
    if not results.is_file():
        raise PyPGxError(f"PyPGx finished but wrote no {results}")
    with zipfile.ZipFile(results) as z:
        name = next(n for n in z.namelist() if n.endswith("/data.tsv"))
        data = pd.read_csv(io.BytesIO(z.read(name)), sep="\t", index_col=0, dtype=str, keep_default_na=False)
    data.index.name = "sample"
    return wall, data.reset_index(), peak_rss_mib(resource.RUSAGE_CHILDREN)


def pypgx_version(exe: Path) -> str:
    r = _run([str(exe), "--version"])
    return (r.stdout or r.stderr).strip().removeprefix("pypgx ").strip() or "?"


# --------------------------------------------------------------------------- concordance


def norm(diplotype: str) -> str | None:
    """``*38`` -> ``*1``, alleles sorted; None if not a two-allele star diplotype."""
    parts = diplotype.strip().split("/")
    if len(parts) != 2 or not all(p.startswith("*") for p in parts):
        return None
    parts = ["*1" if p == "*38" else p for p in parts]
    return "/".join(sorted(parts, key=star_sort_key))


def concordance(strat: pd.DataFrame, px: pd.DataFrame) -> dict:
    m = strat.merge(px[["sample", "Genotype", "Phenotype"]], on="sample", how="inner")
    rows = []
    for r in m.itertuples(index=False):
        cands = [r.diplotype] + [a for a in str(r.alternatives).split(";") if a]
        cands_n = {norm(c) for c in cands if c}
        p = norm(r.Genotype)
        ok = p is not None and r.status != "no-call" and p in cands_n
        exact = r.status == "called" and sorted(r.diplotype.split("/")) == sorted(r.Genotype.split("/"))
        unique_n = len(cands_n - {None})
        rows.append(
            {
                "sample": r.sample,
                "stratify": r.diplotype if r.status != "ambiguous" else ";".join(cands),
                "status": r.status,
                "pypgx": r.Genotype,
                "concordant": ok,
                "exact": exact,
                # an ambiguous call whose candidates all collapse to one diplotype once *38 = *1
                "ambiguous_only_1_38": r.status == "ambiguous" and unique_n == 1,
                "pheno_stratify": r.phenotype,
                "pheno_pypgx": r.Phenotype,
            }
        )
    t = pd.DataFrame(rows)
    called = t[t.status == "called"]
    amb = t[t.status == "ambiguous"]
    return {
        "n": len(t),
        "concordant": int(t.concordant.sum()),
        "exact": int(t.exact.sum()),
        "called_n": len(called),
        "called_concordant": int(called.concordant.sum()),
        "ambiguous_n": len(amb),
        "ambiguous_concordant": int(amb.concordant.sum()),
        "ambiguous_only_1_38": int(amb.ambiguous_only_1_38.sum()),
        "nocall_n": int((t.status == "no-call").sum()),
        "pheno_concordant": int((t.pheno_stratify == t.pheno_pypgx).sum()),
        "discordant": t[~t.concordant][["sample", "status", "stratify", "pypgx", "pheno_stratify", "pheno_pypgx"]],
        "missing_in_pypgx": sorted(set(strat["sample"]) - set(px["sample"])),
    }


def missing_note(calls: pd.DataFrame) -> str:
    n_miss = calls["missing_positions"].map(lambda x: len([y for y in str(x).split(";") if y]))
    amb = calls[calls.status == "ambiguous"]
    txt = (
        f"Missing definition positions per sample in this VCF: median {int(n_miss.median())} of 35. The file was "
        "made with `bcftools view -c 1` (PROVENANCE.md), so sites where none of the 88 samples carries an ALT "
        "are absent; stratify treats an absent position as missing (never as reference, as PharmCAT does), "
        "while PyPGx (which only phases the markers present, no imputation) effectively reads an absent site as reference."
    )
    if len(amb):
        ex = ", ".join(f"{x.sample} {x.diplotype} or {x.alternatives}" for x in amb.head(5).itertuples())
        txt += f" This is why stratify leaves {len(amb)} call(s) ambiguous ({ex})."
    return txt


# --------------------------------------------------------------------------- environment


def machine() -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        ram = f"{kb / 1024**2:.1f} GiB"
    except (OSError, AttributeError):
        pass
    return {
        "nproc": str(os.cpu_count() if not hasattr(os, "sched_getaffinity") else len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "ram": ram,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def java_version() -> str:
    try:
        r = _run(["java", "-version"])
    except FileNotFoundError:
        return "not installed"
    return (r.stderr or r.stdout).splitlines()[0].strip()


def version(pkg: str) -> str:
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return "?"


# --------------------------------------------------------------------------- report


def write_doc(path: Path, text: str) -> None:
    """Replace (or append) the section ``## SECTION`` of ``path``."""
    body = f"## {SECTION}\n\n{text.rstrip()}\n"
    if path.is_file():
        old = path.read_text()
        pat = re.compile(rf"^## {re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
        new = pat.sub(lambda _: body + "\n", old, count=1) if pat.search(old) else old.rstrip() + "\n\n" + body
        new = new.rstrip() + "\n"
    else:
        new = "# Performance\n\nMeasured by hand with the scripts in `bench/`; never run in CI.\n\n" + body
    path.write_text(new)


def fmt(x: float, nd: int = 2) -> str:
    return f"{x:,.{nd}f}"


def render(r: dict) -> str:
    mc, v = r["machine"], r["versions"]
    p = r["panel"]
    L = []
    L.append(
        "Measured with `bench/pgx_cyp2c19.py`. Wall clock; stratify times are the best of "
        f"{r['repeats']} in-process runs after one warm-up, per step (read = "
        "`read_vcf_genotypes` via cyvcf2, call = `call_diplotypes`, phenotype = `add_phenotypes`); "
        "the total is the best whole run. PyPGx is run once as its CLI "
        "(`pypgx run-ngs-pipeline CYP2C19 OUT --variants VCF --assembly GRCh38"
        + ("" if r["pypgx_plots"] else " --do-not-plot-allele-fraction --do-not-plot-copy-number")
        + "`), which includes its Python start-up and Beagle phasing (the input VCF is unphased).\n"
    )
    L.append("| | |\n|---|---|")
    L.append(f"| date | {r['date']} |")
    L.append(f"| machine | {mc['nproc']} cores, {mc['cpu']}, {mc['ram']} RAM; {mc['os']} |")
    L.append(
        f"| versions | stratify {v['stratify']}, cyvcf2 {v['cyvcf2']}, pandas {v['pandas']}, numpy {v['numpy']}, "
        f"Python {mc['python']}; pypgx {v['pypgx']}; java: {v['java']} |"
    )
    L.append("")
    L.append(f"### 1000 Genomes 30x panel ({p['n']:,} samples, `{PANEL_VCF.relative_to(DATA)}`)\n")
    L.append(f"| step | seconds (best of {r['repeats']}) |\n|---|---:|")
    for k in ("read", "call", "phenotype", "total"):
        L.append(f"| {k} | {fmt(p['t'][k], 3)} |")
    L.append(f"| **samples / second** | **{fmt(p['n'] / p['t']['total'], 0)}** |")
    L.append(f"| per sample | {fmt(p['t']['total'] / p['n'] * 1e3, 3)} ms |")
    L.append(f"| peak RSS (benchmark process) | {fmt(p['rss'], 0)} MiB |")
    L.append("")
    s = p["status"]
    L.append(f"Statuses: called {s['called']:,}, ambiguous {s['ambiguous']:,}, no-call {s['no-call']:,}.\n")
    L.append("| diplotype (top 10) | samples |\n|---|---:|")
    for k, n in p["top"]:
        L.append(f"| {k.replace('|', '&#124;')} | {n:,} |")
    L.append("")

    g = r["getrm"]
    L.append(f"### Side by side with PyPGx on the 88 GeT-RM samples (`{GETRM_VCF.relative_to(DATA)}`)\n")
    if r.get("pypgx_error"):
        L.append("**PyPGx could not run here**, so there are no PyPGx numbers. The error:\n")
        L.append("```\n" + r["pypgx_error"].strip() + "\n```\n")
        L.append(
            f"stratify on the same file: {fmt(g['t']['total'], 3)} s for {g['n']} samples "
            f"({fmt(g['t']['total'] / g['n'] * 1e3, 3)} ms per sample).\n"
        )
    else:
        c = r["conc"]
        px = r["pypgx"]
        st_ps = g["t"]["total"] / g["n"]
        cold_ps = g["cold"] / g["n"]
        px_ps = px["wall"] / g["n"]
        L.append("| | stratify | PyPGx |\n|---|---:|---:|")
        L.append(
            f"| wall seconds, 88 samples | {fmt(g['t']['total'], 3)} (in process) / {fmt(g['cold'], 2)} (fresh process) | {fmt(px['wall'], 1)} |"
        )
        L.append(f"| per sample | {fmt(st_ps * 1e3, 3)} ms / {fmt(cold_ps * 1e3, 1)} ms | {fmt(px_ps, 2)} s |")
        L.append(
            f"| speed ratio (PyPGx / stratify, per sample) | **{fmt(px_ps / st_ps, 0)}x** in process, **{fmt(px_ps / cold_ps, 0)}x** fresh process | 1x |"
        )
        L.append(
            f"| peak RSS | {fmt(p['rss'], 0)} MiB (benchmark process) | {fmt(px['rss'], 0)} MiB (largest child: Beagle JVM or pypgx) |"
        )
        L.append("")
        L.append(
            '"Fresh process" is a new Python process that imports stratify and calls the file; its time is '
            f"almost all a fixed start-up cost (importing pandas, numpy and cyvcf2: {fmt(r['import_s'], 2)} s "
            "here), not per-sample work. PyPGx's time likewise includes its own start-up, but is dominated by "
            "Beagle phasing of the unphased VCF against the 1KGP panel (which itself contains these 88 samples).\n"
        )
        L.append(
            f"Diplotype concordance (`*38` counted as `*1`): **{c['concordant']}/{c['n']}** "
            f"({100 * c['concordant'] / max(c['n'], 1):.1f}%). stratify called {c['called_n']} "
            f"(concordant {c['called_concordant']}), ambiguous {c['ambiguous_n']} "
            f"(PyPGx's diplotype among the candidates for {c['ambiguous_concordant']}; "
            f"{c['ambiguous_only_1_38']} of them differ only by `*1` vs `*38`), no-call {c['nocall_n']}. "
            f"Identical diplotype strings (no `*38` = `*1` folding, called only): {c['exact']}/{c['n']}. "
            f"Phenotype agreement: {c['pheno_concordant']}/{c['n']}.\n"
        )
        if c["missing_in_pypgx"]:
            L.append(f"Samples absent from PyPGx's results: {', '.join(c['missing_in_pypgx'])}.\n")
        d = c["discordant"]
        if len(d):
            L.append("Discordant samples:\n")
            L.append("| sample | stratify (status) | PyPGx | phenotype stratify / PyPGx |\n|---|---|---|---|")
            for x in d.itertuples(index=False):
                L.append(
                    f"| {x.sample} | {x.stratify} ({x.status}) | {x.pypgx} | {x.pheno_stratify} / {x.pheno_pypgx} |"
                )
            L.append("")
        if r.get("notes"):
            L.append(r["notes"].strip() + "\n")

    L.append("### Acceptance\n")
    L.append("| criterion | measured | holds |\n|---|---|---|")
    ok1 = p["t"]["total"] < 10
    note_cores = "" if mc["nproc"] == "2" else f" (this machine has {mc['nproc']} cores, not 2)"
    L.append(
        f"| 3,202-sample panel in < 10 s on 2 cores | {fmt(p['t']['total'], 2)} s on {mc['nproc']} cores{note_cores} | {'yes' if ok1 else 'no'} |"
    )
    if r.get("pypgx_error"):
        L.append("| per sample >= 100x faster than PyPGx | PyPGx did not run | not measured |")
        L.append("| concordance reported | PyPGx did not run | no |")
    else:
        ratio = (r["pypgx"]["wall"] / g["n"]) / (g["t"]["total"] / g["n"])
        ratio_cold = (r["pypgx"]["wall"] / g["n"]) / (g["cold"] / g["n"])
        L.append(
            f"| per sample >= 100x faster than PyPGx | {fmt(ratio, 0)}x in process, {fmt(ratio_cold, 0)}x fresh process | "
            f"{'yes' if min(ratio, ratio_cold) >= 100 else ('in process only' if ratio >= 100 else 'no')} |"
        )
        L.append(f"| concordance reported | {r['conc']['concordant']}/{r['conc']['n']} | yes |")
    L.append("")
    L.append("### Reproduce\n")
    L.append(
        "```\nuv run python bench/pgx_cyp2c19.py\n```\n\n"
        "Needs the shared test data in `../shared/data/pgx` (see its `PROVENANCE.md`), `java` (17 used "
        "here) and network access the first time: PyPGx 0.27 is installed into its own virtualenv "
        '(`~/.cache/stratify-bench/pypgx-venv`, `uv venv` + `uv pip install "pypgx==0.27.*" "pandas<3"`). '
        "PyPGx reads `PYPGX_BUNDLE`, set to `../shared/data/pgx/pypgx-bundle`; for CYP2C19 it only "
        "needs `1kgp/GRCh38/CYP2C19.vcf.gz` (the Beagle phasing panel); the bundle's `cnv/` CNV-caller "
        "models are only for genes with SVs (CYP2D6 etc.). `--skip-pypgx` runs the stratify part only "
        "and does not touch this section's PyPGx numbers; `--no-doc` leaves the doc alone."
    )
    return "\n".join(L)


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--panel", type=Path, default=PANEL_VCF)
    ap.add_argument("--getrm", type=Path, default=GETRM_VCF)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pypgx-venv", type=Path, default=DEFAULT_VENV)
    ap.add_argument("--pypgx-plots", action="store_true", help="let PyPGx draw its allele-fraction plots (slower)")
    ap.add_argument("--pypgx-out", type=Path, help="keep PyPGx's output here (default: a temporary folder)")
    ap.add_argument("--skip-pypgx", action="store_true", help="stratify only; implies --no-doc")
    ap.add_argument("--doc", type=Path, default=REPO / "docs" / "performance.md")
    ap.add_argument("--no-doc", action="store_true")
    a = ap.parse_args(argv)

    r: dict = {"repeats": a.repeats, "pypgx_plots": a.pypgx_plots}
    r["date"] = dt.date.today().isoformat()
    r["machine"] = machine()
    r["versions"] = {
        "stratify": version("stratify"),
        "cyvcf2": version("cyvcf2"),
        "pandas": version("pandas"),
        "numpy": version("numpy"),
        "java": java_version(),
        "pypgx": "not run",
    }
    mc = r["machine"]
    print(f"machine: {mc['nproc']} cores, {mc['cpu']}, {mc['ram']}")

    # 1. the 3,202-sample panel
    t, calls = bench_stratify(a.panel, a.repeats)
    status, top = summarise(calls)
    r["panel"] = {"n": len(calls), "t": t, "rss": peak_rss_mib(), "status": status, "top": top}
    print(f"\n== stratify, {a.panel.name}: {len(calls):,} samples (best of {a.repeats})")
    for k, x in t.items():
        print(f"  {k:<10}{x:8.3f} s")
    print(f"  {len(calls) / t['total']:,.0f} samples/s; peak RSS {r['panel']['rss']:.0f} MiB")
    print(f"  statuses: {status}")
    print("  top 10 diplotypes:")
    for k, n in top:
        print(f"    {n:6,}  {k}")

    # 2. GeT-RM 88, stratify then PyPGx
    tg, gcalls = bench_stratify(a.getrm, a.repeats)
    r["getrm"] = {"n": len(gcalls), "t": tg, "cold": cold_stratify(a.getrm)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import stratify.pgx, pandas, numpy, cyvcf2"], check=True)
    r["import_s"] = time.perf_counter() - t0
    print(
        f"\n== stratify, {a.getrm.name}: {len(gcalls)} samples: {tg['total']:.3f} s in process "
        f"({tg['total'] / len(gcalls) * 1e3:.3f} ms/sample), {r['getrm']['cold']:.2f} s in a fresh process"
    )

    if a.skip_pypgx:
        print("\n--skip-pypgx: PyPGx not run; doc not written")
        return 0
    try:
        exe = ensure_pypgx(a.pypgx_venv)
        r["versions"]["pypgx"] = pypgx_version(exe)
        with tempfile.TemporaryDirectory(prefix="pypgx-bench-") as tmp:
            out = a.pypgx_out or Path(tmp) / "CYP2C19-pipeline"
            if out.exists():
                shutil.rmtree(out)
            wall, px, rss = run_pypgx(exe, a.getrm, out, a.pypgx_plots)
        r["pypgx"] = {"wall": wall, "rss": rss, "n": len(px)}
        r["conc"] = concordance(gcalls, px)
        r["notes"] = missing_note(gcalls)
    except PyPGxError as exc:
        r["pypgx_error"] = str(exc)
        print(f"\nPyPGx could not run:\n{exc}", file=sys.stderr)

    if "pypgx" in r:
        c, n = r["conc"], r["getrm"]["n"]
        px_ps = r["pypgx"]["wall"] / n
        st_ps = tg["total"] / n
        print(f"\n== PyPGx {r['versions']['pypgx']}: {r['pypgx']['wall']:.1f} s for {n} samples ({px_ps:.2f} s/sample)")
        print(
            f"  speed ratio per sample: {px_ps / st_ps:,.0f}x (stratify in process), "
            f"{px_ps / (r['getrm']['cold'] / n):,.0f}x (stratify fresh process)"
        )
        print(
            f"  concordance: {c['concordant']}/{c['n']}  (called {c['called_concordant']}/{c['called_n']}, "
            f"ambiguous {c['ambiguous_concordant']}/{c['ambiguous_n']}, no-call {c['nocall_n']}); "
            f"phenotype {c['pheno_concordant']}/{c['n']}"
        )
        if len(c["discordant"]):
            print("  discordant:")
            print(c["discordant"].to_string(index=False))

    if not a.no_doc:
        write_doc(a.doc, render(r))
        print(f"\nwrote section '{SECTION}' of {a.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
