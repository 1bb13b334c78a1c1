"""The whole pipeline (snakemake, every stage through the report) on simulated cohorts of
1,000, 10,000 and 100,000 patients without genotypes: wall time and peak memory per run and
per stage. Run by hand, never in CI:

    uv run python bench/pipeline_scale.py --n 1000 10000 100000 --out bench/pipeline_scale.tsv

Each cohort size runs in a fresh Python subprocess (this script with ``--child``), which
starts ``snakemake --cores 2`` in a fresh scratch folder (``--workdir``/<n>, deleted first)
with a cohort config written there: the demo config's endpoint (HAMD-17 response at week 8)
and a ``simulate`` block (n patients, seed 7), no ``inputs.genotypes`` and no
``inputs.star_alleles``, so ``stratify simulate`` writes no genotype files and the genetic
features are absent. Every other setting is the default unless ``--scale-settings`` names a
cohort size whose settings (``SCALE_SETTINGS``: 39 permutations at 100,000 patients) are then
added; docs/performance.md says what that changed.

Measured per run:

* wall time of the snakemake command (``time.perf_counter``), from the simulation to the
  report;
* peak memory: ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` of the child after
  snakemake has exited, i.e. the peak resident set size of the largest single process
  (snakemake itself or one stage; stages that run side by side are not added up);
* per stage: the ``stratify`` command's own wall time and peak RSS, which every stage logs
  as its last line (``stage <name> done in <s>s (peak RSS <MiB> MiB)``; ``simulate`` and
  ``report`` likewise) in ``logs/<cohort>/<rule>.log``; the time does not include Python's
  start-up before ``stratify.cli.main`` runs (about 1 s);
* the largest steps inside the stages, from the same logs (model: inner searches, bootstrap
  intervals, permutation test; explain: SHAP values, interaction values), and what the run
  computed (AUC, permutation p and permutations, patients in the interaction subsample,
  whether the report embeds the per-patient view), so a table row can be checked for work
  that was skipped;
* the 1/5/15-minute load average at the start and end of each run.

Bytecode: this environment sets ``PYTHONDONTWRITEBYTECODE=1``, so without a compiled
``__pycache__`` every stage would compile numpy, pandas, scikit-learn and stratify from
source at start-up (about 5 s per stage on a loaded 2-core machine). The script compiles the
virtual environment and ``src/`` once (``compileall``) before measuring, as an ordinary
install does; ``--no-compile`` skips that.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from _tsv import write_tsv  # bench/ is on sys.path when a script runs

REPO = Path(__file__).resolve().parent.parent
SEED = 7
SECTION = "## Whole pipeline at 1k, 10k and 100k patients"

#: Settings added to the cohort config of a size named in --scale-settings (see docs/performance.md).
SCALE_SETTINGS: dict[int, dict] = {
    100_000: {"model": {"n_permutations": 39}},
}

#: Rules in the order they run.
RULES = [
    "simulate",
    "validate",
    "genotypes",
    "pgx",
    "clinical",
    "trd",
    "features",
    "subtype",
    "model",
    "heterogeneity",
    "explain",
    "report",
]

COLUMNS = [
    "n",
    "status",
    "wall_s",
    "peak_rss_mib",
    "stage_sum_s",
    "largest_stage",
    "settings",
    "auc",
    "auc_ci",
    "permutation_p",
    "n_permutations",
    "smallest_possible_p",
    "n_bootstrap",
    "search_patients",
    "interaction_patients",
    "patient_view",
    "report_html_mib",
    "subtypes",
    *[f"{r}_s" for r in RULES],
    *[f"{r}_mib" for r in RULES],
    "model_search_s",
    "model_bootstrap_s",
    "model_permutation_s",
    "explain_shap_s",
    "explain_interactions_s",
    "load_start",
    "load_end",
    "started",
]

DONE = re.compile(
    r"(?:stage \w+ done|simulated cohort written to \S+|report written to \S+) in "
    r"([0-9.]+)s \(peak RSS ([0-9.]+) MiB\)"
)


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return ""


def cohort_config(n: int, scale_settings: bool) -> dict:
    cohort = f"scale_{n}"
    base = f"results/{cohort}/cohort"
    cfg = {
        "cohort": cohort,
        "genome_build": "GRCh38",
        "seed": SEED,
        "simulate": {"n": n, "seed": SEED},
        "inputs": {t: f"{base}/{t}.tsv" for t in ("patients", "symptoms", "treatments", "biomarkers")},
        "endpoint": {"kind": "response", "instrument": "HAMD17", "week": 8},
    }
    if scale_settings:
        cfg.update(SCALE_SETTINGS.get(n, {}))
    return cfg


def _stage_lines(logs: Path) -> dict[str, tuple[float, float]]:
    out = {}
    for rule in RULES:
        f = logs / f"{rule}.log"
        if f.exists():
            m = DONE.findall(f.read_text(errors="replace"))
            if m:
                out[rule] = (float(m[-1][0]), float(m[-1][1]))
    return out


def _sum_seconds(pattern: str, text: str) -> float | None:
    vals = [float(x) for x in re.findall(pattern, text)]
    return round(sum(vals), 1) if vals else None


def _details(work: Path, cohort: str) -> dict:
    """What the run computed, and the largest steps inside the model and explain stages."""
    r, logs = work / "results" / cohort, work / "logs" / cohort
    d: dict = {}
    mlog = (logs / "model.log").read_text(errors="replace") if (logs / "model.log").exists() else ""
    d["model_search_s"] = _sum_seconds(r"candidates in ([0-9.]+)s", mlog)
    d["model_bootstrap_s"] = _sum_seconds(r"bootstrap \d+ resamples in ([0-9.]+)s", mlog)
    d["model_permutation_s"] = _sum_seconds(r"permutation p = \S+ \(\d+ permutations, ([0-9.]+)s\)", mlog)
    elog = (logs / "explain.log").read_text(errors="replace") if (logs / "explain.log").exists() else ""
    d["explain_shap_s"] = _sum_seconds(r"SHAP values: \d+ patients x \d+ features in ([0-9.]+) s", elog)
    m = re.findall(r"interaction values: (\d+)/\d+ patients done \(([0-9.]+) s\)", elog)
    d["explain_interactions_s"] = float(m[-1][1]) if m else None
    if (r / "model" / "metrics.json").exists():
        met = json.loads((r / "model" / "metrics.json").read_text())
        x = met["metrics"]["xgboost"]
        d["auc"], d["auc_ci"] = round(x["auc"], 4), "-".join(f"{v:.4f}" for v in x["auc_ci"])
        perm = x.get("permutation_test")
        if perm:
            d["permutation_p"], d["n_permutations"] = perm["p_value"], perm["n_permutations"]
            d["smallest_possible_p"] = round(1 / (perm["n_permutations"] + 1), 4)
        else:
            d["n_permutations"] = 0
        searched = {f.get("n_patients_searched") for f in met.get("outer_folds", [])}
        searched.add(met.get("search", {}).get("final", {}).get("n_patients_searched"))
        d["search_patients"] = "/".join(str(v) for v in sorted(s for s in searched if s is not None))
    cfg_path = r / "settings" / "model.yaml"
    if cfg_path.exists():
        import yaml

        d["n_bootstrap"] = yaml.safe_load(cfg_path.read_text())["model"]["n_bootstrap"]
    if (r / "explain" / "summary.json").exists():
        ex = json.loads((r / "explain" / "summary.json").read_text())
        d["interaction_patients"] = ex["interactions"]["n_patients_used"]
    if (r / "subtype" / "summary.json").exists():
        st = json.loads((r / "subtype" / "summary.json").read_text())
        d["subtypes"] = f"{st.get('n_clusters')} clusters, {'claimed' if st.get('claimed') else 'not claimed'}"
    html = r / "report" / "report.html"
    if html.exists():
        text = html.read_text(errors="replace")
        d["patient_view"] = "embedded" if "id='pv-data'" in text else "not embedded (note in report)"
        d["report_html_mib"] = round(html.stat().st_size / 2**20, 1)
    return d


def child(args) -> dict:
    n = args.child_n
    work = Path(args.workdir) / str(n)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    cfg = cohort_config(n, n in args.scale_settings)
    import yaml

    cfg_path = work / f"scale_{n}.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(work),
        "--configfile",
        str(cfg_path),
        "--cores",
        str(args.cores),
    ]
    row = {
        "n": n,
        "load_start": _loadavg(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "settings": json.dumps({k: v for k, v in cfg.items() if k in ("model", "subtype", "explain")}) or "{}",
    }
    t = time.perf_counter()
    with open(work / "snakemake.out", "w") as out:
        try:
            rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, timeout=args.timeout).returncode
            row["status"] = "ok" if rc == 0 else f"failed (exit {rc})"
        except subprocess.TimeoutExpired:
            row["status"] = f"stopped after {args.timeout} s"
    row["wall_s"] = round(time.perf_counter() - t, 1)
    row["load_end"] = _loadavg()
    row["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    stages = _stage_lines(work / "logs" / cfg["cohort"])
    for rule, (sec, mib) in stages.items():
        row[f"{rule}_s"], row[f"{rule}_mib"] = sec, round(mib)
    if stages:
        row["stage_sum_s"] = round(sum(s for s, _ in stages.values()), 1)
        big = max(stages, key=lambda k: stages[k][0])
        row["largest_stage"] = f"{big} {stages[big][0]:.0f} s"
    row.update(_details(work, cfg["cohort"]))
    return row


def run_one(n: int, args) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--child-n",
        str(n),
        "--workdir",
        args.workdir,
        "--cores",
        str(args.cores),
        "--timeout",
        str(args.timeout),
        "--scale-settings",
        *[str(s) for s in args.scale_settings],
    ]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if out.returncode != 0:
        return {"n": n, "status": f"bench child failed (exit {out.returncode})"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _t(v) -> str:
    if v is None:
        return ""
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def _mmss(v: float) -> str:
    return f"{int(v // 60)}:{int(round(v % 60)):02d}"


def markdown_table(rows: list[dict]) -> str:
    head = ["n", "status", "wall (m:ss)", "peak RSS MiB (largest process)", *RULES]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for r in rows:
        cells = [
            f"{r['n']:,}",
            r.get("status", ""),
            _mmss(r["wall_s"]) if r.get("wall_s") else "",
            str(r.get("peak_rss_mib", "")),
        ]
        for rule in RULES:
            s, mib = r.get(f"{rule}_s"), r.get(f"{rule}_mib")
            cells.append("" if s is None else f"{_t(s)} s / {mib} MiB")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_inside(rows: list[dict]) -> str:
    head = [
        "n",
        "model: searches s",
        "bootstrap s",
        "permutation test s",
        "explain: SHAP s",
        "interactions s",
        "AUC (95% CI)",
        "permutation p (permutations; smallest possible p)",
        "search patients",
        "interaction patients",
        "per-patient view",
        "subtypes",
    ]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * 5 + "---|" * (len(head) - 6)]
    for r in rows:
        perm = (
            f"{r['permutation_p']:.3g} ({r['n_permutations']}; {r['smallest_possible_p']:.3g})"
            if r.get("permutation_p") is not None
            else "not run"
        )
        ci = r.get("auc_ci", "")
        cells = [
            f"{r['n']:,}",
            _t(r.get("model_search_s")),
            _t(r.get("model_bootstrap_s")),
            _t(r.get("model_permutation_s")),
            _t(r.get("explain_shap_s")),
            _t(r.get("explain_interactions_s")),
            f"{r['auc']:.3f} ({ci.replace('-', '-')})" if r.get("auc") is not None else "",
            perm,
            str(r.get("search_patients", "")),
            str(r.get("interaction_patients", "")),
            str(r.get("patient_view", "")),
            str(r.get("subtypes", "")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> dict[str, str]:
    from importlib import metadata

    mem = cpu = ""
    try:
        kb = int(
            next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")).split()[1]
        )
        mem = f"{kb / 1024**2:.1f} GiB RAM (MemTotal {kb:,} kB)"
        cpu = next(
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        )
    except (OSError, StopIteration, ValueError):
        pass
    vers = [f"Python {platform.python_version()}"]
    for p in (
        "stratify",
        "snakemake",
        "numpy",
        "pandas",
        "scikit-learn",
        "xgboost",
        "xgboost-cpu",
        "shap",
        "scipy",
        "pyarrow",
        "matplotlib",
    ):
        try:
            vers.append(f"{p} {metadata.version(p)}")
        except metadata.PackageNotFoundError:
            continue
    return {"machine": f"{os.cpu_count()} cores, {cpu}, {mem}; {platform.platform()}", "versions": ", ".join(vers)}


def replace_section(doc: Path, text: str) -> None:
    """Put ``text`` (a section starting with SECTION) at the end of doc, replacing an earlier copy."""
    old = doc.read_text()
    if SECTION in old:
        start = old.index(SECTION)
        nxt = old.find("\n## ", start + len(SECTION))
        old = old[:start].rstrip("\n") + ("\n\n" + old[nxt + 1 :] if nxt != -1 else "")
    doc.write_text(old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument(
        "--scale-settings",
        type=int,
        nargs="*",
        default=[],
        help="cohort sizes that get the SCALE_SETTINGS of their size (default: none, every size "
        "runs with the defaults)",
    )
    ap.add_argument(
        "--workdir",
        default="/tmp/stratify-pipeline-scale",
        help="scratch folder; <workdir>/<n> is deleted and rebuilt per run",
    )
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per run before snakemake is stopped")
    ap.add_argument("--out", default="bench/pipeline_scale.tsv")
    ap.add_argument("--doc", default="docs/performance.md", help="markdown file whose section is replaced")
    ap.add_argument("--no-doc", action="store_true", help="print the section, leave the doc alone")
    ap.add_argument("--no-compile", action="store_true", help="do not compile bytecode before measuring")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child-n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        print(json.dumps(child(args)), flush=True)
        return

    if not args.no_compile:
        for d in [REPO / "src", *Path(sys.prefix).glob("lib/python3*/site-packages")]:
            compileall.compile_dir(str(d), quiet=1, workers=2)
    facts = machine()
    print(f"machine: {facts['machine']}\nversions: {facts['versions']}", file=sys.stderr)
    load0, t0 = _loadavg(), time.perf_counter()
    print(f"load average at start: {load0}", file=sys.stderr, flush=True)
    rows: list[dict] = []
    for n in args.n:
        print(f"n={n:,} ...", file=sys.stderr, flush=True)
        row = run_one(n, args)
        rows.append(row)
        write_tsv(rows, REPO / args.out, COLUMNS, lambda v, _col: _fmt(v))
        print(
            f"n={n:,}: {row.get('status')}, wall {row.get('wall_s')} s, peak RSS {row.get('peak_rss_mib')} MiB, "
            f"largest stage {row.get('largest_stage')}; load {row.get('load_start')} -> {row.get('load_end')}",
            file=sys.stderr,
            flush=True,
        )
    load1 = _loadavg()
    print(f"load average at end: {load1}; all runs {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    section = doc_section(rows, facts, load0, load1, args)
    if args.no_doc:
        print(section)
    else:
        replace_section(REPO / args.doc, section)
        print(f"wrote {args.out} and the section '{SECTION[3:]}' of {args.doc}", file=sys.stderr)


def doc_section(rows, facts, load0, load1, args) -> str:
    """The generated part of the section: facts and tables (the prose around them is in DOC_TEXT)."""
    loads = "; ".join(f"{r['n']:,}: {r.get('load_start')} at start, {r.get('load_end')} at end" for r in rows)
    settings = (
        "; ".join(
            f"{n:,}: `{json.dumps(SCALE_SETTINGS[n])}`"
            for n in args.scale_settings
            if n in SCALE_SETTINGS and n in args.n
        )
        or "none"
    )
    big = [r for r in rows if r["n"] == 100_000]
    if not big:
        acceptance = "not measured in this run"
    elif big[0].get("status") == "ok":
        w = big[0]["wall_s"]
        acceptance = f"{'holds' if w < 900 else 'does not hold'} ({_mmss(w)} min:s)"
    else:
        acceptance = f"does not hold (run {big[0].get('status')})"
    prose_path = Path(__file__).with_name("pipeline_scale_notes.md")
    return DOC_TEXT.format(
        section=SECTION,
        date=date.today().isoformat(),
        machine=facts["machine"],
        versions=facts["versions"],
        load0=load0,
        load1=load1,
        loads=loads,
        settings=settings,
        table=markdown_table(rows),
        inside=markdown_inside(rows),
        n=" ".join(str(n) for n in args.n),
        scale=(" --scale-settings " + " ".join(str(n) for n in args.scale_settings)) if args.scale_settings else "",
        acceptance=acceptance,
        sizes=", ".join(f"{n:,}" for n in args.n),
        prose=prose_path.read_text().strip() if prose_path.exists() else "",
    )


DOC_TEXT = """{section}

Measured with `bench/pipeline_scale.py`: the whole workflow (`snakemake --cores 2`, every rule from `simulate` to `report`) on simulated cohorts of {sizes} patients without genotypes, each size in a fresh process and a fresh scratch folder.

| | |
|---|---|
| date | {date} |
| machine | {machine} |
| versions | {versions} |
| machine load (1/5/15-min load average) | whole bench: {load0} at start, {load1} at end. Per run: {loads}. Other work shared the 2 cores (see below), so times carry noise; each run's load is also in the TSV |
| threads | as the pipeline sets them: one thread per XGBoost fit, the model rule's 2 threads fitting permutation-test models side by side (`stratify model fit --threads 2`), BLAS limited to 1 thread in the clustering and the bootstrap loops |
| settings beyond the defaults | {settings} |

**Cohorts.** A config per size (`scale_<n>.yaml`, written by the script): the demo's endpoint (HAMD-17 response at week 8), `seed: 7`, `simulate: {{n: <n>, seed: 7}}`, the four tables as inputs, no `inputs.genotypes` and no `inputs.star_alleles`. The `simulate` rule then passes `--no-genotypes`, so no VCF or Cyrius file is written; the genotypes and pgx stages run and record that there is no genetic data, and the genetic features are absent from the model (13 model features).

**How it is measured.** Wall time is the snakemake command from start to exit (`time.perf_counter`). Peak memory is `ru_maxrss` of `RUSAGE_CHILDREN` read in the per-size child process after snakemake exits: the peak resident set size of the largest single process (snakemake or one stage); two stages running side by side are not added up. Per stage, every `stratify` command logs its own wall time and peak RSS (`ru_maxrss` of `RUSAGE_SELF`) as its last line in `logs/<cohort>/<rule>.log`; that time starts once Python has started and imported `stratify.cli` (about 1 s not counted). The inner steps come from the same logs. Bytecode of the virtual environment and `src/` was compiled once before the runs (`compileall`): this environment sets `PYTHONDONTWRITEBYTECODE=1`, which would otherwise make each of the 12 stage processes compile numpy, pandas, scikit-learn and stratify from source (5-8 s each under load).

### Results (`bench/pipeline_scale.tsv`)

Wall time and peak memory of the whole run, and per stage (the stage's own seconds / its peak RSS):

{table}

Inside the stages, and what the run computed (so that no row hides skipped work):

{inside}

**Acceptance (issue 7): the 100,000-patient run without a VCF finishes in under 15 minutes on this 2-core machine: {acceptance}.**

{prose}

### Reproduce

```
uv run python bench/pipeline_scale.py --n {n}{scale} --out bench/pipeline_scale.tsv
```

`--workdir` (default `/tmp/stratify-pipeline-scale`; `<workdir>/<n>` is deleted and rebuilt per run, and holds the cohort, results, logs and `snakemake.out`), `--cores` (2), `--timeout` (seconds per run, 3600), `--scale-settings N ...` (sizes whose config gets `SCALE_SETTINGS`: 39 permutations at 100,000; default none), `--no-compile` and `--no-doc` (print this section instead of replacing it) are the other options. The script replaces only this section of `docs/performance.md`.
"""

if __name__ == "__main__":
    main()
