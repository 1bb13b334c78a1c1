# Shared definitions: the validated config, result and log folders, each stage's settings,
# inputs and outputs (from stratify.io.layout, the registry of every file of a run).
import json
import os
import shlex
import sys
from pathlib import Path

import yaml

from stratify.config import check_paths_exist, cohort_inputs, validate_config
from stratify.errors import StratifyError
from stratify.io import layout

# Relative paths in a config file are read from the folder the file is in (for the root
# config.yaml: the repository root), so the validated config holds absolute paths and a
# missing input stops the workflow here, before any rule runs.
_source = workflow.configfiles[-1] if workflow.configfiles else "config"
_base = Path(_source).resolve().parent if workflow.configfiles else Path.cwd()
if "consortium" in config:
    _listed = " ".join(
        str((_base / c).relative_to(Path.cwd()) if (_base / c).is_relative_to(Path.cwd()) else _base / c)
        for c in (config["consortium"] or {}).get("cohorts") or []
    )
    sys.exit(
        f"stratify: error: {_source} is a consortium config; one workflow run over all its cohorts is not "
        "built yet. Run each cohort on its own, e.g.\n"
        f"  for c in {_listed}; do snakemake --cores 2 --configfile $c; done"
    )
try:
    _validated = validate_config(dict(config), source=_source, base_dir=_base)
    check_paths_exist(_validated, source=_source)
except StratifyError as _exc:
    sys.exit(f"stratify: error: {_exc}")
config.clear()
config.update(_validated)

COHORT = config["cohort"]
RESULTS = f"results/{COHORT}"
LOGS = f"logs/{COHORT}"
HAS_VCF = "genotypes" in config["inputs"]


def settings_file(stage):
    """results/<cohort>/settings/<stage>.yaml: the part of the config the stage reads (the genotype
    steps share one). Each rule depends on its own file only, so a changed setting re-runs the
    stages that read it and those after them, nothing else."""
    return f"{RESULTS}/settings/{stage.split('_')[0]}.yaml"


def _write_settings():
    """Write each stage's settings at parse time, only where their content changed (a file
    rewritten with the same content would look newer than the results and re-run its stage)."""
    for stage in layout.SETTINGS:
        path = Path(settings_file(stage))
        text = yaml.safe_dump(layout.config_slice(config, stage), sort_keys=False)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)


_write_settings()


def stage_inputs(stage):
    """The files ``stage`` reads (stratify.io.layout.INPUTS) and its settings file, by key."""
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


def cohort_files(wildcards=None):
    """Every input file of the cohort, each once (the validate rule depends on all of them)."""
    files, seen = {}, set()
    for role, path in cohort_inputs(config).items():
        if path not in seen:
            seen.add(path)
            files[role] = path
    if "vcf" in files:
        # whichever index exists; with none, the validate stage says how to make one
        for ext in (".tbi", ".csi"):
            if Path(files["vcf"] + ext).exists() or ("simulate" in config and ext == ".tbi"):
                files["vcf_index"] = files["vcf"] + ext
                break
    return files


def vcf_inputs(wildcards=None):
    """The VCF, its index, sample map and scoring files (inputs of the genotype rules)."""
    return {k: v for k, v in cohort_files().items() if k.startswith("vcf")}


def genotype_merge_inputs(wildcards):
    """The merge's inputs with a VCF: the plan, the PCA and one result per shard job listed in the
    plan (checkpoint genotypes_plan)."""
    if not HAS_VCF:
        return {}
    plan = checkpoints.genotypes_plan.get().output.plan
    jobs = json.loads(Path(plan).read_text())["jobs"]
    shards = [
        f"{RESULTS}/genotypes/shards/{j}{ext}" for j in jobs for ext in (".npz", ".variants.parquet", ".pgx.parquet")
    ]
    return {"plan": plan, "pca": f"{RESULTS}/genotypes/pca.npz", "shards": shards}


def simulated_files(wildcards=None):
    """Every file `stratify simulate` writes (stratify.simulate.cohort.write_cohort) for a config
    with a `simulate` block, the cohort's inputs among them; genotype files only when the cohort
    reads a VCF or star-allele calls."""
    folder = Path(config["inputs"]["patients"]).parent
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
    if simulated_genotypes():
        names += ["genotypes.vcf.gz", "genotypes.vcf.gz.tbi", "PGS_SIM_hmPOS_GRCh38.txt.gz", "cyp2d6.cyrius.tsv"]
    files = cohort_files()
    known = set(files.values())
    extra = {n.replace(".", "_"): str(folder / n) for n in names if str(folder / n) not in known}
    return {**files, **extra}


def simulated_genotypes():
    """Whether the simulated cohort gets genotype files: only a cohort that reads them."""
    return "vcf" in cohort_files() or bool(config["inputs"].get("star_alleles"))


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
