"""Run time of the consortium demo on this machine: `snakemake --cores 2 --configfile
cohorts/consortium_demo.yaml` from nothing (three cohorts simulated, every stage of each, then the
consortium stage), in a fresh scratch folder, with the wall time and peak memory of the whole run
and each rule's own time and peak memory from its log (every `stratify` command logs them as its
last line). Run by hand; never in CI:

    uv run python bench/consortium_demo.py --out bench/consortium_demo.tsv

The demo's cohort configs put their simulated data in results/<cohort>/cohort/ beside the
configs' folder, so the script copies cohorts/ into the scratch folder first (as
tests/test_workflow.py does) and nothing is written into the repository. Writes one row per
rule (and one for the whole run) to --out, and prints the markdown table of docs/performance.md.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _tsv import write_tsv  # bench/ is on sys.path when a script runs
from pipeline_scale import DONE, _loadavg, machine

REPO = Path(__file__).resolve().parent.parent
CONSORTIUM = "consortium_demo"


def rule_lines(work: Path) -> list[dict]:
    """Each rule's own seconds and peak RSS, from logs/<cohort>/<rule>.log and the consortium's log."""
    rows = []
    for log in sorted((work / "logs").rglob("*.log")):
        found = DONE.findall(log.read_text(errors="replace"))
        if found:
            sec, mib = found[-1]
            rule = log.stem if log.parent.name != "genotypes_shard" else f"genotypes_shard/{log.stem}"
            cohort = log.parent.name if log.parent.name != "genotypes_shard" else log.parent.parent.name
            rows.append({"cohort": cohort, "rule": rule, "seconds": float(sec), "peak_rss_mib": round(float(mib))})
    return rows


def run(work: Path, cores: int, timeout: int) -> dict:
    shutil.copytree(REPO / "cohorts", work / "cohorts")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work)]
    cmd += ["--configfile", str(work / "cohorts" / f"{CONSORTIUM}.yaml"), "--cores", str(cores)]
    row = {"cohort": "(whole run)", "rule": "snakemake", "load_start": _loadavg()}
    t = time.perf_counter()
    with open(work / "snakemake.out", "w") as out:
        try:
            rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, timeout=timeout).returncode
            row["status"] = "ok" if rc == 0 else f"failed (exit {rc})"
        except subprocess.TimeoutExpired:
            row["status"] = f"stopped after {timeout} s"
    row["seconds"] = round(time.perf_counter() - t, 1)
    row["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    row["load_end"] = _loadavg()
    return row


def markdown(rows: list[dict]) -> str:
    """Per cohort, the sum of its rules' own seconds and the largest rule; then the consortium."""
    whole = next(r for r in rows if r["rule"] == "snakemake")
    lines = ["| part | jobs | sum of the jobs' own seconds | largest job | peak RSS of its largest job (MiB) |"]
    lines.append("|---|---:|---:|---|---:|")
    for cohort in sorted({r["cohort"] for r in rows if r["rule"] != "snakemake"}):
        mine = [r for r in rows if r["cohort"] == cohort and r["rule"] != "snakemake"]
        big = max(mine, key=lambda r: r["seconds"])
        peak = max(r["peak_rss_mib"] for r in mine)
        total = sum(r["seconds"] for r in mine)
        lines.append(f"| {cohort} | {len(mine)} | {total:.0f} | {big['rule']} {big['seconds']:.0f} s | {peak} |")
    lines.append(
        f"| whole run (`snakemake --cores 2`) | | wall {whole['seconds'] / 60:.1f} min | status {whole['status']} "
        f"| {whole['peak_rss_mib']} |"
    )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="bench/consortium_demo.tsv")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=3600)
    ap.add_argument("--workdir", help="scratch folder (default: a new temporary folder, removed after)")
    args = ap.parse_args()
    facts = machine()
    with tempfile.TemporaryDirectory(prefix="consortium_demo_") as tmp:
        work = Path(args.workdir or tmp)
        if work.exists() and any(work.iterdir()):
            sys.exit(f"{work} is not empty: the run must start from nothing")
        work.mkdir(parents=True, exist_ok=True)
        whole = run(work, args.cores, args.timeout)
        rows = [whole, *rule_lines(work)]
    for r in rows:
        r.update(date=time.strftime("%Y-%m-%d"), **facts)
    columns = ["cohort", "rule", "seconds", "peak_rss_mib", "status", "load_start", "load_end", "date"]
    write_tsv(rows, Path(args.out), [*columns, "machine", "versions"], lambda v, _c: "" if v is None else str(v))
    print(markdown(rows))
    print(f"\nload average at start {whole['load_start']}, at end {whole['load_end']}; {facts['machine']}")


if __name__ == "__main__":
    main()
