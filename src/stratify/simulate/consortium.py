"""A simulated consortium: several cohorts that differ as real sites do, some planted, some null.

``stratify simulate --consortium OUT --seed S`` writes, by default, three cohorts (:data:`KINDS`,
:data:`SIZES`, :data:`INSTRUMENT_SETS`)::

    OUT/consortium.yaml           the consortium config (cohort configs by relative path)
    OUT/truth.yaml                which cohort is planted and which is null, and how each was made
    OUT/<name>_a/config.yaml      cohort a: planted, 1,200 patients, HAMD-17 and IDS-SR30 items
    OUT/<name>_b/config.yaml      cohort b: planted, 1,000 patients, QIDS-SR16 and IDS-SR30 only
                                  (its HAMD-17 endpoint is converted from QIDS-SR16)
    OUT/<name>_c/config.yaml      cohort c: the hard null, 800 patients, all three instruments

with each cohort's tables, genotype files and truth beside its config
(:func:`stratify.simulate.cohort.write_cohort`). The cohorts differ in size, seed (S, S+1, ...),
site names (``site_a1``..``site_a4`` for cohort a, and so on), patient and sample id prefix
(``A-P00001``, ...) and symptom instruments. A planted cohort plants what ``stratify simulate``
plants (the immune-metabolic subgroup and the response effects); a null cohort is the null twin
(``--null``, by default the hard null). What they share is the consortium's agreement: the same
endpoint (HAMD-17 response at week 8, converted where a cohort rated no HAMD-17) and the same
feature lists, those every cohort can form (a symptom dimension only where every cohort rated its
instrument; :func:`stratify.simulate.relabel.feature_config`), so that a model trained on one
cohort can be applied to another. Each cohort config is valid on its own.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stratify.errors import InputError
from stratify.simulate.clinical import INSTRUMENTS, NULL_KINDS, SITES
from stratify.simulate.cohort import cohort_config, write_cohort
from stratify.simulate.relabel import check_labels, endpoint_config, feature_config

log = logging.getLogger(__name__)

__all__ = [
    "INSTRUMENT_SETS",
    "KINDS",
    "SIZES",
    "CohortPlan",
    "consortium_plan",
    "shared_features",
    "write_consortium",
    "write_consortium_configs",
]

#: The default consortium: what each cohort plants, its size, and which instruments it rated.
KINDS = ("planted", "planted", "null")
SIZES = (1200, 1000, 800)
INSTRUMENT_SETS = (("HAMD17", "IDS_SR30"), ("QIDS_SR16", "IDS_SR30"), ("HAMD17", "QIDS_SR16", "IDS_SR30"))
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
#: Smallest cohort (as a config's simulate.n).
MIN_N = 50


@dataclass(frozen=True)
class CohortPlan:
    """How one cohort of a simulated consortium is made (the arguments of ``write_cohort``)."""

    name: str
    folder: str
    kind: str
    n: int
    seed: int
    instruments: tuple[str, ...]
    sites: tuple[str, ...]
    id_prefix: str

    def truth(self) -> dict[str, Any]:
        """The cohort's entry in the consortium's truth.yaml."""
        ec = endpoint_config(self.instruments)
        return {
            "kind": self.kind,
            "planted": self.kind == "planted",
            "folder": self.folder,
            "config": f"{self.folder}/config.yaml",
            "n": self.n,
            "seed": self.seed,
            "instruments": list(self.instruments),
            "endpoint": ec["endpoint"],
            "endpoint_converted_from": ec.get("clinical", {}).get("harmonise", {}).get("from", []),
            "sites": list(self.sites),
            "id_prefix": self.id_prefix,
        }


def _letter(i: int) -> str:
    """a, b, ..., z, aa, ab, ... (the cohort's suffix)."""
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(97 + r) + s
    return s


def consortium_plan(
    *,
    name: str,
    seed: int,
    kinds: Sequence[str] = KINDS,
    sizes: Sequence[int] | None = None,
    instruments: Sequence[Sequence[str]] | None = None,
) -> list[CohortPlan]:
    """The cohorts of a simulated consortium: one per entry of ``kinds`` (``"planted"`` or
    ``"null"``, at least two), with ``sizes`` (default :data:`SIZES`, repeated as needed) and
    ``instruments`` (default :data:`INSTRUMENT_SETS`, repeated as needed).

    Examples
    --------
    >>> [(p.name, p.kind, p.n, p.instruments[0], p.sites[0]) for p in consortium_plan(name="x", seed=4)]
    [('x_a', 'planted', 1200, 'HAMD17', 'site_a1'), ('x_b', 'planted', 1000, 'QIDS_SR16', 'site_b1'), ('x_c', 'null', 800, 'HAMD17', 'site_c1')]
    """
    if not _NAME.fullmatch(name) or name == "consortium":
        raise InputError(
            f"--name {name!r}: expected a name of letters, digits, '_', '.' or '-' starting with a letter or "
            "digit (cohort names are made from it), other than 'consortium'"
        )
    kinds = list(kinds)
    if len(kinds) < 2 or any(k not in ("planted", "null") for k in kinds):
        raise InputError(
            f"--kinds {','.join(kinds) or '(none)'}: expected at least two of planted, null (one per cohort), "
            "e.g. planted,planted,null"
        )
    sizes = [SIZES[i % len(SIZES)] for i in range(len(kinds))] if sizes is None else list(sizes)
    if len(sizes) != len(kinds) or any(n < MIN_N for n in sizes):
        raise InputError(
            f"--sizes {','.join(map(str, sizes))}: expected {len(kinds)} numbers of patients (one per cohort of "
            f"--kinds {','.join(kinds)}), each at least {MIN_N}"
        )
    inst = (
        [INSTRUMENT_SETS[i % len(INSTRUMENT_SETS)] for i in range(len(kinds))] if instruments is None else instruments
    )
    if len(inst) != len(kinds):
        raise InputError(f"instruments: expected {len(kinds)} instrument lists (one per cohort), found {len(inst)}")
    plans = []
    for i, (kind, n, ins) in enumerate(zip(kinds, sizes, inst, strict=True)):
        letter = _letter(i)
        sites = tuple(f"site_{letter}{k}" for k in range(1, len(SITES) + 1))
        check_labels(instruments=ins, sites=sites, id_prefix=f"{letter.upper()}-")
        plans.append(
            CohortPlan(
                name=f"{name}_{letter}",
                folder=f"{name}_{letter}",
                kind=kind,
                n=int(n),
                seed=seed + i,
                instruments=tuple(ins),
                sites=sites,
                id_prefix=f"{letter.upper()}-",
            )
        )
    return plans


def shared_features(plans: Sequence[CohortPlan]) -> dict[str, Any]:
    """The feature lists every cohort can form: those of the instruments all of them rated."""
    common = [i for i in INSTRUMENTS if all(i in p.instruments for p in plans)]
    return feature_config(common)


def _write_yaml(doc: dict[str, Any], path: Path, *, header: str = "") -> Path:
    with open(path, "w") as fh:
        fh.write(header)
        yaml.safe_dump(doc, fh, sort_keys=False)
    return path


def _truth(plans: Sequence[CohortPlan], *, name: str, seed: int, null_kind: str, features) -> dict[str, Any]:
    """The consortium's truth.yaml: which cohort is planted and which null, and how each was made."""
    return {
        "simulator": "stratify simulate --consortium",
        "consortium": name,
        "seed": seed,
        "planted_cohorts": [p.name for p in plans if p.kind == "planted"],
        "null_cohorts": [p.name for p in plans if p.kind == "null"],
        **({"null_kind": null_kind} if any(p.kind == "null" for p in plans) else {}),
        "shared_features": features,
        "expected": (
            "the immune-metabolic subgroup replicates between planted cohorts and is absent from null ones; "
            "a response model transports between planted cohorts (external AUC above 0.5) and not into or "
            "out of a null cohort (AUC interval including 0.5)"
        ),
        "cohorts": {p.name: p.truth() for p in plans},
    }


def write_consortium(
    out: str | Path,
    *,
    seed: int,
    name: str = "simconsortium",
    kinds: Sequence[str] = KINDS,
    sizes: Sequence[int] | None = None,
    instruments: Sequence[Sequence[str]] | None = None,
    n_snps: int = 3000,
    genotypes: bool = True,
    null_kind: str = "hard",
    min_cell: int = 10,
) -> dict[str, Path]:
    """Write a simulated consortium into ``out`` (see the module docstring); returns the paths of
    ``consortium.yaml``, ``truth.yaml`` and each cohort's config (by cohort name).

    Every cohort is written by :func:`~stratify.simulate.cohort.write_cohort` with its plan
    (:func:`consortium_plan`); its config then gets the consortium's shared feature lists
    (:func:`shared_features`). ``n_snps``, ``genotypes`` and ``null_kind`` apply to every cohort.
    """
    if null_kind not in NULL_KINDS:
        raise InputError(f"--null-kind {null_kind!r}: expected one of {', '.join(NULL_KINDS)}")
    plans = consortium_plan(name=name, seed=seed, kinds=kinds, sizes=sizes, instruments=instruments)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    features = shared_features(plans)
    paths: dict[str, Path] = {}
    for p in plans:
        log.info("cohort %s: %s, n = %d, instruments %s", p.name, p.kind, p.n, ", ".join(p.instruments))
        written = write_cohort(
            out / p.folder,
            n=p.n,
            seed=p.seed,
            null=p.kind == "null",
            n_snps=n_snps,
            cohort=p.name,
            genotypes=genotypes,
            null_kind=null_kind,
            instruments=p.instruments,
            sites=p.sites,
            id_prefix=p.id_prefix,
        )
        # the consortium's agreement: one feature set that every cohort can form
        config = yaml.safe_load(written["config"].read_text())
        paths[p.name] = _write_yaml({**config, **features}, written["config"])
    consortium = {
        "consortium": {"name": name, "cohorts": [f"{p.folder}/config.yaml" for p in plans], "min_cell": min_cell}
    }
    paths["consortium"] = _write_yaml(consortium, out / "consortium.yaml")
    truth = _truth(plans, name=name, seed=seed, null_kind=null_kind, features=features)
    paths["truth"] = _write_yaml(truth, out / "truth.yaml")
    return paths


def _simulated_config(p: CohortPlan, *, data: Path, features, genotypes: bool, null_kind: str) -> dict[str, Any]:
    """A cohort config with a ``simulate`` block: Snakemake's simulate rule writes the cohort into
    ``data`` (relative to the config's folder), with the options of ``p``."""
    written = cohort_config(data, name=p.name, seed=p.seed, genotypes=genotypes, teh=None, instruments=p.instruments)
    sim: dict[str, Any] = {"n": p.n, "seed": p.seed}
    if p.kind == "null":
        sim.update(null_twin=True, null_kind=null_kind)
    sim.update(instruments=list(p.instruments), sites=list(p.sites), id_prefix=p.id_prefix)
    return {**{k: written[k] for k in ("cohort", "genome_build", "seed")}, "simulate": sim, **written, **features}


def write_consortium_configs(
    out: str | Path,
    *,
    seed: int,
    name: str = "simconsortium",
    kinds: Sequence[str] = KINDS,
    sizes: Sequence[int] | None = None,
    genotypes: bool = True,
    null_kind: str = "hard",
    min_cell: int = 10,
    results: str | Path = "results",
) -> dict[str, Path]:
    """Write the configs of a simulated consortium, without its data: ``out/<name>.yaml`` (the
    consortium config), ``out/<name>/<cohort>.yaml`` (cohort configs with a ``simulate`` block,
    whose inputs are ``<results>/<cohort>/cohort/``, where Snakemake's simulate rule writes them,
    as for the other demo cohorts) and ``out/<name>/truth.yaml``. The cohorts, and the data the
    rule writes, are those of :func:`write_consortium` with the same arguments. ``results`` is
    read from the current directory (where Snakemake runs); cohorts/consortium_demo.yaml was
    written this way.
    """
    if null_kind not in NULL_KINDS:
        raise InputError(f"--null-kind {null_kind!r}: expected one of {', '.join(NULL_KINDS)}")
    plans = consortium_plan(name=name, seed=seed, kinds=kinds, sizes=sizes)
    out = Path(out)
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    features = shared_features(plans)
    paths: dict[str, Path] = {}
    for p in plans:
        data = Path(os.path.relpath(Path(results).resolve() / p.name / "cohort", folder.resolve()))
        doc = _simulated_config(p, data=data, features=features, genotypes=genotypes, null_kind=null_kind)
        header = (
            f"# Cohort {p.name} of the simulated consortium {name} ({name}.yaml beside this folder): {p.kind}, "
            f"{p.n} patients, {', '.join(p.instruments)}.\n# Written by `stratify simulate --consortium "
            f"--configs-only` (docs/simulation.md); Snakemake's simulate rule writes its data into {data}/.\n"
        )
        paths[p.name] = _write_yaml(doc, folder / f"{p.name}.yaml", header=header)
    consortium = {
        "consortium": {"name": name, "cohorts": [f"{name}/{p.name}.yaml" for p in plans], "min_cell": min_cell}
    }
    header = (
        f"# A simulated consortium (docs/simulation.md); which cohort is planted and which null: {name}/truth.yaml\n"
    )
    paths["consortium"] = _write_yaml(consortium, out / f"{name}.yaml", header=header)
    truth = _truth(plans, name=name, seed=seed, null_kind=null_kind, features=features)
    paths["truth"] = _write_yaml(truth, folder / "truth.yaml")
    return paths
