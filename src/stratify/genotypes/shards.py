"""Stage "genotypes": read the cohort's genotypes (VCF, PLINK 2 pgen or BGEN) in shards, merged afterwards.

Products, keyed by patient:

* genotypes at the pharmacogene positions (:mod:`stratify.genotypes.pgxsites`; the positions of every gene
  called from a VCF: CYP2C19 and CYP2B6, ``stratify.pgx.alleles.VCF_CALLABLE_GENES``), long
  format with a ``gene`` column, for the PGx caller (stratify.pgx.alleles.read_vcf_genotypes,
  only each gene's region). A gene whose contig the VCF header does not list is not read,
  and the summary's ``pgx_genes_not_in_vcf`` says so;
* genotype principal components on LD-pruned common biallelic SNPs, the model's ancestry
  covariates: fitted on a reference set of at most ``genotypes.pca.samples`` samples
  (:mod:`stratify.genotypes.pca`: plink2's filters, ``--indep-pairwise`` and ``--pca``), then
  every other sample is projected onto the components (the reference samples get their
  eigenvectors, plink2's ``.eigenvec``);
* polygenic scores from PGS Catalog scoring files (stratify.genotypes.prs), with a per-score report
  of the variants matched.

The formats are read through :mod:`stratify.genotypes.records` (the same shards, records and outputs
for each). The work is split so that a 500,000-sample file streams in bounded memory: ``plan`` cuts the
file into shards of about ``genotypes.shard_mb`` compressed megabytes (by the tabix index)
and the samples into chunks of ``genotypes.sample_chunk``; ``pca`` reads the reference
samples only; each ``shard`` job reads one region for one sample chunk (memory grows with
the chunk, not the cohort); ``merge`` sums the regions and stacks the chunks. Snakemake runs
the shards as separate jobs (workflow/rules/genotypes.smk); ``genotype_stage`` runs the same
steps in one process.

VCF samples are mapped to patients through the optional sample map; samples that map to
no patient are counted and listed in the summary, never silently used or dropped, and so are
the cohort's patients without a VCF sample (``patients_without_vcf_sample``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stratify.errors import GenotypeError
from stratify.genotypes.pca import fit_pca, load_pca, save_pca  # noqa: F401  (the stage reads them here)
from stratify.genotypes.pgxsites import (
    PGX_COLUMNS,  # noqa: F401  (re-exported: stages and tests read it here)
    empty_pgx,
    genes_not_in_header,
    merge_pgx,
    pgx_regions,
    pgx_summary,
    read_pgx,
)
from stratify.genotypes.records import (
    GenotypeInput,
    input_samples,
    plan_facts,
    plan_input,
    plan_input_shards,
    plan_records,
)
from stratify.genotypes.vcfscan import ScanStats, Shard

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "shard_mb": 4096,
    "sample_chunk": 50000,
    "pca": {
        "samples": 5000,
        "n_components": 10,
        "min_maf": 0.05,
        "min_call_rate": 0.95,
        "ld_window_kb": 500,
        "ld_r2": 0.2,
        "ld_engine": "auto",
        "max_snps": 50000,
    },
    "pgs": {"keep_ambiguous": False},
}


def settings(config: dict[str, Any] | None) -> dict[str, Any]:
    """The config's ``genotypes`` section over the defaults."""
    g = dict((config or {}).get("genotypes") or {})
    out = {**DEFAULTS, **{k: v for k, v in g.items() if k not in ("pca", "pgs")}}
    out["pca"] = {**DEFAULTS["pca"], **(g.get("pca") or {})}
    out["pgs"] = {**DEFAULTS["pgs"], **(g.get("pgs") or {})}
    return out


def patients_without_sample(mapping: dict[str, str], patient_ids: set[str]) -> list[str]:
    """The cohort's patients that no VCF sample maps to (sorted)."""
    return sorted(set(patient_ids) - set(mapping.values()))


def map_samples(
    samples: list[str], sample_map: pd.DataFrame | None, patient_ids: set[str]
) -> tuple[dict[str, str], list[str]]:
    """sample name -> patient_id for samples that belong to the cohort; and the others."""
    if sample_map is None:
        mapping = {s: s for s in samples}
    else:
        m = dict(zip(sample_map["sample_id"], sample_map["patient_id"]))
        mapping = {s: m[s] for s in samples if s in m}
    kept = {s: p for s, p in mapping.items() if p in patient_ids}
    unmapped = [s for s in samples if s not in kept]
    return kept, unmapped


# ---------------------------------------------------------------------------------- the steps


def job_name(shard: int, chunk: int) -> str:
    """The Snakemake job name of one region (shard) and one sample chunk."""
    return f"r{shard:04d}_c{chunk:04d}"


def make_plan(
    vcf: GenotypeInput | str | Path,
    *,
    patient_ids: set[str],
    sample_map: pd.DataFrame | None = None,
    cfg: dict[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Shards (regions x sample chunks) and the PCA reference samples. ``vcf``: the genotype
    file (a VCF path, or a :class:`~stratify.genotypes.records.GenotypeInput` for pgen or BGEN)."""
    cfg = cfg or settings(None)
    inp = GenotypeInput.of(vcf)
    samples = input_samples(inp)
    mapping, unmapped = map_samples(samples, sample_map, patient_ids)
    if not mapping:
        raise GenotypeError(
            f"{inp.label}: none of its {len(samples)} samples maps to a patient "
            f"(first sample: {samples[0] if samples else 'none'}); give inputs.genotypes.sample_map"
        )
    shards = plan_input_shards(inp, target_bytes=int(cfg["shard_mb"] * (1 << 20)))
    n = len(samples)
    step = int(cfg["sample_chunk"])
    chunks = [(lo, min(lo + step, n)) for lo in range(0, n, step)]
    used = np.array([i for i, s in enumerate(samples) if s in mapping])
    n_ref = int(cfg["pca"]["samples"])
    if len(used) > n_ref:
        ref = np.sort(np.random.default_rng(seed).choice(used, n_ref, replace=False))
    else:
        ref = used
    jobs = [job_name(i, j) for i in range(len(shards)) for j in range(len(chunks))]
    log.info(
        "%s: %d samples (%d in the cohort) in %d chunk(s) of up to %d; %d region shard(s); %d jobs; "
        "PCA reference: %d samples",
        inp.label,
        n,
        len(mapping),
        len(chunks),
        step,
        len(shards),
        len(jobs),
        len(ref),
    )
    return {
        "vcf": inp.label,
        "input": inp.to_json(),
        **plan_facts(inp),
        "n_samples": n,
        "n_mapped": len(mapping),
        "unmapped": unmapped,
        "shards": shards,
        "chunks": chunks,
        "jobs": jobs,
        "pca_columns": [int(i) for i in ref],
        "settings": cfg,
    }


def run_shard(
    plan: dict[str, Any],
    job: str,
    pca: dict[str, Any],
    scores: list,
    *,
    sample_map: pd.DataFrame | None = None,
    patient_ids: set[str] | None = None,
    genome_build: str = "GRCh38",
) -> dict[str, Any]:
    """One region for one sample chunk: PC projections, score sums, PGx genotypes (CYP2C19, CYP2B6)."""
    from stratify.genotypes.prs import ScoreAccumulator

    si, ci = (int(x[1:]) for x in job.split("_"))
    shard = Shard.from_json(plan["shards"][si])
    lo, hi = plan["chunks"][ci]
    vcf = plan_input(plan)
    if vcf.format != "vcf":  # a pgen or BGEN: block reads and matrix products
        from stratify.genotypes.sourceshard import source_shard

        out = source_shard(plan, job, pca, scores)
        out["pgx"] = _shard_pgx(vcf, shard, out["samples"], sample_map, patient_ids, genome_build)
        return out
    n = hi - lo
    comps = pca.get("components")
    k = 0 if comps is None else comps.shape[0]
    proj = np.zeros((n, k))
    pc_used = 0
    lookup: dict[tuple[str, int, str, str], int] = {}
    if k:
        v = pca["variants"]
        lookup = {(c, int(p), r, a): i for i, (c, p, r, a) in enumerate(zip(v["chrom"], v["pos"], v["ref"], v["alt"]))}
        pvec, sdvec, centre = v["p"].to_numpy(), v["sd"].to_numpy(), pca["centre"]
    acc = ScoreAccumulator(
        scores, n, keep_ambiguous=plan["settings"]["pgs"]["keep_ambiguous"], intervals=shard.intervals
    )
    stats = ScanStats()
    block, block_idx = [], []

    def flush():
        nonlocal block, block_idx
        if block:
            xb = np.column_stack(block)
            proj[:] += xb @ comps[:, block_idx].T
            block, block_idx = [], []

    contigs = sorted({c for c, _, _ in shard.intervals})
    want = acc.want(contigs) if scores else set()
    if k:
        want |= {(c, int(p)) for c, p in zip(pca["variants"]["chrom"], pca["variants"]["pos"])}
    rows = plan_records(
        plan,
        plan["shards"][si],
        columns=(lo, hi),
        stats=stats,
        yield_skipped=bool(scores),
        want=want,
        dosages=bool(scores),
    )
    for r in rows:
        if r.dosage is not None and k:
            j = lookup.get((r.chrom, r.pos, r.ref, r.alt))
            if j is not None:
                d = r.dosage
                x = np.where(d >= 0, (d - 2 * pvec[j]) / sdvec[j], 0.0) - centre[j]
                block.append(x)
                block_idx.append(j)
                pc_used += 1
                if len(block) >= 512:
                    flush()
        if scores:
            acc.add(r)
    flush()
    samples = input_samples(vcf)[lo:hi]
    out: dict[str, Any] = {
        "samples": samples,
        "proj": proj,
        "pc_variants": pc_used,
        "scan": stats.as_dict(),
        **dict(zip(("score_sum", "score_allele_ct", "score_missing_ct"), acc.counts())),
        "score_variants": acc.variant_table(),
    }
    out["pgx"] = _shard_pgx(vcf, shard, samples, sample_map, patient_ids, genome_build)
    log.info(
        "shard %s: %d records (%d decoded), %d PCA SNPs projected, %d score variants matched, %d samples, %.1f s",
        job,
        stats.records,
        stats.decoded,
        pc_used,
        int(sum(1 for st, _ in acc.status.values() if st in ("matched", "matched_flipped", "ambiguous_used"))),
        n,
        stats.seconds,
    )
    return out


def _shard_pgx(
    vcf, shard: Shard, samples: list[str], sample_map, patient_ids, genome_build: str
) -> pd.DataFrame | None:
    """The pharmacogene genotypes of the genes whose region starts in the shard (None: no such gene)."""
    parts = []
    skip = genes_not_in_header(vcf)
    for defs, pchrom, plo, _ in pgx_regions():
        if genome_build != defs.build or defs.gene in skip:
            continue
        if any(c.removeprefix("chr") == pchrom and s <= plo <= e for c, s, e in shard.intervals):
            mapping, _ = map_samples(samples, sample_map, patient_ids or set(samples))
            if mapping:
                parts.append(read_pgx(vcf, defs, mapping))
    return pd.concat(parts, ignore_index=True) if parts else None


def save_shard(res: dict[str, Any], stem: Path) -> None:
    """stem.npz (arrays) + stem.variants.parquet + stem.pgx.parquet (header-only unless the shard read a PGx gene)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{stem}.npz", "wb") as f:
        np.savez(
            f,
            samples=np.array(res["samples"], dtype=str),
            proj=res["proj"],
            score_sum=res["score_sum"],
            score_allele_ct=res["score_allele_ct"],
            score_missing_ct=res["score_missing_ct"],
            meta=np.array(json.dumps({"pc_variants": res["pc_variants"], "scan": res["scan"]})),
        )
    res["score_variants"].to_parquet(f"{stem}.variants.parquet", index=False)
    pgx = res["pgx"] if res["pgx"] is not None else empty_pgx()
    pgx.to_parquet(f"{stem}.pgx.parquet", index=False)


def load_shard(stem: Path) -> dict[str, Any]:
    """Read what :func:`save_shard` wrote."""
    with np.load(f"{stem}.npz", allow_pickle=False) as z:
        res = {k: z[k] for k in ("samples", "proj", "score_sum", "score_allele_ct", "score_missing_ct")}
        res.update(json.loads(str(z["meta"])))
    res["samples"] = [str(s) for s in res["samples"]]
    res["score_variants"] = pd.read_parquet(f"{stem}.variants.parquet")
    pgx = pd.read_parquet(f"{stem}.pgx.parquet")
    res["pgx"] = pgx if len(pgx) else None
    return res


def merge(
    plan: dict[str, Any],
    pca: dict[str, Any],
    shard_results: dict[str, dict[str, Any]],
    scores: list,
    *,
    sample_map: pd.DataFrame | None,
    patient_ids: set[str],
    genome_build: str = "GRCh38",
) -> dict[str, Any]:
    """Sum the regions, stack the chunks, key by patient; the per-score variant report."""
    inp = plan_input(plan)
    samples = input_samples(inp)
    mapping, unmapped = map_samples(samples, sample_map, patient_ids)
    missing = [j for j in plan["jobs"] if j not in shard_results]
    if missing:
        raise GenotypeError(
            f"genotypes merge: {len(missing)} shard result(s) missing (first: {missing[0]}); "
            "re-run the genotypes_shard jobs"
        )
    k = 0 if pca.get("components") is None else pca["components"].shape[0]
    sums = _sum_shards(plan, shard_results, samples, k=k, n_scores=len(scores))
    keep = np.array([s in mapping for s in samples])
    pids = [mapping[s] for s in np.array(samples)[keep]]
    summary = _merge_summary(plan, samples, mapping, unmapped, patient_ids, sums.stats, keep)
    pcs = _merged_pcs(pids, pca, plan, sums, keep, k, summary)
    prs, report, var_table = _merged_scores(pids, scores, sums, keep, summary)
    summary.update(pgx_summary(inp, genome_build))
    pgx = merge_pgx(inp, sums.pgx_parts, mapping, genome_build)
    return {
        "pcs": pcs,
        "pgx_genotypes": pgx,
        "prs": prs,
        "prs_report": report,
        "prs_variants": var_table,
        "summary": summary,
    }


@dataclass
class _ShardSums:
    """The shards' results summed over regions and stacked over sample chunks."""

    proj: np.ndarray
    ssum: np.ndarray
    sct: np.ndarray
    smiss: np.ndarray
    stats: ScanStats = field(default_factory=ScanStats)
    pc_used: int = 0
    pgx_parts: list = field(default_factory=list)
    var_parts: list = field(default_factory=list)


def _sum_shards(
    plan: dict[str, Any], shard_results: dict[str, dict[str, Any]], samples: list[str], *, k: int, n_scores: int
) -> _ShardSums:
    """Add up the shard results (record counts and variant tables once per region, from chunk 0)."""
    n = len(samples)
    out = _ShardSums(
        np.zeros((n, k)),
        np.zeros((n, n_scores)),
        np.zeros((n, n_scores), dtype=np.int64),
        np.zeros((n, n_scores), dtype=np.int64),
    )
    stats = out.stats
    for ci, (lo, hi) in enumerate(plan["chunks"]):
        for si in range(len(plan["shards"])):
            r = shard_results[job_name(si, ci)]
            if list(r["samples"]) != samples[lo:hi]:
                raise GenotypeError(
                    f"genotypes merge: shard {job_name(si, ci)} was made for other samples; "
                    "the genotype file changed since the plan: re-run the genotypes stage"
                )
            out.proj[lo:hi] += r["proj"]
            out.ssum[lo:hi] += r["score_sum"]
            out.sct[lo:hi] += r["score_allele_ct"]
            out.smiss[lo:hi] += r["score_missing_ct"]
            if r["pgx"] is not None:
                out.pgx_parts.append(r["pgx"])
            if ci == 0:
                out.pc_used += int(r["pc_variants"])
                out.var_parts.append(r["score_variants"])
                s = r["scan"]
                stats.records += s["records"]
                stats.decoded += s["decoded_biallelic"]
                stats.multiallelic += s["skipped_multiallelic"]
                stats.no_alt += s["skipped_no_alt"]
                stats.no_gt += s["skipped_no_gt_field"]
            stats.haploid_calls += r["scan"]["haploid_calls_set_missing"]
            stats.seconds += r["scan"]["seconds"]
    return out


def _merge_summary(
    plan: dict[str, Any],
    samples: list[str],
    mapping: dict[str, str],
    unmapped: list[str],
    patient_ids: set[str],
    stats: ScanStats,
    keep: np.ndarray,
) -> dict[str, Any]:
    """The summary's samples, shards and records; warns about unmatched samples and patients."""
    summary: dict[str, Any] = {
        "vcf": plan["vcf"],
        "genotypes_format": plan_input(plan).format,
        "samples": len(samples),
        "samples_used": int(keep.sum()),
        "samples_not_in_cohort": unmapped[:100],
        "n_samples_not_in_cohort": len(unmapped),
        "patients_without_vcf_sample": patients_without_sample(mapping, patient_ids),
        "n_patients_without_vcf_sample": len(patients_without_sample(mapping, patient_ids)),
        "shards": {
            "regions": len(plan["shards"]),
            "sample_chunks": len(plan["chunks"]),
            "jobs": len(plan["jobs"]),
            "sample_chunk": plan["settings"]["sample_chunk"],
            "shard_mb": plan["settings"]["shard_mb"],
        },
        "records": stats.as_dict(),
    }
    if summary["n_patients_without_vcf_sample"]:
        log.warning(
            "%s: %d patients of the cohort have no sample in the genotype file (first: %s); their PGx calls say "
            "'not genotyped'",
            plan["vcf"],
            summary["n_patients_without_vcf_sample"],
            ", ".join(summary["patients_without_vcf_sample"][:5]),
        )
    if unmapped:
        log.warning(
            "%s: %d samples map to no patient and are not used (first: %s)",
            plan["vcf"],
            len(unmapped),
            ", ".join(unmapped[:5]),
        )
    return summary


def _merged_pcs(
    pids: list[str],
    pca: dict[str, Any],
    plan: dict[str, Any],
    sums: _ShardSums,
    keep: np.ndarray,
    k: int,
    summary: dict[str, Any],
) -> pd.DataFrame:
    """The principal components per patient; their PCA facts go into ``summary``."""
    pcs = pd.DataFrame({"patient_id": pids})
    if k:
        if sums.pc_used != len(pca["variants"]):
            raise GenotypeError(
                f"genotypes merge: {sums.pc_used} of the {len(pca['variants'])} PCA SNPs were found "
                "in the shards; the VCF changed since the PCA step: re-run the genotypes stage"
            )
        # the reference samples get their eigenvectors (plink2's .eigenvec), the others projections
        proj = sums.proj.copy()
        proj[pca["reference_columns"]] = pca["reference_pcs"]
        for j in range(k):
            pcs[f"pc{j + 1}"] = proj[keep, j]
        summary["common_snps"] = int(len(pca["variants"]))
        summary["pc_explained_variance"] = [round(float(x), 5) for x in pca["explained_variance_ratio"]]
        summary["pc_eigenvalues"] = [float(x) for x in pca["eigenvalues"]]
        summary["pca"] = {"reference_samples": pca["n_reference"], **pca["counts"], "settings": plan["settings"]["pca"]}
    else:
        summary["common_snps"] = 0
        summary["pcs_skipped"] = pca.get("skipped", "no principal components")
    return pcs


def _merged_scores(
    pids: list[str], scores: list, sums: _ShardSums, keep: np.ndarray, summary: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(polygenic scores per patient, per-score report, per-variant table); the report goes into ``summary``."""
    from stratify.genotypes.prs import score_report

    prs = pd.DataFrame({"patient_id": pids})
    var_table, report = score_report(
        scores,
        pd.concat(sums.var_parts, ignore_index=True)
        if sums.var_parts
        else pd.DataFrame(columns=["score", "index", "status", "vcf_id"]),
    )
    for j, sc in enumerate(scores):
        ct = sums.sct[keep, j]
        prs[f"prs_{sc.id}"] = sums.ssum[keep, j]
        prs[f"prs_{sc.id}_avg"] = np.where(ct > 0, sums.ssum[keep, j] / np.maximum(ct, 1), np.nan)
        prs[f"prs_{sc.id}_allele_ct"] = ct
        used = int(report.loc[report["score"] == sc.id, "used"].iloc[0])
        prs[f"prs_{sc.id}_missing_fraction"] = sums.smiss[keep, j] / used if used else np.nan
    if scores:
        summary["pgs"] = report.drop(columns=["file"]).to_dict(orient="records")
        summary["pgs_missing_rule"] = (
            "missing calls add nothing to the sum; allele_ct counts called alleles only; "
            "avg = sum / allele_ct (plink2 --score no-mean-imputation)"
        )
    return prs, report, var_table


def load_scores(paths: list[str], *, genome_build: str) -> list:
    """Read the PGS Catalog scoring files; a score id given twice is a GenotypeError."""
    from stratify.genotypes.prs import read_scoring_file

    scores = [read_scoring_file(p, genome_build=genome_build) for p in paths]
    ids = [s.id for s in scores]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise GenotypeError(f"inputs.genotypes.pgs: score id(s) {', '.join(sorted(dup))} given more than once")
    return scores


def genotype_stage(
    vcf_path: GenotypeInput | str | Path,
    *,
    patient_ids: set[str],
    sample_map: pd.DataFrame | None = None,
    genome_build: str = "GRCh38",
    n_components: int | None = None,
    seed: int = 0,
    cfg: dict[str, Any] | None = None,
    pgs: list[str] | None = None,
    processes: int = 1,
) -> dict[str, Any]:
    """Every step in one process (or ``processes`` worker processes for the shards)."""
    cfg = settings({"genotypes": cfg} if cfg is not None else None)
    if n_components is not None:
        cfg["pca"]["n_components"] = n_components
    plan = make_plan(vcf_path, patient_ids=patient_ids, sample_map=sample_map, cfg=cfg, seed=seed)
    pca = fit_pca(plan, seed=seed)
    scores = load_scores(pgs or [], genome_build=genome_build)
    return genotype_stage_from(
        plan,
        pca,
        scores,
        sample_map=sample_map,
        patient_ids=patient_ids,
        genome_build=genome_build,
        processes=processes,
    )


def genotype_stage_from(
    plan: dict[str, Any], pca: dict[str, Any], scores: list, *, processes: int = 1, **kw
) -> dict[str, Any]:
    """The shards of a plan (in ``processes`` worker processes) and their merge."""
    if processes > 1 and len(plan["jobs"]) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(processes) as ex:
            futs = {j: ex.submit(run_shard, plan, j, pca, scores, **kw) for j in plan["jobs"]}
            results = {j: f.result() for j, f in futs.items()}
    else:
        results = {j: run_shard(plan, j, pca, scores, **kw) for j in plan["jobs"]}
    return merge(plan, pca, results, scores, **kw)
