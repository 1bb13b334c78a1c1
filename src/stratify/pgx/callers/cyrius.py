"""Cyrius (Illumina/Cyrius) CYP2D6 calls: ``<prefix>.tsv`` with ``Sample, Genotype, Filter``."""

from __future__ import annotations

import re
from itertools import product
from pathlib import Path

from stratify.errors import PgxError, where
from stratify.pgx.alleles.definitions import star_sort_key
from stratify.pgx.callers.common import COPIES, order_haplotypes, read_lines, row

#: The column (or field) that holds the diplotype, for error messages.
COLUMN = "Genotype"

_CYRIUS_FILTERS = ("PASS", "More_than_one_possible_genotype", "Not_assigned_to_haplotypes", "LowQ_high_CN")


def read_cyrius(path: Path, *, sample: str | None = None, gene: str | None = None) -> list[list]:
    """Cyrius ``<prefix>.tsv`` (header ``Sample, Genotype, Filter``); every call is CYP2D6."""
    if gene is not None and gene != "CYP2D6":
        raise PgxError(f"{path}: Cyrius calls only CYP2D6, not {gene}")
    rows = []
    lines = read_lines(path, "a Cyrius TSV")
    if not lines:
        raise PgxError(f"{path}: empty file; expected a Cyrius TSV")
    if lines[0].split("\t") != ["Sample", "Genotype", "Filter"]:
        raise PgxError(
            f"{where(path, 1)}: expected the Cyrius header 'Sample<TAB>Genotype<TAB>Filter', found {lines[0]!r}"
        )
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise PgxError(
                f"{where(path, n)}: expected 3 tab-separated fields (Sample, Genotype, Filter), found {len(fields)}"
            )
        sample, genotype, filt = (f.strip() for f in fields)
        if genotype == "None":
            rows.append(row(sample, "CYP2D6", [], "cyrius", "no-call", "", path, n, column=COLUMN))
            continue
        if filt == "PASS":
            rows.append(row(sample, "CYP2D6", [genotype], "cyrius", "called", "", path, n, column=COLUMN))
        elif filt == "LowQ_high_CN":
            note = "Cyrius LowQ_high_CN: >=6 CYP2D6 copies, copy number approximated (lower confidence)"
            rows.append(row(sample, "CYP2D6", [genotype], "cyrius", "called", note, path, n, column=COLUMN))
        elif filt == "More_than_one_possible_genotype":
            rows.append(row(sample, "CYP2D6", genotype.split(";"), "cyrius", "ambiguous", "", path, n, column=COLUMN))
        elif filt == "Not_assigned_to_haplotypes":
            note = f"Cyrius Not_assigned_to_haplotypes: {genotype}"
            options = _split_assignments(genotype)
            status = "ambiguous" if options else "no-call"
            rows.append(row(sample, "CYP2D6", options, "cyrius", status, note, path, n, column=COLUMN))
        else:
            raise PgxError(f"{where(path, n, 'Filter')}: {filt!r}; expected one of {', '.join(_CYRIUS_FILTERS)}")
    return rows


def _split_assignments(raw: str) -> list[str]:
    """Every way to split Cyrius's unassigned alleles (``*1_*2_*68``, ``*1x4``) into two haplotypes."""
    tokens: list[str] = []
    for t in raw.split("_"):
        m = COPIES.match(t)
        if not m or (m.group("n") is not None and not m.group("n").isdigit()):
            return []
        tokens += [m.group("allele")] * int(m.group("n") or 1)
    if len(tokens) < 2:
        return []
    first_at = {t: i for i, t in reversed(list(enumerate(tokens)))}

    def fmt(side: list[str]) -> str:
        counts: dict[str, int] = {}
        for t in sorted(side, key=lambda t: first_at[t]):
            counts[t] = counts.get(t, 0) + 1
        return "+".join(t if c == 1 else f"{t}x{c}" for t, c in counts.items())

    found: list[str] = []
    for mask in product((0, 1), repeat=len(tokens)):
        if 0 < sum(mask) < len(tokens):
            a = fmt([t for t, m in zip(tokens, mask) if m == 0])
            b = fmt([t for t, m in zip(tokens, mask) if m == 1])
            h1, h2 = order_haplotypes(a, b)
            d = f"{h1}/{h2}"
            if d not in found:
                found.append(d)
    return sorted(found, key=lambda d: [star_sort_key(x) for x in re.split(r"[/+x]", d) if x.startswith("*")])
