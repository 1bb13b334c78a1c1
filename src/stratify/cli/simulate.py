"""``stratify simulate``: a simulated cohort with planted truth (or its null twin), or a
simulated consortium of several cohorts (``--consortium``)."""

from __future__ import annotations

import logging
import time

from stratify.cli.common import peak_rss_mib
from stratify.errors import InputError

log = logging.getLogger("stratify")


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _sizes(text: str) -> list[int]:
    try:
        return [int(t) for t in _csv(text)]
    except ValueError:
        raise InputError(f"--sizes {text}: expected whole numbers separated by commas, e.g. 1200,1000,800") from None


def _add_cohort_options(sim) -> None:
    """The options of one cohort (plain ``stratify simulate``)."""
    sim.add_argument("--n", type=int, help="number of patients (required without --consortium)")
    sim.add_argument("--out", help="output folder (required without --consortium)")
    sim.add_argument("--cohort", help="cohort name written into the config")
    sim.add_argument(
        "--teh",
        choices=["planted", "none"],
        help="two-arm randomised index treatment (escitalopram vs bupropion) with planted or no "
        "treatment-effect heterogeneity (docs/simulation.md)",
    )
    sim.add_argument(
        "--instruments",
        help="comma-separated symptom instruments to write (of HAMD17, QIDS_SR16, IDS_SR30; default all "
        "three); the config's endpoint and features follow (docs/simulation.md)",
    )
    sim.add_argument("--sites", help="comma-separated names of the 4 sites, replacing site_A..site_D in that order")
    sim.add_argument("--id-prefix", default="", help="put before every patient and sample id (e.g. B- gives B-P00001)")


def _add_consortium_options(sim) -> None:
    sim.add_argument(
        "--consortium",
        metavar="OUT",
        help="write a consortium of several cohorts (planted and null, different sites, instruments and "
        "sizes) with a consortium config and truth into OUT (docs/simulation.md)",
    )
    sim.add_argument("--name", help="with --consortium: the consortium's name (default simconsortium)")
    sim.add_argument(
        "--kinds",
        help="with --consortium: planted or null per cohort, comma-separated (default planted,planted,null)",
    )
    sim.add_argument("--sizes", help="with --consortium: patients per cohort, comma-separated (default 1200,1000,800)")
    sim.add_argument(
        "--configs-only",
        action="store_true",
        help="with --consortium: write only the configs (OUT/<name>.yaml, OUT/<name>/<cohort>.yaml with a simulate "
        "block whose data Snakemake writes into results/<cohort>/cohort/, as for the demo cohorts) and the truth",
    )


def add_parser(sub) -> None:
    """Register the command."""
    sim = sub.add_parser(
        "simulate", help="write a simulated cohort with planted truth (or its null twin), or a consortium"
    )
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
        help="with --null (or a consortium's null cohorts): 'hard' (default; skewed, bounded features on "
        "a continuum) or 'gaussian' (the null twin of earlier versions; docs/simulation.md)",
    )
    sim.add_argument("--snps", type=int, default=3000, help="common SNPs in the VCF (default 3000)")
    sim.add_argument(
        "--no-genotypes",
        action="store_true",
        help="write no VCF and no Cyrius CYP2D6 calls (a cohort without genetic data; the other "
        "files are the same as with them)",
    )
    _add_cohort_options(sim)
    _add_consortium_options(sim)
    sim.add_argument("--log")
    sim.set_defaults(func=run)


def _run_consortium(args) -> None:
    """Write the consortium (``--consortium OUT``)."""
    from stratify.simulate.consortium import KINDS, write_consortium, write_consortium_configs

    clash = [o for o, v in (("--n", args.n), ("--out", args.out), ("--cohort", args.cohort), ("--teh", args.teh)) if v]
    clash += [o for o, v in (("--null", args.null), ("--instruments", args.instruments), ("--sites", args.sites)) if v]
    clash += ["--id-prefix"] if args.id_prefix else []
    if clash:
        raise InputError(
            f"--consortium OUT cannot be combined with {', '.join(clash)}: a consortium's cohorts are set with "
            "--kinds and --sizes (sites, instruments and id prefixes differ by cohort; docs/simulation.md)"
        )
    options = {
        "seed": args.seed,
        "name": args.name or "simconsortium",
        "kinds": _csv(args.kinds) if args.kinds is not None else KINDS,
        "sizes": _sizes(args.sizes) if args.sizes else None,
        "genotypes": not args.no_genotypes,
        "null_kind": args.null_kind,
    }
    if args.configs_only:
        paths = write_consortium_configs(args.consortium, **options)
    else:
        paths = write_consortium(args.consortium, n_snps=args.snps, **options)
    log.info("consortium config: %s; truth: %s", paths["consortium"], paths["truth"])


def run(args) -> None:
    """Write the cohort's files and config (or the consortium's)."""
    from stratify.simulate.cohort import write_cohort

    t0 = time.monotonic()
    if args.consortium:
        _run_consortium(args)
        log.info(
            "simulated consortium written to %s in %.1fs (peak RSS %.0f MiB)",
            args.consortium,
            time.monotonic() - t0,
            peak_rss_mib(),
        )
        return
    only = [o for o, v in (("--name", args.name), ("--kinds", args.kinds), ("--sizes", args.sizes)) if v is not None]
    only += ["--configs-only"] if args.configs_only else []
    if only:
        raise InputError(f"{', '.join(only)} applies to a consortium: give --consortium OUT")
    if args.n is None or args.out is None:
        raise InputError("stratify simulate needs --n and --out (or --consortium OUT for a consortium of cohorts)")
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
        instruments=_csv(args.instruments) if args.instruments is not None else None,
        sites=_csv(args.sites) if args.sites is not None else None,
        id_prefix=args.id_prefix,
    )
    log.info(
        "simulated cohort written to %s in %.1fs (peak RSS %.0f MiB); run it with: snakemake --cores 2 --configfile %s",
        args.out,
        time.monotonic() - t0,
        peak_rss_mib(),
        paths["config"],
    )
