"""``stratify teh``: treatment-effect heterogeneity from published trial arms (outside the pipeline)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

log = logging.getLogger("stratify")


def add_parser(sub) -> None:
    """Register ``teh vr`` and ``teh griselda-arms``."""
    teh = sub.add_parser("teh", help="treatment-effect heterogeneity from trial arms").add_subparsers(
        dest="teh_command", required=True
    )
    vr = teh.add_parser(
        "vr",
        help="variance-ratio meta-analysis (lnVR, lnCVR) of treatment vs control arms",
        description="Compare the spread of outcomes on treatment and control, arm by arm, and pool across "
        "studies (Nakagawa 2015; effect sizes and pooling as R's metafor: escalc VR/CVR, rma FE "
        "and REML). See docs/heterogeneity.md.",
    )
    vr.add_argument(
        "--arms",
        required=True,
        help="arms table (TSV, or CSV by extension): study, arm, group (treatment/control), n, mean, "
        "sd; optional measure (pooled separately) and scale (arms compared on the same scale)",
    )
    vr.add_argument("--out", required=True, help="output folder: comparisons.tsv, pooled.json, forest.png")
    vr.add_argument("--log", help="also write the log to this file")
    vr.set_defaults(func=run_vr)
    gr = teh.add_parser(
        "griselda-arms",
        help="build the arms table of the GRISELDA reference check (Cipriani 2018)",
        description="Every non-placebo arm vs the placebo arm of the same study and scale (HAMD17, HAMD21, "
        "MADRS), n = endpoint_n, end-point or change score by the sign of the mean, as "
        "../shared/data/teh/PROVENANCE.md describes.",
    )
    gr.add_argument("--csv", required=True, help="cipriani2018_griselda_arms.csv")
    gr.add_argument("--out", required=True, help="arms table to write (TSV)")
    gr.add_argument("--log", help="also write the log to this file")
    gr.set_defaults(func=run_griselda)


def run_vr(args) -> None:
    """``teh vr``: pool variance ratios of an arms table."""
    from stratify.heterogeneity import variance_ratio as teh

    t0 = time.monotonic()
    paths = teh.run_vr(args.arms, args.out)
    log.info("teh vr done in %.1fs; outputs in %s", time.monotonic() - t0, paths["pooled"].parent)


def run_griselda(args) -> None:
    """``teh griselda-arms``: the GRISELDA arms table."""
    from stratify.heterogeneity import variance_ratio as teh

    arms, counts = teh.griselda_arms(args.csv)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    arms.to_csv(args.out, sep="\t", index=False)
    log.info(
        "%d arms (%d comparisons) written to %s; %s",
        len(arms),
        counts["comparisons"],
        args.out,
        ", ".join(f"{k}: {v}" for k, v in counts.items()),
    )
