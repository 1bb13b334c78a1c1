"""Where every stage's files live, what each stage reads, and which part of the config it uses.

One registry for the whole run (``results/<cohort>/``): the Snakemake rules declare their
inputs and outputs from it (workflow/rules/common.smk) and pass each path on the command
line (``--input key=path --output key=path``); the stage functions read and write only the
paths they are given (:class:`StageFiles`). Without explicit paths (``stratify run``, tests)
the same registry places the files under a results folder.

* :data:`OUTPUTS`: stage -> {key: path relative to the results folder}; a path ending in
  ``/`` is a directory output.
* :data:`INPUTS`: stage -> {key: ``"producer:key"``}, the files a stage reads.
* :data:`SETTINGS`: stage -> the config keys it reads (dotted for a part of a section);
  :func:`config_slice` cuts them out, so a rule depends only on its own settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stratify.errors import ConfigError

OUTPUTS: dict[str, dict[str, str]] = {
    "validate": {
        "manifest": "validate/manifest.json",
        "patients": "validate/patients.parquet",
        "symptoms": "validate/symptoms.parquet",
        "treatments": "validate/treatments.parquet",
        "biomarkers": "validate/biomarkers.parquet",
    },
    "genotypes_plan": {"plan": "genotypes/plan.json"},
    "genotypes_pca": {"pca": "genotypes/pca.npz"},
    "genotypes_shard": {
        "npz": "genotypes/shards/{job}.npz",
        "variants": "genotypes/shards/{job}.variants.parquet",
        "pgx": "genotypes/shards/{job}.pgx.parquet",
    },
    "genotypes": {
        "pcs": "genotypes/pcs.parquet",
        "prs": "genotypes/prs.parquet",
        "pgx": "genotypes/pgx_genotypes.parquet",
        "prs_report": "genotypes/prs_report.tsv",
        "prs_variants": "genotypes/prs_variants.tsv.gz",
        "not_genotyped": "genotypes/patients_without_genotypes.tsv",
        "summary": "genotypes/summary.json",
    },
    "pgx": {
        "calls": "pgx/calls.parquet",
        "calls_tsv": "pgx/calls.tsv",
        "guidance": "pgx/guidance.parquet",
        "guidance_tsv": "pgx/guidance.tsv",
        "phenotypes_png": "pgx/phenotypes.png",
        "summary": "pgx/summary.json",
    },
    "clinical": {
        "scores": "clinical/scores.parquet",
        "patients": "clinical/patients.parquet",
        "summary": "clinical/summary.json",
    },
    "trd": {
        "trials": "trd/trials.parquet",
        "staging": "trd/staging.parquet",
        "after_index": "trd/after_index.parquet",
        "concordance": "trd/concordance.tsv",
        "summary": "trd/summary.json",
    },
    "features": {"features": "features/features.parquet", "summary": "features/summary.json"},
    "subtype": {
        "assignments": "subtype/assignments.parquet",
        "profiles": "subtype/profiles.tsv",
        "criterion_png": "subtype/criterion.png",
        "profiles_png": "subtype/profiles.png",
        "summary": "subtype/summary.json",
        "model": "subtype/model.json",
    },
    "model": {
        "model": "model/xgboost.json",
        "model_features": "model/model_features.json",
        "metrics": "model/metrics.json",
        "oof": "model/oof_predictions.parquet",
        "performance": "model/performance.png",
        "calibration": "model/calibration.png",
        "folds": "model/folds.tsv",
        "card": "model/model_card.md",
    },
    "heterogeneity": {
        "summary": "heterogeneity/summary.json",
        "cate": "heterogeneity/cate.parquet",
        "pai_png": "heterogeneity/pai.png",
        "cate_png": "heterogeneity/cate.png",
        "vr_forest_png": "heterogeneity/vr_forest.png",
        "vr_sites": "heterogeneity/vr_sites.tsv",
    },
    "explain": {
        "shap": "explain/shap_values.parquet",
        "importance": "explain/importance.tsv",
        "beeswarm": "explain/beeswarm.png",
        "dependence": "explain/dependence.png",
        "interactions": "explain/interactions.tsv",
        "waterfall_highest": "explain/waterfalls/highest.png",
        "waterfall_lowest": "explain/waterfalls/lowest.png",
        "waterfall_median": "explain/waterfalls/median.png",
        "importance_by_subtype": "explain/importance_by_subtype.tsv",
        "summary": "explain/summary.json",
    },
    "report": {"html": "report/report.html"},
}

_FEATURES = {"features": "features:features", "features_summary": "features:summary"}

INPUTS: dict[str, dict[str, str]] = {
    "validate": {},
    "genotypes_plan": {"patients": "validate:patients"},
    "genotypes_pca": {"plan": "genotypes_plan:plan", "patients": "validate:patients"},
    "genotypes_shard": {"plan": "genotypes_plan:plan", "pca": "genotypes_pca:pca", "patients": "validate:patients"},
    # with a VCF the merge also reads the plan, the PCA and every shard (workflow: genotype_merge_inputs)
    "genotypes": {"patients": "validate:patients"},
    "pgx": {
        "genotypes": "genotypes:pgx",
        "genotypes_summary": "genotypes:summary",
        "patients": "validate:patients",
        "treatments": "validate:treatments",
    },
    "clinical": {n: f"validate:{n}" for n in ("patients", "symptoms", "treatments", "biomarkers")},
    "trd": {
        "treatments": "validate:treatments",
        "patients": "validate:patients",
        "scores": "clinical:scores",
        "guidance": "pgx:guidance",
    },
    "features": {
        "clinical": "clinical:patients",
        "calls": "pgx:calls",
        "pcs": "genotypes:pcs",
        "prs": "genotypes:prs",
        "after_index": "trd:after_index",
    },
    "subtype": dict(_FEATURES),
    "model": dict(_FEATURES),
    "heterogeneity": dict(_FEATURES),
    "explain": {
        **_FEATURES,
        "model": "model:model",
        "model_features": "model:model_features",
        "assignments": "subtype:assignments",
        "subtype_summary": "subtype:summary",
    },
}

# every file the report reads, by stage (stratify.report.build and .reconcile)
REPORT_READS: dict[str, tuple[str, ...]] = {
    "validate": ("manifest", "patients", "symptoms", "treatments", "biomarkers"),
    "genotypes": ("summary", "prs_report", "not_genotyped", "pcs"),
    "pgx": ("summary", "calls", "guidance", "phenotypes_png"),
    "clinical": ("summary", "patients"),
    "trd": ("summary", "concordance"),
    "features": ("features", "summary"),
    "subtype": ("summary", "assignments", "profiles", "criterion_png", "profiles_png"),
    "model": ("metrics", "performance", "calibration"),
    "heterogeneity": ("summary", "pai_png", "cate_png", "vr_forest_png"),
    "explain": (
        "summary",
        "importance",
        "beeswarm",
        "dependence",
        "interactions",
        "waterfall_highest",
        "waterfall_lowest",
        "waterfall_median",
        "importance_by_subtype",
        "shap",
    ),
}
INPUTS["report"] = {f"{s}_{k}": f"{s}:{k}" for s, keys in REPORT_READS.items() for k in keys}

_BASE = ("cohort", "seed", "genome_build")
_GENOTYPES = ("inputs.genotypes", "genotypes")
SETTINGS: dict[str, tuple[str, ...] | None] = {
    "validate": ("inputs", "patient_covariates", "clinical.dose_table", "clinical.harmonise"),
    "genotypes": _GENOTYPES,
    "genotypes_plan": _GENOTYPES,
    "genotypes_pca": _GENOTYPES,
    "genotypes_shard": _GENOTYPES,
    "pgx": ("inputs.star_alleles", "clinical.adequate_weeks"),
    "clinical": ("clinical", "endpoint", "patient_covariates"),
    "trd": ("clinical",),
    "features": ("endpoint", "features", "subtype.features", "patient_covariates", "clinical.dimensions"),
    "subtype": ("subtype",),
    "model": ("model", "endpoint"),
    "heterogeneity": ("heterogeneity", "endpoint", "patient_covariates", "clinical.dimensions"),
    "explain": (),
    "report": None,  # the report shows the whole configuration
}


def config_slice(config: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """The part of a validated ``config`` that ``stage`` reads (:data:`SETTINGS`), always with
    cohort, seed and genome build. Keys absent from the config stay absent.

    >>> cfg = {"cohort": "c", "seed": 1, "genome_build": "GRCh38", "report": {"title": "t"},
    ...        "subtype": {"features": ["a"], "method": "gmm"}, "endpoint": {"kind": "response"}}
    >>> config_slice(cfg, "features")
    {'cohort': 'c', 'seed': 1, 'genome_build': 'GRCh38', 'endpoint': {'kind': 'response'}, 'subtype': {'features': ['a']}}
    """
    keys = SETTINGS[stage]
    if keys is None:
        return dict(config)
    out: dict[str, Any] = {}
    for dotted in (*_BASE, *keys):
        src, dst = config, out
        *parents, last = dotted.split(".")
        for p in parents:
            if not isinstance(src.get(p), Mapping):
                break
            src, dst = src[p], dst.setdefault(p, {})
        else:
            if last in src:
                dst[last] = src[last]
    return out


def _resolve(ref: str) -> str:
    stage, key = ref.split(":")
    return OUTPUTS[stage][key]


def output_paths(stage: str, results: str | Path, **wildcards: str) -> dict[str, Path]:
    """The stage's outputs under ``results`` (directory outputs without their trailing slash)."""
    return {k: Path(results) / v.format(**wildcards).rstrip("/") for k, v in OUTPUTS[stage].items()}


def input_paths(stage: str, results: str | Path) -> dict[str, Path]:
    """The files the stage reads under ``results``."""
    return {k: Path(results) / _resolve(ref).rstrip("/") for k, ref in INPUTS.get(stage, {}).items()}


@dataclass(frozen=True)
class StageFiles:
    """The paths one stage reads (``inputs``) and writes (``outputs``), by key."""

    stage: str
    inputs: Mapping[str, Path] = field(default_factory=dict)
    outputs: Mapping[str, Path] = field(default_factory=dict)

    @classmethod
    def under(cls, results: str | Path, stage: str, **wildcards: str) -> StageFiles:
        """The registry's paths of ``stage`` under the results folder ``results``."""
        return cls(stage, input_paths(stage, results), output_paths(stage, results, **wildcards))

    @classmethod
    def of(cls, where: StageFiles | str | Path, stage: str, **wildcards: str) -> StageFiles:
        """``where`` as it is, or the registry's paths under a results folder."""
        return where if isinstance(where, StageFiles) else cls.under(where, stage, **wildcards)

    def input(self, key: str) -> Path:
        """The path of input ``key``; an error naming the option when it was not given."""
        return self._get(self.inputs, key, "--input")

    def output(self, key: str) -> Path:
        """The path of output ``key`` (its folder is created); an error when it was not given."""
        path = self._get(self.outputs, key, "--output")
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _get(self, paths: Mapping[str, Path], key: str, option: str) -> Path:
        if key not in paths:
            raise ConfigError(
                f"stratify {self.stage}: no {option} {key}=PATH given (given: {', '.join(sorted(paths)) or 'none'})"
            )
        return Path(paths[key])


def parse_pairs(pairs: list[str] | None, option: str) -> dict[str, Path]:
    """``["key=path", ...]`` (the CLI's --input/--output) as a dict."""
    out: dict[str, Path] = {}
    for p in pairs or []:
        key, sep, path = p.partition("=")
        if not sep or not key or not path:
            raise ConfigError(f"{option} {p!r}: expected KEY=PATH")
        out[key] = Path(path)
    return out


class DeclaredFiles:
    """A results folder as the report sees it: ``files / "pgx" / "summary.json"`` is the path
    the rule declared for that file, and a file the rule did not declare is an error, so the
    report reads only its declared inputs.

    >>> f = DeclaredFiles({"pgx/summary.json": Path("/r/pgx/summary.json"), "explain/waterfalls/": Path("/r/w")})
    >>> f / "pgx" / "summary.json", f / "explain" / "waterfalls/waterfall_P1.png"
    (PosixPath('/r/pgx/summary.json'), PosixPath('/r/w/waterfall_P1.png'))
    >>> f / "pgx" / "calls.parquet"
    Traceback (most recent call last):
    stratify.errors.ConfigError: report: reads pgx/calls.parquet, which its rule does not declare as an input (add it to stratify.io.layout.REPORT_READS)
    """

    def __init__(self, files: Mapping[str, Path], prefix: str = "", root: Path | None = None):
        self._files = {k: Path(v) for k, v in files.items()}
        self._prefix = prefix
        self._root = root if root is not None else _common_root(self._files.values())

    @classmethod
    def from_inputs(cls, inputs: Mapping[str, Path], stage: str = "report") -> DeclaredFiles:
        """From a stage's inputs by key (:data:`INPUTS`), named by their place in the layout."""
        refs = INPUTS[stage]
        return cls({_resolve(refs[k]): Path(p) for k, p in inputs.items() if k in refs})

    def __truediv__(self, name: str) -> Path | DeclaredFiles:
        key = self._prefix + str(name)
        if key in self._files:
            return self._files[key]
        for rel, path in self._files.items():
            if rel.endswith("/") and key.startswith(rel):
                return path / key[len(rel) :]
        if any(rel.startswith(key + "/") for rel in self._files):
            return DeclaredFiles(self._files, key + "/", self._root)
        raise ConfigError(
            f"report: reads {key}, which its rule does not declare as an input (add it to "
            "stratify.io.layout.REPORT_READS)"
        )

    def __str__(self) -> str:
        return str(self._root / self._prefix) if self._prefix else str(self._root)


def _common_root(paths) -> Path:
    """The folder the paths have in common two levels up (results/<cohort> for results/<cohort>/<stage>/<file>)."""
    parents = [p.parent.parent for p in paths]
    if not parents:
        return Path(".")
    root = parents[0]
    while any(root not in (p, *p.parents) for p in parents):
        root = root.parent
    return root
