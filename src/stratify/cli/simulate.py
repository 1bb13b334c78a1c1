"""``stratify simulate``: a simulated cohort with planted truth (or its null twin)."""

from __future__ import annotations

import logging
import time

from stratify.cli.common import peak_rss_mib

log = logging.getLogger("stratify")


def add_parser(sub) -> None:
    """Register the command."""
    sim = sub.add_parser("simulate", help="write a simulated cohort with planted truth (or its null twin)")
    sim.add_argument("--n", type=int, required=True, help="number of patients")
    sim.add_argument("--seed", type=int, required=True, help="random seed (same seed, same files)")
    sim.add_argument(
        "--null",
        action="store_true",
        help="no subgroup and no effects (the null twin); its clustering features are bounded, rounded "
        "item sums and skewed log-normal markers driven by one continuum (see --null-kind)",
    )
    sim.add_argument(
        "--null-kind",
        choices=["hard", "gaussian"],
        default="hard",
        help="with --null: 'hard' (default; skewed, bounded features on a continuum) or 'gaussian' "
        "(the null twin of earlier versions: independent Gaussian latent traits; docs/simulation.md)",
    )
    sim.add_argument("--out", required=True, help="output folder")
    sim.add_argument("--snps", type=int, default=3000, help="common SNPs in the VCF (default 3000)")
    sim.add_argument(
        "--no-genotypes",
        action="store_true",
        help="write no VCF and no Cyrius CYP2D6 calls (a cohort without genetic data; the other "
        "files are the same as with them)",
    )
    sim.add_argument("--cohort", help="cohort name written into the config")
    sim.add_argument(
        "--teh",
        choices=["planted", "none"],
        help="two-arm randomised index treatment (escitalopram vs bupropion) with planted or no "
        "treatment-effect heterogeneity (docs/simulation.md)",
    )
    sim.add_argument("--log")
    sim.set_defaults(func=run)


def run(args) -> None:
    """Write the cohort's files and config."""
    from stratify.simulate.cohort import write_cohort

    t0 = time.monotonic()
    paths = write_cohort(
        args.out,
        n=args.n,
        seed=args.seed,
        null=args.null,
        n_snps=args.snps,
        cohort=args.cohort,
        teh=args.teh,
        genotypes=not args.no_genotypes,
        null_kind=args.null_kind,
    )
    log.info(
        "simulated cohort written to %s in %.1fs (peak RSS %.0f MiB); run it with: snakemake --cores 2 --configfile %s",
        args.out,
        time.monotonic() - t0,
        peak_rss_mib(),
        paths["config"],
    )
