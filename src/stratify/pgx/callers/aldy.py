"""Aldy ``.aldy`` files: solutions per sample and gene, reduced to major star alleles."""

from __future__ import annotations

import re
from pathlib import Path

from stratify.errors import PgxError, where
from stratify.pgx.callers.common import diplotype, join_note, read_lines, row

#: The column (or field) that holds the diplotype, for error messages.
COLUMN = "Major"

_ALDY_HEADER = ["Sample", "Gene", "SolutionID", "Major", "Minor"]
_ALDY_ALLELE = re.compile(r"^\*(?P<num>\d+)[A-Z]*(?:\.\d+)*(?:\.ALDY(?:_\d+)?)?(?P<like>-like)?$")


def _aldy_major(major: str, path: Path, line: int) -> str:
    """``*1/*4+*4.021.ALDY`` -> ``*1/*4+*4``: suballele numbers, Aldy's novel-suballele tag and
    legacy letters go; ``-like`` (a novel function-changing variant) and unknown names stay."""
    haps = major.split("/")
    if len(haps) != 2 or not all(h.strip() for h in haps) or any(not t for h in haps for t in h.split("+")):
        raise PgxError(
            f"{where(path, line, 'Major')}: {major!r} is not a diplotype; expected two haplotypes joined by '/', "
            "like '*1/*4+*4.021'"
        )

    def one(token: str) -> str:
        m = _ALDY_ALLELE.match(token.strip())
        return f"*{m.group('num')}{m.group('like') or ''}" if m else token.strip()

    return "/".join("+".join(one(t) for t in h.split("+")) for h in haps)


def read_aldy(path: Path, *, sample: str | None = None, gene: str | None = None) -> list[list]:
    """Aldy ``.aldy``: one call per sample and gene from its solutions' ``Major`` alleles."""
    lines = read_lines(path, "an Aldy .aldy file")
    if not any(x.strip() for x in lines):
        raise PgxError(f"{path}: empty file; expected an Aldy .aldy file (header '#Sample<TAB>Gene<TAB>SolutionID...')")
    groups: dict[tuple[str, str], dict[str, list]] = {}
    seen_header, pending = False, ""
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line.startswith(("#Sample", "Sample\t")):
            header = [h.strip() for h in line.lstrip("#").split("\t")]
            if header[:5] != _ALDY_HEADER:
                raise PgxError(
                    f"{where(path, n)}: expected the Aldy header '#Sample<TAB>Gene<TAB>SolutionID<TAB>Major<TAB>Minor"
                    f"<TAB>Copy...', found {line!r}"
                )
            seen_header = True
            continue
        if line.startswith("#"):
            m = re.match(r"^#Solution\s+\d+\s*:\s*(.*)$", line)
            pending = m.group(1).strip() if m else pending
            continue
        if not seen_header:
            raise PgxError(
                f"{where(path, n)}: expected the Aldy header '#Sample<TAB>Gene<TAB>SolutionID<TAB>Major<TAB>Minor"
                f"<TAB>Copy...' first, found {line!r}"
            )
        fields = line.split("\t")
        if len(fields) < 5:
            raise PgxError(
                f"{where(path, n)}: {len(fields)} field(s); expected at least Sample, Gene, SolutionID, Major, Minor"
            )
        who, g, sol, major = (f.strip() for f in fields[:4])
        if not who or not g:
            raise PgxError(f"{where(path, n)}: empty Sample or Gene; expected both")
        if not sol.isdigit():
            raise PgxError(f"{where(path, n, 'SolutionID')}: {sol!r}; expected a solution number")
        solutions = groups.setdefault((who, g), {})
        if sol not in solutions:
            solutions[sol] = [major, n, pending]
            pending = ""
        elif solutions[sol][0] != major:
            raise PgxError(
                f"{where(path, n, 'Major')}: {major!r} differs from {solutions[sol][0]!r} on line {solutions[sol][1]} "
                f"for solution {sol}; expected one Major per solution"
            )
    if not groups:
        if gene is None:
            raise PgxError(f"{path}: no Aldy solutions (a no-call), and no gene= to name the gene of the no-call")
        who = sample or path.name.removesuffix(".aldy").removesuffix(f".{gene}")
        return [row(who, gene, [], "aldy", "no-call", "Aldy reported no solution", path, None, column=COLUMN)]
    rows = []
    for (who, g), solutions in groups.items():
        first_line = min(v[1] for v in solutions.values())
        candidates = [_aldy_major(major, path, n) for major, n, _ in solutions.values()]
        normal = {diplotype(c, g, path, first_line, column="Major")[0] for c in candidates}
        note = join_note(
            *(
                f"Aldy solution {sid}: {major}" + (f" ({comment})" if comment else "")
                for sid, (major, _, comment) in solutions.items()
            )
        )
        status = "ambiguous" if len(normal) > 1 else "called"
        rows.append(row(who, g, candidates, "aldy", status, note, path, first_line, column=COLUMN))
    return rows
