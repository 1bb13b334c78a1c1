"""Each pipeline stage as one function over files: read the previous stages' tables,
call the stage's public functions, write typed tables and a JSON summary.

The CLI subcommands (``stratify <stage>``) are thin wrappers over these, and the
Snakemake rules are thin wrappers over the CLI. Layout of a run::

    results/<cohort>/<stage>/...      (tables, summaries, plots)
    logs/<cohort>/<stage>.log
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stratify import __version__
from stratify.config import validate_config
from stratify.errors import ConfigError
from stratify.io.tables import read_table, write_table

log = logging.getLogger(__name__)



def _dump(obj: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)

    def default(o):
        if isinstance(o, (np.integer,)):
            return int(o)
        if isinstance(o, (np.floating,)):
            return float(o)
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)

    path.write_text(json.dumps(obj, indent=2, default=default, sort_keys=False) + "\n")
    return path


def write_tsv(df: pd.DataFrame, path: Path) -> Path:
    """Write a result table as TSV. An empty result is still a table with its header: a frame
    without columns is a bug of the stage (pandas would write a one-byte file that no reader can
    parse), so it stops here rather than in the report."""
    if df.columns.size == 0:
        raise RuntimeError(f"{path}: a result table without columns; please report this as a bug")
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, sep="\t", index=False)
    return path


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages a result depends on."""
    import platform
    from importlib import metadata

    out = {"python": platform.python_version(), "stratify": __version__}
    for p in ("numpy", "pandas", "scikit-learn", "xgboost-cpu", "xgboost", "shap", "cyvcf2", "pysam",
              "snakemake", "pyarrow"):
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            continue
    return out


def _prov(config: dict[str, Any], stage: str, **extra) -> dict[str, Any]:
    """Provenance stored in every table: stage, cohort, seed, config, package versions."""
    return {"stage": stage, "cohort": config["cohort"], "seed": config["seed"], "config": config,
            "packages": package_versions(), **extra}


def run_validate(config: dict[str, Any], results: Path) -> dict[str, Any]:
    """validate: typed copies of the input tables and ``manifest.json``."""
    from stratify.inputs.validate import validate_inputs, validate_options

    out = results / "validate"
    tables, manifest = validate_inputs(config["inputs"], **validate_options(config))
    for name, df in tables.items():
        write_table(df, out / f"{name}.parquet", kind=f"input.{name}",
                    provenance=_prov(config, "validate", input=manifest["inputs"].get(name)))
    manifest["config"] = config
    manifest["stratify_version"] = __version__
    _dump(manifest, out / "manifest.json")
    return manifest


def _patients(results: Path) -> pd.DataFrame:
    return read_table(results / "validate" / "patients.parquet", kind="input.patients")


def _genotype_context(config: dict[str, Any], results: Path) -> dict[str, Any]:
    from stratify.genotypes.shards import settings
    from stratify.inputs.validate import read_sample_map

    gen = config["inputs"]["genotypes"]
    return {"vcf": gen["vcf"], "sample_map": read_sample_map(gen["sample_map"]) if "sample_map" in gen else None,
            "patient_ids": set(_patients(results)["patient_id"]), "cfg": settings(config),
            "pgs": list(gen.get("pgs", [])), "genome_build": config["genome_build"], "seed": config["seed"]}


def run_genotypes(config: dict[str, Any], results: Path, *, step: str | None = None, job: str | None = None,
                  processes: int = 1) -> dict[str, Any]:
    """genotypes: PCs, polygenic scores and PGx-position genotypes from the VCF (or a note that there is none).

    ``step`` runs one step of the sharded stage (Snakemake's jobs): ``plan``, ``pca``,
    ``shard`` (with ``job``) or ``merge``; None runs them all here.
    """
    from stratify.genotypes import shards as G

    out = results / "genotypes"
    gen = config["inputs"].get("genotypes")
    prov = _prov(config, "genotypes")
    if gen is None:
        if step not in (None, "merge"):
            raise ConfigError(f"genotypes --step {step}: the config has no inputs.genotypes")
        summary: dict[str, Any] = {"skipped": "no VCF given (inputs.genotypes)"}
        write_table(pd.DataFrame({"patient_id": pd.Series([], dtype=str)}), out / "pcs.parquet",
                    kind="genotypes.pcs", provenance=prov)
        write_table(pd.DataFrame({"patient_id": pd.Series([], dtype=str)}), out / "prs.parquet",
                    kind="genotypes.prs", provenance=prov)
        write_table(pd.DataFrame({c: pd.Series([], dtype=object) for c in G.PGX_COLUMNS}),
                    out / "pgx_genotypes.parquet", kind="genotypes.pgx", provenance=prov)
        _write_prs_tables(*_empty_prs_tables(), out)
        missing = pd.DataFrame({"patient_id": sorted(_patients(results)["patient_id"].astype(str))})
        missing["reason"] = summary["skipped"]
        _write_not_genotyped(missing, summary, out)
        _dump(summary, out / "summary.json")
        return summary
    ctx = _genotype_context(config, results)
    kw = {"sample_map": ctx["sample_map"], "patient_ids": ctx["patient_ids"], "genome_build": ctx["genome_build"]}
    if step is None:
        res = G.genotype_stage(ctx["vcf"], cfg=ctx["cfg"], seed=ctx["seed"], pgs=ctx["pgs"], processes=processes,
                               **kw)
    elif step == "plan":
        plan = G.make_plan(ctx["vcf"], patient_ids=ctx["patient_ids"], sample_map=ctx["sample_map"],
                           cfg=ctx["cfg"], seed=ctx["seed"])
        _dump(plan, out / "plan.json")
        return plan
    else:
        plan = json.loads((out / "plan.json").read_text())
        if step == "pca":
            G.save_pca(G.fit_pca(plan, seed=ctx["seed"]), out / "pca.npz")
            return {}
        pca = G.load_pca(out / "pca.npz")
        scores = G.load_scores(ctx["pgs"], genome_build=ctx["genome_build"])
        if step == "shard":
            if job not in plan["jobs"]:
                raise ConfigError(f"genotypes --step shard: job {job!r} is not in {out / 'plan.json'} "
                                  f"(jobs {plan['jobs'][0]} .. {plan['jobs'][-1]})")
            G.save_shard(G.run_shard(plan, job, pca, scores, **kw), out / "shards" / job)
            return {}
        if step != "merge":
            raise ConfigError(f"genotypes --step {step!r}: expected plan, pca, shard or merge")
        res = G.merge(plan, pca, {j: G.load_shard(out / "shards" / j) for j in plan["jobs"]}, scores, **kw)
    write_table(res["pcs"], out / "pcs.parquet", kind="genotypes.pcs", provenance=prov)
    write_table(res["prs"], out / "prs.parquet", kind="genotypes.prs", provenance=prov)
    write_table(res["pgx_genotypes"], out / "pgx_genotypes.parquet", kind="genotypes.pgx", provenance=prov)
    _write_prs_tables(res["prs_variants"], res["prs_report"], out)
    summary = res["summary"]
    if not ctx["pgs"]:
        summary["pgs_skipped"] = "no polygenic-score files given (inputs.genotypes.pgs)"
    _write_not_genotyped(_not_genotyped(ctx, set(res["pcs"]["patient_id"].astype(str))), summary, out)
    _dump(summary, out / "summary.json")
    return summary


def _empty_prs_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    from stratify.genotypes.prs import score_report

    return score_report([], pd.DataFrame(columns=["score", "index", "status", "vcf_id"]))


def _write_prs_tables(variants: pd.DataFrame, report: pd.DataFrame, out: Path) -> None:
    """genotypes/prs_report.tsv (per score) and prs_variants.tsv.gz (per variant); header-only without scores."""
    write_tsv(report, out / "prs_report.tsv")
    write_tsv(variants, out / "prs_variants.tsv.gz")


def _not_genotyped(ctx: dict[str, Any], genotyped: set[str]) -> pd.DataFrame:
    """The cohort's patients without a VCF sample, each with the reason."""
    from stratify.genotypes.vcfscan import header_samples

    samples = set(header_samples(ctx["vcf"]))
    smap = ctx["sample_map"]
    sample_of = None if smap is None else dict(zip(smap["patient_id"].astype(str), smap["sample_id"].astype(str)))
    rows = []
    for pid in sorted(ctx["patient_ids"] - genotyped):
        if sample_of is None:
            why = "no VCF sample has the patient's ID (no sample map given: VCF sample names must be patient IDs)"
        elif pid not in sample_of:
            why = "not in the sample map (inputs.genotypes.sample_map)"
        elif sample_of[pid] not in samples:
            why = f"its sample {sample_of[pid]} (sample map) is not in the VCF"
        else:
            raise RuntimeError(f"genotypes: patient {pid} maps to VCF sample {sample_of[pid]} but was not genotyped; "
                               "please report this as a bug")
        rows.append((pid, why))
    return pd.DataFrame(rows, columns=["patient_id", "reason"])


def _write_not_genotyped(missing: pd.DataFrame, summary: dict[str, Any], out: Path) -> None:
    """genotypes/patients_without_genotypes.tsv, and the count and first IDs in the summary."""
    write_tsv(missing, out / "patients_without_genotypes.tsv")
    summary["n_patients_without_genotypes"] = int(len(missing))
    summary["patients_without_genotypes"] = missing["patient_id"].head(20).tolist()
    if len(missing):
        log.warning("genotypes: %d patients have no VCF sample (first: %s); all in %s", len(missing),
                    ", ".join(missing["patient_id"].head(5)), out / "patients_without_genotypes.tsv")


def run_pgx(config: dict[str, Any], results: Path) -> dict[str, Any]:
    """pgx: CYP2C19 and CYP2B6 from the VCF genotypes, other tools' star-allele calls, CPIC phenotypes."""
    from stratify.pgx.callers import read_calls
    from stratify.pgx.phenotype import GENES, add_phenotypes
    from stratify.inputs.validate import read_sample_map

    out = results / "pgx"
    patients = set(_patients(results)["patient_id"])
    summary: dict[str, Any] = {"sources": []}
    geno = read_table(results / "genotypes" / "pgx_genotypes.parquet", kind="genotypes.pgx")
    gsum_path = results / "genotypes" / "summary.json"
    no_sample = json.loads(gsum_path.read_text()).get("patients_without_vcf_sample", []) if gsum_path.exists() else []
    frames = _vcf_calls(geno, no_sample, summary)
    for i, sa in enumerate(config["inputs"].get("star_alleles", [])):
        c = read_calls(sa["path"], sa["tool"], gene=sa.get("gene"), sample=sa.get("sample"))
        other = ~c["gene"].isin(GENES)   # genes with CPIC phenotype tables here
        if other.any():
            genes = sorted(c.loc[other, "gene"].unique())
            log.warning("%s: %d calls for genes without a phenotype table here (%s) are not used",
                        sa["path"], int(other.sum()), ", ".join(genes))
            summary.setdefault("genes_not_used", {})[sa["path"]] = genes
            c = c[~other]
        if "sample_map" in sa:
            sm = read_sample_map(sa["sample_map"])
            m = dict(zip(sm["sample_id"], sm["patient_id"]))
        else:
            m = {s: s for s in c["sample"]}
        c.insert(0, "patient_id", c["sample"].map(m))
        unknown = c["patient_id"].isna() | ~c["patient_id"].isin(patients)
        if unknown.any():
            log.warning("%s: %d calls belong to no patient of the cohort and are not used (first: %s)",
                        sa["path"], int(unknown.sum()), ", ".join(c.loc[unknown, "sample"].astype(str)[:5]))
        summary["sources"].append({"tool": sa["tool"], "path": sa["path"], "calls": int((~unknown).sum()),
                                   "not_in_cohort": int(unknown.sum())})
        frames.append(c[~unknown])
    if frames:
        calls = add_phenotypes(pd.concat(frames, ignore_index=True))
    else:
        calls = pd.DataFrame(columns=["patient_id", "sample", "gene", "diplotype", "status", "alternatives",
                                      "source_tool", "phenotype", "activity_score"])
        summary["skipped"] = "no VCF and no star-allele calls"
    write_table(calls, out / "calls.parquet", kind="pgx.calls", provenance=_prov(config, "pgx"))
    write_tsv(calls, out / "calls.tsv")
    if len(calls):
        summary["phenotypes"] = {g: d["phenotype"].replace("", "no call").value_counts().to_dict()
                                 for g, d in calls.groupby("gene")}
        summary["status"] = {g: d["status"].value_counts().to_dict() for g, d in calls.groupby("gene")}
    guidance = _drug_guidance(calls, results, config)
    write_table(guidance, out / "guidance.parquet", kind="pgx.guidance", provenance=_prov(config, "pgx"))
    write_tsv(guidance, out / "guidance.tsv")
    if len(guidance):
        summary["guidance"] = {
            "trials": int(guidance[["patient_id", "episode", "trial"]].drop_duplicates().shape[0]),
            "actions": guidance["action"].value_counts().to_dict(),
            "possible_pk_nonresponse_trials": int(guidance.loc[guidance["possible_pk_nonresponse"],
                                                               ["patient_id", "episode", "trial"]]
                                                  .drop_duplicates().shape[0]),
            "possible_pk_intolerance_trials": int(guidance.loc[guidance["possible_pk_intolerance"],
                                                               ["patient_id", "episode", "trial"]]
                                                  .drop_duplicates().shape[0]),
        }
    else:
        summary["guidance_skipped"] = ("no medication trials" if len(calls) else "no pharmacogenomic calls")
    _dump(summary, out / "summary.json")
    return summary


def _vcf_calls(geno: pd.DataFrame, no_sample: list[str], summary: dict[str, Any]) -> list[pd.DataFrame]:
    """Calls from the VCF genotypes, one block per gene read (stratify.pgx.alleles.VCF_CALLABLE_GENES).

    Patients the VCF has no sample for get a visible no-call per gene, not a missing row.
    A genotype table without a ``gene`` column (written before CYP2B6 was read) is CYP2C19.
    """
    from stratify.pgx.alleles import VCF_CALLABLE_GENES, call_diplotypes, load_definitions, not_genotyped

    if not len(geno):
        return []
    gene_col = geno["gene"].astype(str) if "gene" in geno.columns else pd.Series("CYP2C19", index=geno.index)
    frames = []
    for gene in VCF_CALLABLE_GENES:
        g = geno.loc[gene_col == gene]
        if not len(g):
            continue
        calls = call_diplotypes(g.drop(columns=[c for c in ("patient_id", "gene") if c in g.columns]),
                                load_definitions(gene))
        calls.insert(0, "patient_id", calls["sample"].map(dict(zip(g["sample"], g["patient_id"]))))
        calls["source_tool"] = "stratify-vcf"
        frames.append(calls)
        summary["sources"].append({"tool": "stratify-vcf", "gene": gene, "calls": int(len(calls))})
        if no_sample:
            frames.append(not_genotyped(no_sample, gene))
            summary.setdefault("not_genotyped", {})[gene] = len(no_sample)
    return frames


def _drug_guidance(calls: pd.DataFrame, results: Path, config: dict[str, Any]) -> pd.DataFrame:
    """CPIC guidance for every medication trial, from the call chosen per patient and gene."""
    from stratify.pgx.choose import best_call_per_gene
    from stratify.pgx.guidance import OUTPUT_COLUMNS, patient_guidance

    treatments = read_table(results / "validate" / "treatments.parquet", kind="input.treatments")
    if calls.empty or treatments.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in OUTPUT_COLUMNS})
    chosen = best_call_per_gene(calls)
    chosen = chosen[[c for c in ("patient_id", "gene", "phenotype", "activity_score", "activity_lower_bound",
                                 "candidate_phenotypes") if c in chosen.columns]]
    return patient_guidance(treatments, chosen, min_weeks=config["clinical"]["adequate_weeks"])


def run_trd(config: dict[str, Any], results: Path) -> dict[str, Any]:
    """trd: treatment adequacy per trial and TRD staging under every definition, side by side."""
    from stratify.clinical.adequacy import adequacy_options, assess_trials
    from stratify.trd import CONCORDANCE_COLUMNS, binary_calls, concordance, stage_all, trd_options

    out = results / "trd"
    out.mkdir(parents=True, exist_ok=True)
    prov = _prov(config, "trd")
    treatments = read_table(results / "validate" / "treatments.parquet", kind="input.treatments")
    patients = _patients(results)
    if treatments.empty:
        summary = {"skipped": "no treatment history (inputs.treatments)"}
        empty = pd.DataFrame({"patient_id": pd.Series([], dtype=str)})
        write_table(empty, out / "trials.parquet", kind="trd.trials", provenance=prov)
        write_table(empty, out / "staging.parquet", kind="trd.staging", provenance=prov)
        write_table(empty, out / "after_index.parquet", kind="trd.after_index", provenance=prov)
        write_tsv(pd.DataFrame(columns=CONCORDANCE_COLUMNS), out / "concordance.tsv")
        _dump(summary, out / "summary.json")
        return summary
    trials = assess_trials(treatments, **adequacy_options(config))
    keys = ["patient_id", "episode", "trial"]
    trials = trials.merge(treatments[keys + ["sessions"]], on=keys, how="left", validate="one_to_one")
    guidance_path = results / "pgx" / "guidance.parquet"
    g = read_table(guidance_path, kind="pgx.guidance") if guidance_path.exists() else pd.DataFrame()
    if len(g):
        flags = (g.assign(possible_pk_nonresponse=g["possible_pk_nonresponse"].astype(bool))
                 .groupby(keys)["possible_pk_nonresponse"].any().reset_index())
        trials = trials.merge(flags, on=keys, how="left")
        trials["possible_pk_nonresponse"] = trials["possible_pk_nonresponse"].fillna(False).astype(bool)
    else:
        trials["possible_pk_nonresponse"] = False
    pts = patients[[c for c in ("patient_id", "diagnosis", "episode_months", "psychotic_features")
                    if c in patients.columns]].copy()
    scores = read_table(results / "clinical" / "scores.parquet", kind="clinical.scores")
    hamd0 = scores[(scores["instrument"] == "HAMD17") & (scores["week"] == 0)].set_index("patient_id")["total"]
    pts["baseline_severity"] = pts["patient_id"].map(hamd0)
    staging = stage_all(trials, pts, **trd_options(config))
    conc = concordance(staging)
    write_table(trials, out / "trials.parquet", kind="trd.trials", provenance=prov)
    write_table(staging, out / "staging.parquet", kind="trd.staging", provenance=prov)
    # TRD status once the index (prospective) trial's own outcome is counted: the endpoint.kind trd outcome
    after = binary_calls(stage_all(trials, pts, include_prospective=True, **trd_options(config)))
    write_table(after, out / "after_index.parquet", kind="trd.after_index", provenance=prov)
    write_tsv(conc, out / "concordance.tsv")
    summary = {"n_patients": int(len(staging)), "n_trials": int(len(trials)),
               "adequate_trials": int(trials["adequate"].fillna(False).astype(bool).sum()),
               "trials_adequacy_unknown": int(trials["adequate"].isna().sum()),
               "definitions": {}}
    for col in ("sforzini_2021", "sforzini_pk", "thase_rush_1997", "msm_band", "conway_2017",
                "markowitz_2022"):
        if col in staging:
            summary["definitions"][col] = {str(k): int(v) for k, v in
                                           staging[col].astype("string").fillna("NA").value_counts().items()}
    _dump(summary, out / "summary.json")
    return summary


def run_clinical(config: dict[str, Any], results: Path) -> dict[str, Any]:
    """clinical: totals per visit and the per-patient clinical table."""
    from stratify.clinical.scores import clinical_counts, clinical_options, clinical_tables

    tables = {n: read_table(results / "validate" / f"{n}.parquet", kind=f"input.{n}")
              for n in ("patients", "symptoms", "treatments", "biomarkers")}
    res = clinical_tables(tables, **clinical_options(config))
    out = results / "clinical"
    write_table(res["scores"], out / "scores.parquet", kind="clinical.scores", provenance=_prov(config, "clinical"))
    write_table(res["patients"], out / "patients.parquet", kind="clinical.patients",
                provenance=_prov(config, "clinical"))
    p = res["patients"]
    summary = {
        "n_patients": int(len(p)),
        "endpoint_status": p["endpoint_status"].value_counts().to_dict(),
        "endpoint": config["endpoint"],
        "endpoint_rate": float(p[config["endpoint"]["kind"]].mean()) if p[config["endpoint"]["kind"]].notna().any()
        else None,
        "prorated_totals": int(res["scores"].loc[res["scores"]["converted_from"] == "", "prorated"].sum()),
        "endpoint_converted": ({str(k): int(v) for k, v in p.loc[p["endpoint_converted_from"] != "",
                                                                  "endpoint_converted_from"].value_counts().items()}
                               if "endpoint_converted_from" in p else {}),
        "missing_totals": int(res["scores"].loc[res["scores"]["converted_from"] == "", "total"].isna().sum()),
        **clinical_counts(res["scores"], p),
    }
    if "crp_acute" in p:
        summary["crp_acute"] = int(p["crp_acute"].fillna(False).astype(bool).sum())
        summary["crp_acute_policy"] = config["clinical"]["crp_acute_policy"]
        summary["crp_below_detection"] = int(p["crp_below_detection"].fillna(False).astype(bool).sum())
        summary["nesda_strata"] = p["nesda_stratum"].value_counts().to_dict()
    _dump(summary, out / "summary.json")
    return summary


def run_features(config: dict[str, Any], results: Path) -> dict[str, Any]:
    """features: the per-patient feature table and the resolved model feature list."""
    from stratify.features.table import build_features

    clin = read_table(results / "clinical" / "patients.parquet", kind="clinical.patients")
    calls = read_table(results / "pgx" / "calls.parquet", kind="pgx.calls")
    pcs = read_table(results / "genotypes" / "pcs.parquet", kind="genotypes.pcs")
    after = results / "trd" / "after_index.parquet"
    trd = read_table(after, kind="trd.after_index") if after.exists() else None
    prs_path = results / "genotypes" / "prs.parquet"
    prs = read_table(prs_path, kind="genotypes.prs") if prs_path.exists() else None
    df, summary = build_features(clin, pgx_calls=calls, pcs=pcs, config=config, trd_after_index=trd, prs=prs)
    write_table(df, results / "features" / "features.parquet", kind="features",
                provenance=_prov(config, "features", model_features=summary["model_features"]))
    _dump(summary, results / "features" / "summary.json")
    return summary


def _features(results: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    df = read_table(results / "features" / "features.parquet", kind="features")
    summary = json.loads((results / "features" / "summary.json").read_text())
    return df, summary


def run_subtype(config: dict[str, Any], results: Path) -> dict[str, Any]:
    """subtype: cluster assignments, profiles, BIC curve."""
    from stratify.plots import criterion_png, profile_png
    from stratify.subtype.subtyping import run_subtyping, subtype_adds_to_severity, subtype_options

    df, _ = _features(results)
    assign, prof, summary = run_subtyping(df, options=subtype_options(config))
    out = results / "subtype"
    write_table(assign, out / "assignments.parquet", kind="subtype.assignments",
                provenance=_prov(config, "subtype"))
    write_tsv(prof, out / "profiles.tsv")
    if summary.get("criterion"):
        label = {"BIC": "BIC (lower is better)", "silhouette": "mean silhouette (higher is better)",
                 "PAC": "PAC (lower is better)"}[summary["criterion_name"]]
        criterion_png(summary["criterion"], summary["n_clusters"], out / "criterion.png", label=label)
    if len(prof):
        profile_png(prof, summary["features"], out / "profiles.png")
    # response by subtype (descriptive, with Wilson intervals)
    if len(assign):
        from stratify.plots import wilson

        m = assign.merge(df[["patient_id", "y"]], on="patient_id")
        rows = []
        for (c, s), g in m.groupby(["cluster", "subtype"]):
            yy = g["y"].dropna()
            lo, hi = wilson(int(yy.sum()), len(yy))
            rows.append({"cluster": int(c), "subtype": s, "n": int(len(g)), "n_with_endpoint": int(len(yy)),
                         "endpoint_rate": float(yy.mean()) if len(yy) else None, "ci": [lo, hi]})
        summary["outcome_by_subtype"] = rows
        if summary.get("claimed"):
            summary["adds_to_severity"] = subtype_adds_to_severity(df, assign)
    _dump(summary, out / "summary.json")
    return summary


def run_model(config: dict[str, Any], results: Path, *, threads: int = 1) -> dict[str, Any]:
    """model: nested cross-validation of XGBoost and baselines; the final model as XGBoost JSON,
    its metadata (features, preprocessing, training distribution) and a model card. ``threads``:
    permutation-test fits run side by side (the results do not depend on it)."""
    from stratify.model.card import model_card
    from stratify.model.fit import fit_response_model, model_options
    from stratify.model.io import model_metadata
    from stratify.plots import calibration_png, observed_predicted_png, roc_png

    df, fsum = _features(results)
    res = fit_response_model(df, fsum, options=model_options(config), threads=threads)
    out = results / "model"
    out.mkdir(parents=True, exist_ok=True)
    task = res["info"]["task"]
    res["model"].save_model(str(out / "xgboost.json"))
    write_table(res["oof"], out / "oof_predictions.parquet", kind="model.oof", provenance=_prov(config, "model"))
    if task == "classification":
        roc_png(res["oof"], out / "performance.png")
    else:
        observed_predicted_png(res["oof"], out / "performance.png")
    calibration_png(res["oof"], out / "calibration.png", task=task)
    write_tsv(pd.DataFrame([{k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in r.items()}
                            for r in res["folds"]]), out / "folds.tsv")
    summary = {"metrics": res["metrics"], **res["info"], "features": res["features"],
               "endpoint": config["endpoint"], "skipped_features": fsum["skipped_features"],
               "endpoint_defined_by": fsum.get("endpoint_defined_by", []), "outer_folds": res["folds"]}
    meta = model_metadata(res, df, fsum, cohort=config["cohort"], endpoint=config["endpoint"], seed=config["seed"])
    _dump(meta, out / "model_features.json")
    _dump(summary, out / "metrics.json")
    (out / "model_card.md").write_text(model_card(meta, summary), encoding="utf-8")
    return summary


def run_explain(config: dict[str, Any], results: Path) -> dict[str, Any]:
    """explain: SHAP values, importance, beeswarm, dependence plots, interactions of the top pairs,
    waterfalls of three patients and SHAP summaries per subtype."""
    from stratify.explain.shapley import (MAX_INTERACTION_PATIENTS, SCALES, beeswarm_png, dependence_png, importance,
                                  importance_by_subtype, interaction_partners, interaction_summary,
                                  select_waterfall_patients, shap_values, top_interactions, waterfall_filename,
                                  waterfall_png)
    from stratify.model.io import load_model

    df, _ = _features(results)
    model, meta = load_model(results / "model")
    feats, task = meta["features"], meta["task"]
    scale = SCALES[task]
    X = df[feats].astype(float)
    vals, base = shap_values(model, X)
    out = results / "explain"
    sv = pd.DataFrame(vals, columns=feats)
    sv.insert(0, "patient_id", df["patient_id"].to_numpy())
    write_table(sv, out / "shap_values.parquet", kind="explain.shap",
                provenance=_prov(config, "explain", base_value=base, task=task, scale=scale))
    imp = importance(vals, feats)
    write_tsv(imp, out / "importance.tsv")
    beeswarm_png(vals, X, out / "beeswarm.png", scale=scale)
    # interactions first: their top partner colours each dependence panel
    inter = interaction_summary(model, X, max_patients=MAX_INTERACTION_PATIENTS, seed=config["seed"], shap=vals)
    write_tsv(top_interactions(inter["mean_abs"], feats, n_patients_used=inter["n_patients_used"]),
              out / "interactions.tsv")
    partners = interaction_partners(inter["mean_abs"], feats)
    dep_feats = imp["feature"].head(4).tolist()
    _, n_missing = dependence_png(vals, X, dep_feats, out / "dependence.png",
                                  color_by={f: partners[f] for f in dep_feats}, scale=scale)
    wdir = out / "waterfalls"
    wdir.mkdir(parents=True, exist_ok=True)
    for old in wdir.glob("waterfall_*.png"):
        old.unlink()
    waterfalls = select_waterfall_patients(vals, base, df["patient_id"])
    for w in waterfalls:
        i = int(np.flatnonzero(df["patient_id"].astype(str).to_numpy() == w["patient_id"])[0])
        w["file"] = f"waterfalls/{waterfall_filename(w['patient_id'])}"
        if task == "classification":
            w["probability"] = float(1 / (1 + np.exp(-w["prediction"])))
        waterfall_png(vals[i], base, X.iloc[i], out / w["file"], scale=scale,
                      title=f"patient {w['patient_id']}: {w['reason']}")
    summary: dict[str, Any] = {
        "task": task, "scale": scale, "base_value": base,
        **({"base_value_log_odds": base} if task == "classification" else {}),
        "top_features": imp["feature"].head(10).tolist(), "n_patients": int(len(df)),
        "dependence": {"file": "dependence.png", "features": dep_feats,
                       "colour_by": {f: partners[f] for f in dep_feats}, "n_missing": n_missing},
        "interactions": {"file": "interactions.tsv", "n_patients_used": inter["n_patients_used"],
                         "max_patients": inter["max_patients"], "subsampled": inter["subsampled"],
                         "seed": inter["seed"], "seconds": inter["seconds"],
                         "max_additivity_error": inter["max_additivity_error"]},
        "waterfalls": waterfalls,
    }
    by_path = out / "importance_by_subtype.tsv"
    by_path.unlink(missing_ok=True)
    assign = read_table(results / "subtype" / "assignments.parquet", kind="subtype.assignments")
    sub = json.loads((results / "subtype" / "summary.json").read_text())
    if len(assign) and sub.get("claimed"):
        st = df[["patient_id"]].merge(assign, on="patient_id", how="left")["subtype"].fillna("unassigned")
        by = importance_by_subtype(vals, feats, st)
        write_tsv(by, by_path)
        summary["by_subtype"] = {"file": "importance_by_subtype.tsv",
                                 "n": {str(k): int(v) for k, v in st.value_counts().sort_index().items()}}
    else:
        summary["by_subtype"] = {"file": None, "statement": "no subtypes were claimed, so no per-subtype summary"}
    _dump(summary, out / "summary.json")
    return summary


def run_heterogeneity(config: dict[str, Any], results: Path) -> dict[str, Any]:
    """heterogeneity: individual treatment effects between two randomised arms, or why not."""
    from stratify.heterogeneity.cohort import (analyse_cohort, cate_png, heterogeneity_options, pai_png,
                                               site_variance_ratios)
    from stratify.heterogeneity.variance_ratio import forest_png

    path = results / "features" / "features.parquet"
    df, fsum = _features(results)
    summary, cate = analyse_cohort(df, options=heterogeneity_options(config),
                                   feature_groups=fsum.get("feature_groups", {}), source=path)
    out = results / "heterogeneity"
    write_table(cate, out / "cate.parquet", kind="heterogeneity.cate", provenance=_prov(config, "heterogeneity"))
    for name in ("pai.png", "cate.png", "vr_forest.png", "vr_sites.tsv"):
        (out / name).unlink(missing_ok=True)   # figures of an earlier run must not outlive it
    if summary["run"]:
        pai_png(summary, out / "pai.png")
        cate_png(cate, summary, out / "cate.png")
        vr, comp = site_variance_ratios(df, summary)
        summary["variance_ratio"] = vr
        if vr["run"]:
            write_tsv(comp.drop(columns=["line_treatment", "line_control"]), out / "vr_sites.tsv")
            forest_png(comp, vr["pooled"], out / "vr_forest.png")
            re = vr["pooled"][0]["lnVR"]["random"]
            log.info("heterogeneity: variance ratio %s/%s over %d sites (REML) %.3f (%.3f-%.3f)",
                     vr["treatment_arm"], vr["control_arm"], vr["k_sites"], re["ratio"], re["ratio_ci_low"],
                     re["ratio_ci_high"])
    log.info("heterogeneity: %s", summary["statement"])
    _dump(summary, out / "summary.json")
    return summary


def run_report(config: dict[str, Any], results: Path, out_html: Path) -> Path:
    """report: the single self-contained HTML file."""
    from stratify.report.build import build_report

    html = build_report(config, results)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(html, encoding="utf-8")
    return out_html


STAGES = {
    "validate": run_validate, "genotypes": run_genotypes, "pgx": run_pgx, "clinical": run_clinical,
    "trd": run_trd,
    "features": run_features, "subtype": run_subtype, "model": run_model, "explain": run_explain,
    "heterogeneity": run_heterogeneity,
}


def run_all(config: dict[str, Any], results: Path) -> Path:
    """Every stage in order, without Snakemake (used by tests and quick looks)."""
    config = validate_config(config)
    for name in ("validate", "genotypes", "pgx", "clinical", "trd", "features", "subtype", "model", "heterogeneity",
                 "explain"):
        log.info("stage %s", name)
        STAGES[name](config, results)
    return run_report(config, results, results / "report" / "report.html")
