"""Command-line interface: ``stratify <command>``.

Each pipeline stage is one command over :mod:`stratify.stages`; the Snakemake rules call
these commands. Errors caused by inputs or configuration print one line
(``stratify: error: <file>: <problem>``) and exit with status 2; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from stratify import __version__
from stratify.errors import StratifyError

log = logging.getLogger("stratify")

STAGE_HELP = {
    "validate": "check the input tables against the schemas; write typed Parquet copies",
    "genotypes": "read the VCF in shards: PGx-position genotypes, genotype principal components, polygenic scores",
    "clinical": "symptom totals, dimensions, endpoint, treatment history, biomarkers",
    "trd": "treatment adequacy and TRD staging under every published definition, side by side",
    "features": "join clinical, PGx and genotype features into one table per patient",
    "subtype": "Gaussian-mixture subtypes with k chosen by BIC (k = 1 allowed)",
    "explain": "SHAP values, importance and plots for the final model",
    "heterogeneity": "individual treatment effects between two randomised arms (or why not analysed)",
}


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (``ru_maxrss``; KiB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _setup_logging(logfile: str | None, quiet: bool = False) -> None:
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    h = logging.StreamHandler(sys.stderr)
    h.setLevel(logging.WARNING if quiet else logging.INFO)
    h.setFormatter(fmt)
    root.addHandler(h)
    if logfile:
        Path(logfile).parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(logfile, mode="w")
        fh.setFormatter(fmt)
        root.addHandler(fh)
    for noisy in ("matplotlib", "numba", "shap", "fontTools", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="cohort config (YAML), see docs/inputs.md")
    p.add_argument("--results", help="results folder for this cohort (default: results/<cohort>)")
    p.add_argument("--log", help="also write the log to this file")
    p.add_argument("--quiet", action="store_true", help="only warnings and errors on the terminal")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="stratify",
        description="Pharmacogenomic and biomarker stratification for treatment-resistant depression.",
        epilog="Run the whole workflow with snakemake (see README.md); these commands are its stages.")
    ap.add_argument("--version", action="version", version=f"stratify {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = sub.add_parser("simulate", help="write a simulated cohort with planted truth (or its null twin)")
    sim.add_argument("--n", type=int, required=True, help="number of patients")
    sim.add_argument("--seed", type=int, required=True, help="random seed (same seed, same files)")
    sim.add_argument("--null", action="store_true", help="no subgroup and no effects (the null twin)")
    sim.add_argument("--out", required=True, help="output folder")
    sim.add_argument("--snps", type=int, default=3000, help="common SNPs in the VCF (default 3000)")
    sim.add_argument("--no-genotypes", action="store_true",
                     help="write no VCF and no Cyrius CYP2D6 calls (a cohort without genetic data; the other "
                          "files are the same as with them)")
    sim.add_argument("--cohort", help="cohort name written into the config")
    sim.add_argument("--teh", choices=["planted", "none"],
                     help="two-arm randomised index treatment (escitalopram vs bupropion) with planted or no "
                          "treatment-effect heterogeneity (docs/simulation.md)")
    sim.add_argument("--log")

    for name in ("validate", "genotypes", "clinical", "trd", "features", "subtype", "explain", "heterogeneity"):
        sp = sub.add_parser(name, help=STAGE_HELP[name])
        _common(sp)
        if name == "genotypes":
            sp.add_argument("--step", choices=["plan", "pca", "shard", "merge"],
                            help="run one step of the sharded stage (what Snakemake's genotypes_* jobs do); "
                                 "default: every step here")
            sp.add_argument("--job", help="with --step shard: the shard to read (rNNNN_cNNNN, from plan.json)")
            sp.add_argument("--processes", type=int, default=1,
                            help="without --step: read the shards in this many processes (default 1)")
    pgx = sub.add_parser("pgx", help="pharmacogenomics").add_subparsers(dest="pgx_command", required=True)
    _common(pgx.add_parser("run", help="pipeline stage: CYP2C19 and CYP2B6 from the VCF, other tools' calls, CPIC phenotypes"))
    call = pgx.add_parser(
        "call", help="call star-allele diplotypes and CPIC phenotypes from a VCF (no config needed)",
        description="Call diplotypes from a bgzipped or plain GRCh38 VCF against the CPIC/PharmVar allele "
                    "definitions shipped in resources/pgx (PharmCAT's matching rules: missing positions are "
                    "reported, never read as reference; every best-scoring candidate is kept; for CYP2B6 the other "
                    "phasings of unphased genotypes too, such as *4/*9 beside *1/*6). A VCF whose "
                    "header says GRCh37/hg19 is refused: lift it over to GRCh38 first.")
    call.add_argument("--gene", required=True, choices=["CYP2C19", "CYP2B6"],
                      help="gene to call (CYP2D6 needs copy-number data: use a dedicated caller and read its "
                           "output with the pipeline)")
    call.add_argument("--vcf", required=True, help="VCF (.vcf, .vcf.gz; an index speeds up region reading)")
    call.add_argument("--out", required=True, help="output TSV, or - for standard output")
    call.add_argument("--sample", action="append", dest="samples", metavar="NAME",
                      help="call only this sample (repeatable); a name not in the VCF is an error")
    call.add_argument("--all-matches", action="store_true",
                      help="keep every matching diplotype, not only the best-scoring ones: a sample with "
                           "several matches is then 'ambiguous' (phenotype Indeterminate unless all agree)")
    call.add_argument("--log")
    phe = pgx.add_parser(
        "phenotype", help="CPIC phenotypes and CYP2D6 activity scores of diplotypes called elsewhere",
        description="Phenotype diplotype calls made by any caller (like PharmCAT's phenotyper over outside "
                    "calls), with CPIC's tables shipped in resources/pgx: CYP2B6, CYP2C19, CYP2D6. Writes sample, "
                    "gene, diplotype, phenotype, activity_score, activity_lower_bound, status, reason, "
                    "alternatives, candidate_phenotypes. See docs/pgx.md.")
    phe.add_argument("--calls", required=True,
                     help="calls file, or - for standard input; default format: TSV with columns sample, gene, "
                          "diplotype (optional status, alternatives, note)")
    phe.add_argument("--out", required=True, help="output TSV, or - for standard output")
    phe.add_argument("--tool", default="plain",
                     help="format of --calls: plain (default), cyrius, pharmcat_outside, pharmcat_report, "
                          "pharmcat_phenotype, pypgx, aldy, stellarpgx")
    phe.add_argument("--sample", help="sample name for single-sample formats (pharmcat_outside, ...)")
    phe.add_argument("--log")
    model = sub.add_parser("model", help="response model").add_subparsers(dest="model_command", required=True)
    fit = model.add_parser("fit", help="pipeline stage: nested cross-validation of XGBoost and baselines")
    _common(fit)
    fit.add_argument("--threads", type=int, default=1,
                     help="fit this many permutation-test models side by side (default 1; the workflow passes "
                          "the rule's threads); results do not depend on it")
    ap_ = model.add_parser(
        "apply", help="external validation: score another cohort with a trained model and report its metrics",
        description="Score cohort B with a model folder from cohort A (results/A/model: xgboost.json and "
                    "model_features.json) and report the metrics on B. Cohort B must have been run through the "
                    "features stage. Features B lacks are an error unless --allow-missing; every feature's "
                    "distribution in B is compared with training (feature_check.tsv). See docs/outputs.md.")
    ap_.add_argument("--model", required=True, help="model folder of cohort A (results/<A>/model)")
    _common(ap_)
    ap_.add_argument("--out", help="output folder (default: <results of B>/external/<A cohort>)")
    ap_.add_argument("--allow-missing", action="store_true",
                     help="score even when model features are absent in B (they are then missing for every "
                          "patient; the outputs say so)")
    rep = sub.add_parser("report", help="write the self-contained HTML report")
    _common(rep)
    rep.add_argument("--out", help="HTML file (default: <results>/report/report.html)")
    teh = sub.add_parser("teh", help="treatment-effect heterogeneity from trial arms").add_subparsers(
        dest="teh_command", required=True)
    vr = teh.add_parser(
        "vr", help="variance-ratio meta-analysis (lnVR, lnCVR) of treatment vs control arms",
        description="Compare the spread of outcomes on treatment and control, arm by arm, and pool across "
                    "studies (Nakagawa 2015; effect sizes and pooling as R's metafor: escalc VR/CVR, rma FE "
                    "and REML). See docs/heterogeneity.md.")
    vr.add_argument("--arms", required=True,
                    help="arms table (TSV, or CSV by extension): study, arm, group (treatment/control), n, mean, "
                         "sd; optional measure (pooled separately) and scale (arms compared on the same scale)")
    vr.add_argument("--out", required=True, help="output folder: comparisons.tsv, pooled.json, forest.png")
    vr.add_argument("--log", help="also write the log to this file")
    gr = teh.add_parser(
        "griselda-arms", help="build the arms table of the GRISELDA reference check (Cipriani 2018)",
        description="Every non-placebo arm vs the placebo arm of the same study and scale (HAMD17, HAMD21, "
                    "MADRS), n = endpoint_n, end-point or change score by the sign of the mean, as "
                    "../shared/data/teh/PROVENANCE.md describes.")
    gr.add_argument("--csv", required=True, help="cipriani2018_griselda_arms.csv")
    gr.add_argument("--out", required=True, help="arms table to write (TSV)")
    gr.add_argument("--log", help="also write the log to this file")
    run = sub.add_parser("run", help="every stage in order without Snakemake (quick runs, tests)")
    _common(run)
    return ap


def _load(args):
    from stratify.config import load_config

    cfg = load_config(args.config)
    results = Path(args.results) if args.results else Path("results") / cfg["cohort"]
    return cfg, results


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(getattr(args, "log", None), getattr(args, "quiet", False))
    t0 = time.monotonic()
    try:
        if args.command == "simulate":
            from stratify.simulate.cohort import write_cohort

            paths = write_cohort(args.out, n=args.n, seed=args.seed, null=args.null, n_snps=args.snps,
                                 cohort=args.cohort, teh=args.teh, genotypes=not args.no_genotypes)
            log.info("simulated cohort written to %s in %.1fs (peak RSS %.0f MiB); run it with: snakemake "
                     "--cores 2 --configfile %s", args.out, time.monotonic() - t0, peak_rss_mib(), paths["config"])
            return 0
        if args.command == "pgx" and args.pgx_command == "call":
            from stratify.pgx.api import call_vcf

            calls = call_vcf(args.vcf, gene=args.gene, samples=args.samples, top_only=not args.all_matches)
            out = sys.stdout if args.out == "-" else args.out
            try:
                calls.to_csv(out, sep="\t", index=False)
            except OSError as e:   # a missing folder, a directory, no permission: the user's --out
                from stratify.errors import PgxError

                raise PgxError(f"{args.out}: cannot write the calls TSV ({e.strerror or e}); give --out a file "
                               "path in an existing, writable folder, or - for standard output") from None
            counts = calls["status"].value_counts().to_dict()
            log.info("%d samples called (%s)%s", len(calls), ", ".join(f"{k}: {v}" for k, v in counts.items()),
                     "" if args.out == "-" else f"; written to {args.out}")
            return 0
        if args.command == "pgx" and args.pgx_command == "phenotype":
            from stratify.pgx.api import phenotype_from_cli, write_tsv_out

            table = phenotype_from_cli(args.calls, tool=args.tool, sample=args.sample)
            write_tsv_out(table, args.out, "phenotype TSV")
            counts = table["phenotype"].replace("", "no phenotype").value_counts().to_dict()
            log.info("%d calls phenotyped (%s)%s", len(table), ", ".join(f"{k}: {v}" for k, v in counts.items()),
                     "" if args.out == "-" else f"; written to {args.out}")
            return 0
        if args.command == "teh":
            from stratify.heterogeneity import variance_ratio as teh

            if args.teh_command == "griselda-arms":
                arms, counts = teh.griselda_arms(args.csv)
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                arms.to_csv(args.out, sep="\t", index=False)
                log.info("%d arms (%d comparisons) written to %s; %s", len(arms), counts["comparisons"], args.out,
                         ", ".join(f"{k}: {v}" for k, v in counts.items()))
                return 0
            paths = teh.run_vr(args.arms, args.out)
            log.info("teh vr done in %.1fs; outputs in %s", time.monotonic() - t0, paths["pooled"].parent)
            return 0
        from stratify import stages

        cfg, results = _load(args)
        if args.command == "model" and args.model_command == "apply":
            from stratify.model.external import apply_model
            from stratify.model.io import load_model

            _, meta = load_model(args.model)
            out = Path(args.out) if args.out else results / "external" / meta["training"]["cohort"]
            apply_model(args.model, results / "features" / "features.parquet", out, cohort=cfg["cohort"],
                        endpoint=cfg["endpoint"], seed=cfg["seed"], n_boot=cfg["model"]["n_bootstrap"],
                        allow_missing=args.allow_missing)
            log.info("external validation written to %s (summary.md, metrics.json, feature_check.tsv)", out)
        elif args.command == "report":
            out = Path(args.out) if args.out else results / "report" / "report.html"
            stages.run_report(cfg, results, out)
            log.info("report written to %s in %.1fs (peak RSS %.0f MiB)", out, time.monotonic() - t0, peak_rss_mib())
        elif args.command == "run":
            out = stages.run_all(cfg, results)
            log.info("all stages done; report: %s", out)
        else:
            name = args.command
            if name == "pgx" and args.pgx_command != "run":
                raise AssertionError(args.pgx_command)
            if name == "genotypes":
                stages.run_genotypes(cfg, results, step=args.step, job=args.job, processes=args.processes)
            elif name == "model":
                stages.run_model(cfg, results, threads=args.threads)
            else:
                stages.STAGES[name](cfg, results)
            log.info("stage %s done in %.1fs (peak RSS %.0f MiB); outputs in %s", name, time.monotonic() - t0,
                     peak_rss_mib(), results / name)
    except StratifyError as exc:
        log.debug("user error", exc_info=True)
        msg = f"stratify: error: {exc}"
        print(msg, file=sys.stderr)
        for h in logging.getLogger().handlers:
            if isinstance(h, logging.FileHandler):
                h.stream.write(msg + "\n")
                h.flush()
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
