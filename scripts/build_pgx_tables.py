"""Rebuild the CPIC phenotype tables shipped in resources/pgx from CPIC's own data.

Usage (from the repository root)::

    uv run python scripts/build_pgx_tables.py            # rewrite resources/pgx
    uv run python scripts/build_pgx_tables.py --check    # exit 1 if a shipped table differs

Sources (CPIC content, CC0, as PharmCAT ships it; see ../shared/data/pgx/PROVENANCE.md and
resources/SOURCES.md for commits and checksums):

* ``pharmcat/phenotype/cpic_CYP2D6.json``: CPIC CYP2D6 data, version 2024-08-27 (173 allele
  names with activity value and function, 15,051 diplotype -> activity score -> phenotype rows).
* ``pharmcat/phenotype/CYP2C19.json``, ``pharmcat/phenotype/CYP2B6.json``: CPIC allele functions
  and diplotype -> phenotype rows, version 2025-11-05 (666 and 1,176 rows).

Outputs:

* ``CYP2D6_activity.tsv``: ``allele, activity_value, function``, one row per CPIC allele name in
  CPIC's order, the values verbatim (``1.0``, ``0.25``, ``≥3.0`` for ``*1x≥3``, ``n/a`` where CPIC
  gives no value).
* ``CYP2D6_phenotype_bands.tsv``: ``phenotype, activity_score_min, activity_score_max``: the
  activity-score range of each phenotype among CPIC's 15,051 rows (the maximum of the open-ended
  Ultrarapid band is empty).
* ``CYP2C19_phenotype.json``, ``CYP2B6_phenotype.json``: byte-identical copies.

Before writing, the script checks what stratify's rules rely on, and stops (exit 1) if CPIC's
data break it: every duplication ``*XxK`` scores K x ``*X`` and ``*Xx≥3`` at least 3 x ``*X``; every
diplotype's activity score is the sum of its two alleles' values (``≥`` when one is a lower
bound); the phenotype bands do not overlap, are contiguous in steps of 0.25 and are Caudle et al.
2020's cut-offs (Poor 0, Intermediate 0.25-1.0, Normal 1.25-2.25, Ultrarapid above 2.25); every
CYP2C19/CYP2B6 diplotype row uses alleles of the table's function map.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO.parent / "shared" / "data" / "pgx" / "pharmcat" / "phenotype"
OUT = REPO / "resources" / "pgx"
COPIES = {"CYP2C19.json": "CYP2C19_phenotype.json", "CYP2B6.json": "CYP2B6_phenotype.json"}
# Caudle et al. 2020 (Clin Transl Sci 13:116), CPIC's CYP2D6 activity-score cut-offs.
CAUDLE_2020 = {
    "Poor Metabolizer": (0.0, 0.0),
    "Intermediate Metabolizer": (0.25, 1.0),
    "Normal Metabolizer": (1.25, 2.25),
    "Ultrarapid Metabolizer": (2.5, None),
}
_DUP = re.compile(r"^(?P<base>\*\d+)x(?P<n>\d+|≥\d+)$")


class SourceError(Exception):
    """CPIC's data do not satisfy a rule stratify relies on."""


def _value(text: str) -> tuple[float | None, bool]:
    """CPIC's activity text -> (value, is a lower bound); ``n/a`` -> (None, False)."""
    if text == "n/a":
        return None, False
    return float(text.lstrip("≥")), text.startswith("≥")


def _check_duplications(values: dict[str, str]) -> None:
    for name, text in values.items():
        m = _DUP.match(name)
        if not m:
            continue
        base, n = _value(values[m.group("base")]), m.group("n")
        got = _value(text)
        k = int(n.lstrip("≥"))
        want = (None, False) if base[0] is None else (k * base[0], n.startswith("≥") and base[0] > 0)
        if got != want:
            raise SourceError(f"cpic_CYP2D6.json: {name} has {text}, not {k} x {m.group('base')}")


def _cyp2d6_bands(d: dict) -> dict[str, tuple[float, float | None]]:
    values = {a["name"]: a["activityValue"] for a in d["namedAlleles"]}
    if values != d["activityValues"]:
        raise SourceError("cpic_CYP2D6.json: namedAlleles and activityValues disagree")
    _check_duplications(values)
    lo: dict[str, float] = {}
    hi: dict[str, float | None] = {}
    for row in d["diplotypes"]:
        parts = [_value(values[a]) for a, n in row["diplotypekey"].items() for _ in range(n)]
        if any(v is None for v, _ in parts):
            if (row["activityScore"], row["generesult"]) != ("n/a", "Indeterminate"):
                raise SourceError(
                    f"cpic_CYP2D6.json: {row['diplotype']} has an allele without a value but "
                    f"score {row['activityScore']} and phenotype {row['generesult']}"
                )
            continue
        total, lower = sum(v for v, _ in parts), any(b for _, b in parts)
        text = ("≥" if lower else "") + str(total)
        if text != row["activityScore"] or row["phenotype"] != row["generesult"]:
            raise SourceError(
                f"cpic_CYP2D6.json: {row['diplotype']} scores {row['activityScore']}, not the sum "
                f"of its alleles ({text})"
            )
        p = row["generesult"]
        lo[p] = min(lo.get(p, total), total)
        hi[p] = None if lower or hi.get(p, 0.0) is None else max(hi.get(p, total), total)
    bands = {p: (lo[p], hi[p]) for p in sorted(lo, key=lo.get)}
    if bands != CAUDLE_2020:
        raise SourceError(f"cpic_CYP2D6.json: phenotype bands {bands} are not Caudle et al. 2020's {CAUDLE_2020}")
    return bands


def _check_lookup(name: str, d: dict) -> None:
    for row in d["diplotypes"]:
        alleles = row["diplotype"].split("/")
        if len(alleles) != 2 or any(a not in d["haplotypes"] for a in alleles):
            raise SourceError(f"{name}: diplotype {row['diplotype']} uses an allele outside the function map")
        if row["phenotype"] != row["generesult"]:
            raise SourceError(f"{name}: {row['diplotype']} has two different phenotypes")


def build(shared: Path) -> dict[str, bytes]:
    """The shipped files' contents, by file name, built from the CPIC files in ``shared``."""
    d6 = json.loads((shared / "cpic_CYP2D6.json").read_text(encoding="utf-8"))
    bands = _cyp2d6_bands(d6)
    lines = ["allele\tactivity_value\tfunction"]
    lines += [f"{a['name']}\t{a['activityValue']}\t{a['functionValue']}" for a in d6["namedAlleles"]]
    files = {"CYP2D6_activity.tsv": ("\n".join(lines) + "\n").encode("utf-8")}
    lines = ["phenotype\tactivity_score_min\tactivity_score_max"]
    lines += [f"{p}\t{lo}\t{'' if hi is None else hi}" for p, (lo, hi) in bands.items()]
    files["CYP2D6_phenotype_bands.tsv"] = ("\n".join(lines) + "\n").encode("utf-8")
    for source, target in COPIES.items():
        raw = (shared / source).read_bytes()
        _check_lookup(source, json.loads(raw))
        files[target] = raw
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--shared",
        type=Path,
        default=DEFAULT_SHARED,
        help=f"folder with cpic_CYP2D6.json, CYP2C19.json, CYP2B6.json (default {DEFAULT_SHARED})",
    )
    ap.add_argument("--check", action="store_true", help="compare with resources/pgx instead of writing")
    args = ap.parse_args(argv)
    try:
        files = build(args.shared)
    except (OSError, SourceError, KeyError, ValueError) as e:
        print(f"build_pgx_tables: {e}", file=sys.stderr)
        return 1
    stale = [n for n, b in files.items() if not (OUT / n).is_file() or (OUT / n).read_bytes() != b]
    if args.check:
        for n in stale:
            print(f"build_pgx_tables: resources/pgx/{n} differs from what CPIC's data build", file=sys.stderr)
        return 1 if stale else 0
    for n in stale:
        (OUT / n).write_bytes(files[n])
        print(f"wrote resources/pgx/{n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
