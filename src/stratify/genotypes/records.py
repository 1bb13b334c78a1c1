"""The records of one shard of a genotype plan, whatever the input format.

VCF only here (``plan["format"]`` absent or ``"vcf"``): :func:`plan_records` is exactly
:func:`stratify.genotypes.vcfscan.scan` over the shard's intervals.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from stratify.errors import GenotypeError
from stratify.genotypes.vcfscan import Record, ScanStats, Shard, scan


def plan_records(
    plan: dict[str, Any],
    shard: dict[str, Any],
    *,
    columns,
    stats: ScanStats | None = None,
    want: set[tuple[str, int]] | None = None,
    yield_skipped: bool = False,
    dosages: bool = False,
) -> Iterator[Record]:
    """The records of ``shard`` (one of ``plan["shards"]``) for the samples ``columns``."""
    fmt = plan.get("format", "vcf")
    if fmt != "vcf":
        raise GenotypeError(f"genotype plan format {fmt!r}: expected vcf")
    return scan(
        plan["vcf"],
        Shard.from_json(shard).intervals,
        columns=columns,
        stats=stats,
        want=want,
        yield_skipped=yield_skipped,
        dosages=dosages,
    )
