# Shared definitions: the validated config, result and log folders, input files.
import json
import sys
from pathlib import Path

from stratify.config import check_paths_exist, cohort_inputs, validate_config
from stratify.errors import StratifyError

# Relative paths in a config file are read from the folder the file is in (for the root
# config.yaml: the repository root), so the validated config holds absolute paths and a
# missing input stops the workflow here, before any rule runs.
_source = workflow.configfiles[-1] if workflow.configfiles else "config"
_base = Path(_source).resolve().parent if workflow.configfiles else Path.cwd()
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
CONFIG = f"{RESULTS}/config.yaml"


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


def genotype_shard_outputs(wildcards):
    """The merge's inputs: one result per shard job listed in the plan (checkpoint genotypes_plan)."""
    if "genotypes" not in config["inputs"]:
        return []
    plan = checkpoints.genotypes_plan.get().output.plan
    jobs = json.loads(Path(plan).read_text())["jobs"]
    return [f"{RESULTS}/genotypes/pca.npz", plan] + [f"{RESULTS}/genotypes/shards/{j}.npz" for j in jobs]
