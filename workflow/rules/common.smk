# Shared definitions: the validated config, result and log folders, each stage's settings,
# inputs and outputs (from stratify.io.layout, the registry of every file of a run).
import json
import os
import re
import shlex
import sys
from pathlib import Path

import yaml

from stratify.config import check_paths_exist, cohort_inputs, validate_config
from stratify.consortium import stage as consortium_stage
from stratify.consortium.config import is_consortium_config, validate_consortium
from stratify.errors import StratifyError
from stratify.io import layout

# Relative paths in a config file are read from the folder the file is in (for the root
# config.yaml: the repository root), so the validated config holds absolute paths and a
# missing input stops the workflow here, before any rule runs.
#
# A cohort config runs one cohort; a consortium config (docs/consortia.md) runs every cohort it
# lists, each exactly as on its own, then the consortium stage. Every rule of a cohort stage
# has the wildcard {cohort}: results/{cohort}/<stage>/..., logs/{cohort}/<stage>.log.
_source = workflow.configfiles[-1] if workflow.configfiles else "config"
_base = Path(_source).resolve().parent if workflow.configfiles else Path.cwd()
CONSORTIUM = None
try:
    if is_consortium_config(dict(config)):
        CONSORTIUM = validate_consortium(dict(config), source=_source, base_dir=_base)
        COHORTS = {c.name: c.config for c in CONSORTIUM.cohorts}
    else:
        _validated = validate_config(dict(config), source=_source, base_dir=_base)
        check_paths_exist(_validated, source=_source)
        config.clear()
        config.update(_validated)
        COHORTS = {config["cohort"]: config}
except StratifyError as _exc:
    sys.exit(f"stratify: error: {_exc}")

RESULTS = "results/{cohort}"
LOGS = "logs/{cohort}"


wildcard_constraints:
    cohort="|".join(re.escape(name) for name in COHORTS),


def has_vcf(cohort):
    """Whether the cohort reads genotypes, a VCF, pgen or BGEN (without them the genotype stage
    writes empty tables)."""
    return "genotypes" in COHORTS[cohort]["inputs"]


def settings_file(stage, cohort="{cohort}"):
    """results/<cohort>/settings/<stage>.yaml: the part of the config the stage reads (the genotype
    steps share one). Each rule depends on its own file only, so a changed setting re-runs the
    stages that read it and those after them, nothing else."""
    return f"results/{cohort}/settings/{stage.split('_')[0]}.yaml"


def _write_settings():
    """Write each cohort's stage settings at parse time, only where their content changed (a file
    rewritten with the same content would look newer than the results and re-run its stage)."""
    for cohort, cfg in COHORTS.items():
        for stage in layout.SETTINGS:
            path = Path(settings_file(stage, cohort))
            text = yaml.safe_dump(layout.config_slice(cfg, stage), sort_keys=False)
            if path.exists() and path.read_text(encoding="utf-8") == text:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)


_write_settings()


def stage_inputs(stage):
    """The files ``stage`` reads (stratify.io.layout.INPUTS) and its settings file, by key
    (paths with the wildcard {cohort})."""
    files = {k: str(p) for k, p in layout.input_paths(stage, RESULTS).items()}
    return {**files, "settings": settings_file(stage)}


def stage_outputs(stage, **flags):
    """The files ``stage`` writes (stratify.io.layout.OUTPUTS) by key; ``flags``: key -> a
    function that flags the path (a Snakemake report entry)."""
    out = {}
    for key, rel in layout.OUTPUTS[stage].items():
        path = f"{RESULTS}/{rel}"
        out[key] = flags[key](path) if key in flags else path
    return out


def io_args(stage):
    """A params function: ``--settings`` and every declared input and output of ``stage`` as
    ``--input key=path`` / ``--output key=path`` (the stage reads and writes only these)."""

    def args(wildcards, input, output):
        parts = ["--settings", shlex.quote(input.settings)]
        for key in layout.INPUTS[stage]:
            parts += ["--input", shlex.quote(f"{key}={input[key]}")]
        for key in layout.OUTPUTS[stage]:
            parts += ["--output", shlex.quote(f"{key}={output[key]}")]
        return " ".join(parts)

    return args


def _cohort(wildcards, cohort):
    """The cohort a rule's input function is for: named, or the job's {cohort} wildcard."""
    return cohort if cohort is not None else wildcards.cohort


def cohort_files(wildcards=None, cohort=None):
    """Every input file of the cohort, each once (the validate rule depends on all of them)."""
    cfg = COHORTS[_cohort(wildcards, cohort)]
    files, seen = {}, set()
    for role, path in cohort_inputs(cfg).items():
        if path not in seen:
            seen.add(path)
            files[role] = path
    if "vcf" in files:
        # whichever index exists; with none, the validate stage says how to make one
        for ext in (".tbi", ".csi"):
            if Path(files["vcf"] + ext).exists() or ("simulate" in cfg and ext == ".tbi"):
                files["vcf_index"] = files["vcf"] + ext
                break
    return files


GENOTYPE_ROLES = ("vcf", "pgen", "pvar", "psam", "bgen")


def vcf_inputs(wildcards):
    """The genotype file(s) (a VCF and its index; a pgen, pvar and psam; a BGEN and its sample
    file), the sample map and the scoring files (inputs of the genotype rules)."""
    return {k: v for k, v in cohort_files(wildcards).items() if k.startswith(GENOTYPE_ROLES)}


def genotype_merge_inputs(wildcards):
    """The merge's inputs with a VCF: the plan, the PCA and one result per shard job listed in the
    plan (checkpoint genotypes_plan)."""
    if not has_vcf(wildcards.cohort):
        return {}
    results = f"results/{wildcards.cohort}"
    plan = checkpoints.genotypes_plan.get(cohort=wildcards.cohort).output.plan
    jobs = json.loads(Path(plan).read_text())["jobs"]
    shards = [
        f"{results}/genotypes/shards/{j}{ext}" for j in jobs for ext in (".npz", ".variants.parquet", ".pgx.parquet")
    ]
    return {"plan": plan, "pca": f"{results}/genotypes/pca.npz", "shards": shards}


def genotype_merge_args(wildcards):
    """The merge's options with a VCF: the plan, the PCA and the shards' folder (every shard file
    is an input of the rule); none without one."""
    if not has_vcf(wildcards.cohort):
        return ""
    results = f"results/{wildcards.cohort}"
    return (
        f"--step merge --input plan={results}/genotypes/plan.json --input pca={results}/genotypes/pca.npz "
        f"--input shards={results}/genotypes/shards"
    )


def simulated_files(cohort):
    """Every file `stratify simulate` writes (stratify.simulate.cohort.write_cohort) for a cohort
    with a `simulate` block, the cohort's inputs among them; genotype files only when the cohort
    reads a VCF or star-allele calls."""
    folder = Path(COHORTS[cohort]["inputs"]["patients"]).parent
    names = [
        "patients.tsv",
        "symptoms.tsv",
        "treatments.tsv",
        "biomarkers.tsv",
        "sample_map.tsv",
        "truth.tsv",
        "truth.yaml",
        "config.yaml",
    ]
    if simulated_genotypes(cohort):
        names += ["genotypes.vcf.gz", "genotypes.vcf.gz.tbi", "PGS_SIM_hmPOS_GRCh38.txt.gz", "cyp2d6.cyrius.tsv"]
    files = cohort_files(cohort=cohort)
    known = set(files.values())
    extra = {n.replace(".", "_"): str(folder / n) for n in names if str(folder / n) not in known}
    return {**files, **extra}


def simulated_genotypes(cohort):
    """Whether the simulated cohort gets genotype files: only a cohort that reads them."""
    return "vcf" in cohort_files(cohort=cohort) or bool(COHORTS[cohort]["inputs"].get("star_alleles"))


def simulate_label_args(block):
    """`stratify simulate` options for a simulate block's instruments, sites and id prefix (each
    only when set, so the command of a block without them is as before)."""
    parts = []
    for key, opt in (("instruments", "--instruments"), ("sites", "--sites")):
        if key in block:
            parts += [opt, shlex.quote(",".join(block[key]))]
    if block.get("id_prefix"):
        parts += ["--id-prefix", shlex.quote(block["id_prefix"])]
    return " ".join(parts)


def final_targets():
    """What a run without a target makes: each cohort's report, then, for a consortium, the
    consortium's report."""
    targets = [f"results/{c}/report/report.html" for c in COHORTS]
    if CONSORTIUM is not None:
        targets += consortium_targets()
    return targets


def consortium_targets():
    """The consortium stage's report (results/consortium/<name>/report.html)."""
    return [consortium_outputs()["report"]]


#: the stages whose results the consortium stage reads from each cohort
CONSORTIUM_READS = ("clinical", "features", "subtype", "model", "heterogeneity")


def consortium_inputs(wildcards):
    """Every result the consortium stage reads, of every cohort (their stages' outputs)."""
    files = {}
    for cohort in COHORTS:
        for stage in CONSORTIUM_READS:
            for key, rel in layout.OUTPUTS[stage].items():
                files[f"{cohort}.{stage}.{key}"] = f"results/{cohort}/{rel}"
    for cohort, path in CONSORTIUM.bundles:  # site bundles of cohorts that share aggregates only
        files[f"{cohort}.bundle"] = str(path)
    return files


def consortium_outputs():
    """The consortium stage's files under results/consortium/<name>/, by key
    (stratify.consortium.stage FILES and PLOTS, each cohort's site bundle, the report)."""
    folder = f"results/consortium/{CONSORTIUM.name}"
    files = {**consortium_stage.FILES, **consortium_stage.PLOTS, "report": "report.html"}
    files |= {f"bundle_{c}": f"bundles/{c}.json" for c in COHORTS}
    return {key: f"{folder}/{rel}" for key, rel in files.items()}
