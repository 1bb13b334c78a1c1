"""Stage "genotypes": PCs, polygenic scores and PGx-position genotypes from the VCF (or a note that there is none).

The sharded stage runs as steps (Snakemake's jobs): ``plan`` -> ``pca`` -> one ``shard`` per
region x sample chunk -> ``merge``; without a step every step runs here, in memory.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from stratify.errors import ConfigError
from stratify.genotypes import shards as G
from stratify.genotypes.prs import score_report
from stratify.genotypes.records import GenotypeInput, input_samples
from stratify.genotypes.shards import settings
from stratify.inputs.validate import read_sample_map
from stratify.io.layout import StageFiles
from stratify.io.results import dump_json, provenance, write_tsv
from stratify.io.tables import read_table, write_table

log = logging.getLogger(__name__)

STEP_STAGE = {
    "plan": "genotypes_plan",
    "pca": "genotypes_pca",
    "shard": "genotypes_shard",
    "merge": "genotypes",
    None: "genotypes",
}


def stage_files(where: StageFiles | str | Path, step: str | None = None, job: str | None = None) -> StageFiles:
    """The files of one step; under a results folder the merge also reads the plan, PCA and shards."""
    if isinstance(where, StageFiles):
        return where
    files = StageFiles.under(where, STEP_STAGE.get(step, "genotypes"), **({"job": job} if job else {}))
    if step == "merge":
        g = Path(where) / "genotypes"
        files = StageFiles(
            files.stage,
            {**files.inputs, "plan": g / "plan.json", "pca": g / "pca.npz", "shards": g / "shards"},
            files.outputs,
        )
    return files


def _patient_ids(files: StageFiles) -> set:
    return set(read_table(files.input("patients"), kind="input.patients")["patient_id"])


def _genotype_context(config: dict[str, Any], files: StageFiles) -> dict[str, Any]:
    gen = config["inputs"]["genotypes"]
    return {
        "vcf": GenotypeInput.from_config(gen),
        "sample_map": read_sample_map(gen["sample_map"]) if "sample_map" in gen else None,
        "patient_ids": _patient_ids(files),
        "cfg": settings(config),
        "pgs": list(gen.get("pgs", [])),
        "genome_build": config["genome_build"],
        "seed": config["seed"],
    }


def run_genotypes(
    config: dict[str, Any],
    files: StageFiles | str | Path,
    *,
    step: str | None = None,
    job: str | None = None,
    processes: int = 1,
) -> dict[str, Any]:
    """genotypes: one step of the sharded stage (``plan``, ``pca``, ``shard`` with ``job``, or
    ``merge``), or with ``step`` None every step here. ``files``: the step's paths, or a results folder."""
    if step not in STEP_STAGE:
        raise ConfigError(f"genotypes --step {step!r}: expected plan, pca, shard or merge")
    files = stage_files(files, step, job)
    if config["inputs"].get("genotypes") is None:
        if step not in (None, "merge"):
            raise ConfigError(f"genotypes --step {step}: the config has no inputs.genotypes")
        return _without_vcf(config, files)
    ctx = _genotype_context(config, files)
    kw = {"sample_map": ctx["sample_map"], "patient_ids": ctx["patient_ids"], "genome_build": ctx["genome_build"]}
    if step is None:
        res = G.genotype_stage(ctx["vcf"], cfg=ctx["cfg"], seed=ctx["seed"], pgs=ctx["pgs"], processes=processes, **kw)
        return _write_merged(config, ctx, res, files)
    if step == "plan":
        plan = G.make_plan(
            ctx["vcf"], patient_ids=ctx["patient_ids"], sample_map=ctx["sample_map"], cfg=ctx["cfg"], seed=ctx["seed"]
        )
        dump_json(plan, files.output("plan"))
        return plan
    plan_path = files.input("plan")
    plan = json.loads(plan_path.read_text())
    if step == "pca":
        G.save_pca(G.fit_pca(plan, seed=ctx["seed"]), files.output("pca"))
        return {}
    pca = G.load_pca(files.input("pca"))
    scores = G.load_scores(ctx["pgs"], genome_build=ctx["genome_build"])
    if step == "shard":
        if job not in plan["jobs"]:
            raise ConfigError(
                f"genotypes --step shard: job {job!r} is not in {plan_path} "
                f"(jobs {plan['jobs'][0]} .. {plan['jobs'][-1]})"
            )
        npz = files.output("npz")
        G.save_shard(G.run_shard(plan, job, pca, scores, **kw), npz.with_name(npz.name.removesuffix(".npz")))
        return {}
    shards = files.input("shards")
    res = G.merge(plan, pca, {j: G.load_shard(shards / j) for j in plan["jobs"]}, scores, **kw)
    return _write_merged(config, ctx, res, files)


def _without_vcf(config: dict[str, Any], files: StageFiles) -> dict[str, Any]:
    """Empty tables and the reason, for a cohort without a VCF."""
    prov = provenance(config, "genotypes")
    summary: dict[str, Any] = {"skipped": "no VCF given (inputs.genotypes)"}
    write_table(
        pd.DataFrame({"patient_id": pd.Series([], dtype=str)}),
        files.output("pcs"),
        kind="genotypes.pcs",
        provenance=prov,
    )
    write_table(
        pd.DataFrame({"patient_id": pd.Series([], dtype=str)}),
        files.output("prs"),
        kind="genotypes.prs",
        provenance=prov,
    )
    write_table(
        pd.DataFrame({c: pd.Series([], dtype=object) for c in G.PGX_COLUMNS}),
        files.output("pgx"),
        kind="genotypes.pgx",
        provenance=prov,
    )
    _write_prs_tables(*_empty_prs_tables(), files)
    patients = read_table(files.input("patients"), kind="input.patients")
    missing = pd.DataFrame({"patient_id": sorted(patients["patient_id"].astype(str))})
    missing["reason"] = summary["skipped"]
    _write_not_genotyped(missing, summary, files)
    dump_json(summary, files.output("summary"))
    return summary


def _write_merged(
    config: dict[str, Any], ctx: dict[str, Any], res: dict[str, Any], files: StageFiles
) -> dict[str, Any]:
    prov = provenance(config, "genotypes")
    write_table(res["pcs"], files.output("pcs"), kind="genotypes.pcs", provenance=prov)
    write_table(res["prs"], files.output("prs"), kind="genotypes.prs", provenance=prov)
    write_table(res["pgx_genotypes"], files.output("pgx"), kind="genotypes.pgx", provenance=prov)
    _write_prs_tables(res["prs_variants"], res["prs_report"], files)
    summary = res["summary"]
    if not ctx["pgs"]:
        summary["pgs_skipped"] = "no polygenic-score files given (inputs.genotypes.pgs)"
    _write_not_genotyped(not_genotyped(ctx, set(res["pcs"]["patient_id"].astype(str))), summary, files)
    dump_json(summary, files.output("summary"))
    return summary


def _empty_prs_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    return score_report([], pd.DataFrame(columns=["score", "index", "status", "vcf_id"]))


def _write_prs_tables(variants: pd.DataFrame, report: pd.DataFrame, files: StageFiles) -> None:
    """genotypes/prs_report.tsv (per score) and prs_variants.tsv.gz (per variant); header-only without scores."""
    write_tsv(report, files.output("prs_report"))
    write_tsv(variants, files.output("prs_variants"))


def not_genotyped(ctx: dict[str, Any], genotyped: set[str]) -> pd.DataFrame:
    """The cohort's patients without a VCF sample, each with the reason."""
    inp = GenotypeInput.of(ctx["vcf"])
    samples = set(input_samples(inp))
    kind = "VCF" if inp.format == "vcf" else inp.format
    smap = ctx["sample_map"]
    sample_of = None if smap is None else dict(zip(smap["patient_id"].astype(str), smap["sample_id"].astype(str)))
    rows = []
    for pid in sorted(ctx["patient_ids"] - genotyped):
        if sample_of is None:
            why = f"no {kind} sample has the patient's ID (no sample map given: sample names must be patient IDs)"
        elif pid not in sample_of:
            why = "not in the sample map (inputs.genotypes.sample_map)"
        elif sample_of[pid] not in samples:
            why = f"its sample {sample_of[pid]} (sample map) is not in the {kind}"
        else:
            raise RuntimeError(
                f"genotypes: patient {pid} maps to VCF sample {sample_of[pid]} but was not genotyped; "
                "please report this as a bug"
            )
        rows.append((pid, why))
    return pd.DataFrame(rows, columns=["patient_id", "reason"])


def _write_not_genotyped(missing: pd.DataFrame, summary: dict[str, Any], files: StageFiles) -> None:
    """genotypes/patients_without_genotypes.tsv, and the count and first IDs in the summary."""
    path = files.output("not_genotyped")
    write_tsv(missing, path)
    summary["n_patients_without_genotypes"] = int(len(missing))
    summary["patients_without_genotypes"] = missing["patient_id"].head(20).tolist()
    if len(missing):
        log.warning(
            "genotypes: %d patients have no VCF sample (first: %s); all in %s",
            len(missing),
            ", ".join(missing["patient_id"].head(5)),
            path,
        )
