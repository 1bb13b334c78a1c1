"""Consortium config: several cohort configs, each valid on its own, analysed together.

A consortium config (``workflow/schemas/consortium.schema.yaml``; docs/inputs.md, "Consortium
config") is::

    consortium:
      name: consortium_demo
      cohorts:                        # read from this file's folder
        - consortium_demo/cdemo_a.yaml
        - consortium_demo/cdemo_b.yaml
      bundles:                        # optional: site bundles (stratify summarise) of
        - site_c.bundle.json          #   cohorts that share aggregates only
      min_cell: 10                    # default 10

Every cohort config is read and validated exactly as ``snakemake --configfile <it>`` would
(:func:`stratify.config.load_config`: its relative paths from its own folder), so a cohort runs
the same inside the consortium and on its own. Cohort names (their ``cohort`` keys) must be
unique, because each cohort's results go to ``results/<cohort>/``; the consortium's go to
``results/consortium/<name>/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratify.config import load_config, read_yaml, schema_checked
from stratify.errors import ConfigError

__all__ = ["Consortium", "ConsortiumCohort", "is_consortium_config", "load_consortium", "validate_consortium"]

#: results/<RESERVED>/ holds every consortium's results, so no cohort may take the name.
RESERVED = "consortium"


@dataclass(frozen=True)
class ConsortiumCohort:
    """One cohort of a consortium: its name, config file, validated config and folders."""

    name: str
    source: Path
    config: dict[str, Any]

    @property
    def results(self) -> str:
        """``results/<cohort>``: where the cohort's stages write, as in a run of its own."""
        return f"results/{self.name}"

    @property
    def logs(self) -> str:
        """``logs/<cohort>``."""
        return f"logs/{self.name}"


@dataclass(frozen=True)
class Consortium:
    """A validated consortium config: its name, file, bundle cell minimum and cohorts in order."""

    name: str
    source: Path
    min_cell: int
    cohorts: tuple[ConsortiumCohort, ...]
    #: site bundles of cohorts that share aggregates only: cohort name -> bundle file
    bundles: tuple[tuple[str, Path], ...] = ()

    @property
    def results(self) -> str:
        """``results/consortium/<name>``: where the consortium stages write."""
        return f"results/{RESERVED}/{self.name}"

    @property
    def cohort_names(self) -> list[str]:
        return [c.name for c in self.cohorts]


def is_consortium_config(raw: Any) -> bool:
    """Whether a parsed YAML config is a consortium config (it has a top-level ``consortium`` key)."""
    return isinstance(raw, dict) and RESERVED in raw


def _check_schema(raw: Any, *, source: str | Path) -> dict[str, Any]:
    """The ``consortium`` block with defaults, or a one-line ConfigError (file, key, expected)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a YAML mapping with the key 'consortium', found {type(raw).__name__}")
    if RESERVED not in raw and "cohort" in raw:
        raise ConfigError(
            f"{source}: this is a cohort config (it has the key 'cohort'); a consortium config has one key, "
            "'consortium', with 'name' and 'cohorts' (the paths of cohort configs; docs/inputs.md)"
        )
    block = raw.get(RESERVED)
    if isinstance(block, dict) and block.get("cohorts") == []:
        raise ConfigError(
            f"{source}: key consortium.cohorts: the list is empty; expected the paths of at least two cohort configs"
        )
    cfg = schema_checked(raw, "consortium", source=source)
    block = cfg[RESERVED]
    if len(block["cohorts"]) + len(block["bundles"]) < 2:
        raise ConfigError(
            f"{source}: key consortium.cohorts: one cohort ({block['cohorts'][0]}); a consortium compares "
            "cohorts, so list at least two cohort configs, or add the site bundles of others under "
            "consortium.bundles (one cohort runs on its own: snakemake --configfile it)"
        )
    return block


def _bundles(block: dict[str, Any], *, base: Path, source: str | Path, names: dict) -> tuple[tuple[str, Path], ...]:
    """The site bundles of ``consortium.bundles``: each must be a readable bundle whose cohort name
    differs from every cohort's and every other bundle's."""
    from stratify.consortium.bundle import read_bundle
    from stratify.errors import InputError

    out = []
    for i, entry in enumerate(block["bundles"]):
        p = Path(entry).expanduser()
        p = (p if p.is_absolute() else base / p).resolve()
        key = f"consortium.bundles.{i}"
        if not p.is_file():
            raise ConfigError(
                f"{source}: key {key}: site bundle not found: {p} (written at the site by `stratify summarise "
                f"results/<cohort> --out FILE`; paths are read from the consortium config's folder, {base})"
            )
        try:
            name = read_bundle(p)["cohort"]
        except InputError as exc:
            raise ConfigError(f"{source}: key {key}: {exc}") from None
        if name in names:
            raise ConfigError(
                f"{source}: key {key}: the bundle {p} is of cohort {name!r}, which {names[name]} already names; "
                "each cohort joins once, as a cohort config or as a bundle"
            )
        names[name] = f"consortium.bundles.{i}"
        out.append((name, p))
    return tuple(out)


def _cohort_file(entry: str, *, index: int, base: Path, source: str | Path) -> Path:
    """The cohort config file of ``consortium.cohorts[index]``, which must exist."""
    p = Path(entry).expanduser()
    p = (p if p.is_absolute() else base / p).resolve()
    if not p.is_file():
        raise ConfigError(
            f"{source}: key consortium.cohorts.{index}: cohort config not found: {p} (paths in a consortium "
            f"config are read from the folder the consortium config is in, {base})"
        )
    return p


def validate_consortium(
    raw: Any, *, source: str | Path = "consortium config", base_dir: str | Path, check_files: bool = True
) -> Consortium:
    """Validate a parsed consortium config and every cohort config it lists.

    Parameters
    ----------
    raw
        The parsed YAML mapping.
    source
        The file named in error messages.
    base_dir
        The folder the cohort paths are read from (the consortium config file's folder).
    check_files
        Every file a cohort config names must exist (except those its ``simulate`` block will
        write), as :func:`stratify.config.load_config` checks.

    Raises
    ------
    ConfigError
        One line: the consortium file, the key and what was expected; for a cohort config that
        fails its own validation, which cohort (index and file) and its own message.

    Examples
    --------
    >>> validate_consortium({"consortium": {"name": "c", "cohorts": []}}, source="c.yaml", base_dir=".")
    Traceback (most recent call last):
    ...
    stratify.errors.ConfigError: c.yaml: key consortium.cohorts: the list is empty; expected the paths of at least two cohort configs
    """
    block = _check_schema(raw, source=source)
    base = Path(base_dir).expanduser().resolve()
    cohorts: list[ConsortiumCohort] = []
    seen: dict[str, tuple[int, Path]] = {}
    for i, entry in enumerate(block["cohorts"]):
        path = _cohort_file(entry, index=i, base=base, source=source)
        try:
            cfg = load_config(path, check_files=check_files)
        except ConfigError as exc:
            raise ConfigError(
                f"{source}: key consortium.cohorts.{i}: cohort config {entry} is not valid: {exc}"
            ) from None
        name = cfg["cohort"]
        if name == RESERVED:
            raise ConfigError(
                f"{source}: key consortium.cohorts.{i}: {path} names its cohort {RESERVED!r}, which is reserved "
                f"(results/{RESERVED}/ holds the consortium's results); rename the cohort"
            )
        if name in seen:
            j, other = seen[name]
            what = "the same file is listed twice" if other == path else f"cohort {j} ({other}) has the same name"
            raise ConfigError(
                f"{source}: key consortium.cohorts.{i}: duplicate cohort name {name!r} in {path}: {what}; "
                "each cohort needs its own name (its results go to results/<cohort>/)"
            )
        seen[name] = (i, path)
        cohorts.append(ConsortiumCohort(name=name, source=path, config=cfg))
    names = {n: f"consortium.cohorts.{i}" for n, (i, _) in seen.items()}
    return Consortium(
        name=block["name"],
        source=Path(source),
        min_cell=block["min_cell"],
        cohorts=tuple(cohorts),
        bundles=_bundles(block, base=base, source=source, names=names),
    )


def load_consortium(path: str | Path, *, check_files: bool = True) -> Consortium:
    """Read and validate a consortium config file (:func:`validate_consortium`; cohort paths
    are read from the file's folder)."""
    path = Path(path)
    return validate_consortium(read_yaml(path), source=path, base_dir=path.parent, check_files=check_files)
