"""``stratify model``: the pipeline stage (``fit``) and external validation (``apply``)."""

from __future__ import annotations

import logging
from pathlib import Path

from stratify.cli.common import add_stage_options, load_config, results_folder, run_stage

log = logging.getLogger("stratify")


def add_parser(sub) -> None:
    """Register ``model fit`` and ``model apply``."""
    model = sub.add_parser("model", help="response model").add_subparsers(dest="model_command", required=True)
    fit = model.add_parser("fit", help="pipeline stage: nested cross-validation of XGBoost and baselines")
    add_stage_options(fit)
    fit.add_argument(
        "--threads",
        type=int,
        default=1,
        help="fit this many permutation-test models side by side (default 1; the workflow passes "
        "the rule's threads); results do not depend on it",
    )
    fit.set_defaults(func=run_fit)
    ap_ = model.add_parser(
        "apply",
        help="external validation: score another cohort with a trained model and report its metrics",
        description="Score cohort B with a model folder from cohort A (results/A/model: xgboost.json and "
        "model_features.json) and report the metrics on B. Cohort B must have been run through the "
        "features stage. Features B lacks are an error unless --allow-missing; every feature's "
        "distribution in B is compared with training (feature_check.tsv). See docs/outputs.md.",
    )
    ap_.add_argument("--model", required=True, help="model folder of cohort A (results/<A>/model)")
    add_stage_options(ap_)
    ap_.add_argument("--out", help="output folder (default: <results of B>/external/<A cohort>)")
    ap_.add_argument(
        "--allow-missing",
        action="store_true",
        help="score even when model features are absent in B (they are then missing for every "
        "patient; the outputs say so)",
    )
    ap_.set_defaults(func=run_apply)


def run_fit(args) -> None:
    """``model fit``: the model stage."""
    from stratify.model.stage import run_model

    run_stage(args, "model", run_model, threads=args.threads)


def run_apply(args) -> None:
    """``model apply``: score cohort B (its config and results folder) with cohort A's model."""
    from stratify.model.external import apply_model
    from stratify.model.io import load_model

    cfg = load_config(args)
    results = results_folder(args, cfg)
    _, meta = load_model(args.model)
    out = Path(args.out) if args.out else results / "external" / meta["training"]["cohort"]
    apply_model(
        args.model,
        results / "features" / "features.parquet",
        out,
        cohort=cfg["cohort"],
        endpoint=cfg["endpoint"],
        seed=cfg["seed"],
        n_boot=cfg["model"]["n_bootstrap"],
        allow_missing=args.allow_missing,
    )
    log.info("external validation written to %s (summary.md, metrics.json, feature_check.tsv)", out)
