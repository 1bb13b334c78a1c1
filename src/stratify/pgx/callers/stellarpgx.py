"""StellarPGx: per-sample ``<sample>_<gene>.alleles`` files or a summary TSV."""

from __future__ import annotations

import re
from pathlib import Path

from stratify.errors import PgxError, where
from stratify.pgx.callers.common import join_note, read_lines, row

#: The column (or field) that holds the diplotype, for error messages.
COLUMN = "diplotype (Result)"

_STELLAR_SECTION = re.compile(r"^[A-Z][A-Za-z ]*:$")


def _stellar_call(text: str, background: str = "") -> tuple[list[str], str, str]:
    """StellarPGx's result text -> (candidates, status, note)."""
    call, _, extra = text.partition("\t")
    call, extra = call.strip(), extra.strip()
    bracket = re.fullmatch(r"\[(.*)\]", call)
    if call.startswith("Possible novel allele") or bracket:
        bg = bracket.group(1).strip() if bracket else background.strip("[] ")
        note = "StellarPGx: possible novel allele or suballele" + (f"; likely background alleles {bg}" if bg else "")
        return [], "no-call", join_note(note, extra)
    if "*" not in call:  # No_call, "Possible rare CYP2D6/2D7 hybrid present", ...
        return [], "no-call", join_note(f"StellarPGx: {call}" if call else "StellarPGx: no result", extra)
    if re.search(r"duplication|deletion|hybrid", extra, re.IGNORECASE):
        # the candidates come from SNVs alone: which haplotype carries the extra or missing gene is unknown
        return [], "no-call", join_note(f"StellarPGx: {call}", extra)
    options = [o.strip() for o in re.split(r"\s+or\s+", call)]
    return options, ("ambiguous" if len(options) > 1 else "called"), extra


def read_stellarpgx(path: Path, *, sample: str | None = None, gene: str | None = None) -> list[list]:
    """A StellarPGx ``<sample>_<gene>.alleles`` file or a summary TSV ``sample<TAB>diplotype[<TAB>note]``."""
    lines = read_lines(path, "a StellarPGx .alleles file or summary TSV")
    if not any(x.strip() for x in lines):
        raise PgxError(f"{path}: empty file; expected a StellarPGx .alleles file or summary TSV")
    if any(x.strip() == "Result:" for x in lines):
        return [_read_stellar_alleles(path, lines, sample, gene)]
    if gene is None:
        raise PgxError(
            f"{path}: a StellarPGx summary does not name its gene; give the gene (gene: CYP2D6 in the config entry)"
        )
    rows = []
    for n, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if n == 1 and fields[0].strip().lower() in ("sample", "sample_id", "samples"):
            continue
        if not 2 <= len(fields) <= 3 or not fields[0].strip():
            raise PgxError(
                f"{where(path, n)}: expected 'sample<TAB>diplotype[<TAB>note]' (StellarPGx summary), "
                f"found {len(fields)} field(s)"
            )
        candidates, status, note = _stellar_call("\t".join(f.strip() for f in fields[1:]))
        rows.append(row(fields[0].strip(), gene, candidates, "stellarpgx", status, note, path, n, column=COLUMN))
    return rows


def _read_stellar_alleles(path: Path, lines: list[str], sample: str | None, gene: str | None) -> list:
    sections: dict[str, list[tuple[int, str]]] = {}
    current = None
    found_gene = None
    for n, line in enumerate(lines, start=1):
        m = re.match(r"^(\S+) Star Allele Calling with StellarPGx", line.strip())
        if m:
            found_gene = m.group(1).upper()
        elif _STELLAR_SECTION.match(line.strip()):
            current = line.strip()[:-1]
            sections.setdefault(current, [])
        elif current and line.strip():
            sections[current].append((n, line.rstrip()))
    g = found_gene or gene
    if g is None:
        raise PgxError(
            f"{path}: no line '<GENE> Star Allele Calling with StellarPGx'; expected it, or give the gene (gene: in the config entry)"
        )
    who = sample or path.name.removesuffix(".alleles").rsplit("_", 1)[0]
    result = sections.get("Result", [])
    n, text = result[0] if result else (None, "")

    def first(name: str) -> str:
        found = sections.get(name) or [(0, "")]  # a section header with no line under it is empty
        return found[0][1].strip()

    background = first("Likely background alleles")
    candidates, status, note = _stellar_call(text, background)
    extra = join_note(
        f"StellarPGx activity score: {first('Activity score')}" if first("Activity score") else "",
        f"metaboliser status: {first('Metaboliser status')}" if first("Metaboliser status") else "",
    )
    line = n if n is not None else next(i for i, x in enumerate(lines, start=1) if x.strip() == "Result:")
    return row(who, g, candidates, "stellarpgx", status, join_note(note, extra), path, line, column=COLUMN)
