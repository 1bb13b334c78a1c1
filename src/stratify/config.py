"""Cohort configuration: load, validate against the JSON schema, fill defaults.

The schema is ``workflow/schemas/config.schema.yaml``; unknown keys are errors. The
Snakefile and every ``stratify`` subcommand go through :func:`validate_config`, so a
config that runs in one runs in the other.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from stratify.errors import ConfigError
from stratify.io.resources import load_resource, load_schema

# star-allele formats that hold one sample, whose name may be given in the config
SINGLE_SAMPLE_TOOLS = ("pharmcat_outside", "pharmcat_report", "pharmcat_phenotype", "stellarpgx")


def fill_defaults(instance: Any, schema: dict[str, Any]) -> None:
    """Insert schema defaults for absent keys, recursing into objects (in place)."""
    if not isinstance(instance, dict) or schema.get("type") != "object":
        return
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            fill_defaults(instance[key], sub)
    items = schema.get("items")
    if isinstance(instance, list) and isinstance(items, dict):
        for x in instance:
            fill_defaults(x, items)


def schema_checked(raw: dict[str, Any], schema_name: str, *, source: str) -> dict[str, Any]:
    """A copy of ``raw`` checked against ``workflow/schemas/<schema_name>.schema.yaml`` (the first
    error, outermost first, as one :class:`ConfigError` line naming ``source``), defaults filled in."""
    schema = load_schema(schema_name)
    cfg = copy.deepcopy(raw)
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        raise ConfigError(f"{source}: {describe_error(errors[0])}")
    fill_defaults(cfg, schema)
    return cfg


def describe_error(err: jsonschema.ValidationError) -> str:
    """One line for a JSON-schema error: the key (dotted path) and what was expected."""
    loc = ".".join(str(p) for p in err.absolute_path) or "top level"
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        return f"unknown key {', '.join(repr(e) for e in extra)} at {loc}; allowed keys: {', '.join(allowed)}"
    if err.validator == "required":
        return f"{err.message} (at {loc})"
    if err.validator == "oneOf" and all(set(o) == {"required"} for o in err.validator_value):
        keys = [o["required"][0] for o in err.validator_value]
        given = [k for k in keys if isinstance(err.instance, dict) and k in err.instance]
        return (
            f"key {loc}: {'gives ' + ' and '.join(given) if given else 'names no file'}; "
            f"expected exactly one of {', '.join(keys)}"
        )
    if err.validator == "enum":
        return f"key {loc}: {err.instance!r} is not one of {err.validator_value}"
    return f"key {loc}: {err.message}"


def config_paths(cfg: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Every file path in a config, as ``(key, container, index)`` so that it can be rewritten
    in place: ``container[index]`` is the path, ``key`` names it in messages."""
    out: list[tuple[str, Any, Any]] = []
    inp = cfg.get("inputs") or {}
    for k in ("patients", "symptoms", "treatments", "biomarkers"):
        if k in inp:
            out.append((f"inputs.{k}", inp, k))
    gen = inp.get("genotypes") or {}
    for k in ("vcf", "pgen", "bgen", "sample", "sample_map"):
        if k in gen:
            out.append((f"inputs.genotypes.{k}", gen, k))
    for i in range(len(gen.get("pgs") or [])):
        out.append((f"inputs.genotypes.pgs.{i}", gen["pgs"], i))
    for i, sa in enumerate(inp.get("star_alleles") or []):
        for k in ("path", "sample_map"):
            if k in sa:
                out.append((f"inputs.star_alleles.{i}.{k}", sa, k))
    clin = cfg.get("clinical") or {}
    if clin.get("dose_table"):
        out.append(("clinical.dose_table", clin, "dose_table"))
    for i, ln in enumerate((clin.get("harmonise") or {}).get("links") or []):
        if "path" in ln:
            out.append((f"clinical.harmonise.links.{i}.path", ln, "path"))
    return out


def resolve_paths(cfg: dict[str, Any], base_dir: str | Path) -> None:
    """Make every relative path in ``cfg`` absolute against ``base_dir`` (in place).

    Paths in a config file are relative to the folder the file is in, so a config runs the
    same from any working directory; ``~`` is expanded; absolute paths are kept.
    """
    base = Path(base_dir).expanduser().resolve()
    for _key, box, idx in config_paths(cfg):
        p = Path(str(box[idx])).expanduser()
        box[idx] = str(p if p.is_absolute() else (base / p).resolve())


def simulated_folder(cfg: dict[str, Any]) -> Path | None:
    """The folder a ``simulate`` block writes the cohort to (that of ``inputs.patients``), or None."""
    if "simulate" not in cfg:
        return None
    return Path(cfg["inputs"]["patients"]).parent


def check_paths_exist(cfg: dict[str, Any], *, source: str | Path = "config") -> None:
    """Every file the config names must exist, except those a ``simulate`` block will write
    (files in the folder of ``inputs.patients``).

    Raises
    ------
    ConfigError
        ``<config>: key inputs.biomarkers: file not found: <absolute path>``, with the folder
        relative paths are read from.
    """
    sim = simulated_folder(cfg)
    for key, box, idx in config_paths(cfg):
        p = Path(str(box[idx]))
        if sim is not None and p.parent == sim:
            continue
        if key == "inputs.genotypes.pgen":  # a fileset prefix: its three files
            for f in genotype_files({"pgen": str(p)}).values():
                if not Path(f).exists():
                    zst = (
                        f"; {f}.zst is there: decompress it with `zstd -d {f}.zst`" if Path(f + ".zst").exists() else ""
                    )
                    raise ConfigError(
                        f"{source}: key {key}: file not found: {f}{zst} (a PLINK 2 fileset is <prefix>.pgen, .pvar "
                        "and .psam; relative paths in a config file are read from the folder the config file is in)"
                    )
            continue
        if not p.exists():
            raise ConfigError(
                f"{source}: key {key}: file not found: {p} (relative paths in a config file are "
                "read from the folder the config file is in)"
            )


def validate_config(
    config: dict[str, Any], *, source: str | Path = "config", base_dir: str | Path | None = None
) -> dict[str, Any]:
    """Validate a cohort config and return a copy with defaults filled in.

    Parameters
    ----------
    config
        The parsed YAML mapping.
    source
        File name used in error messages.
    base_dir
        The folder relative paths are read from: the config file's folder (:func:`load_config`
        and the Snakefile pass it). The returned config then holds absolute paths. None (an
        in-memory config) leaves paths as given, i.e. relative to the working directory.

    Raises
    ------
    ConfigError
        One line: the file, the key and what was expected.

    Examples
    --------
    >>> cfg = validate_config({"cohort": "x", "genome_build": "GRCh38",
    ...     "inputs": {"patients": "p.tsv", "symptoms": "s.tsv"},
    ...     "endpoint": {"instrument": "HAMD17", "week": 8}})
    >>> cfg["endpoint"]["kind"], cfg["model"]["folds"]
    ('response', 5)
    """
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: expected a YAML mapping of keys, found {type(config).__name__}")
    cfg = schema_checked(config, "config", source=source)
    if base_dir is not None:
        resolve_paths(cfg, base_dir)
    for i, sa in enumerate(cfg["inputs"].get("star_alleles", [])):
        if "sample" in sa and sa["tool"] not in SINGLE_SAMPLE_TOOLS:
            raise ConfigError(
                f"{source}: key inputs.star_alleles.{i}.sample applies only to single-sample "
                f"formats ({', '.join(SINGLE_SAMPLE_TOOLS)}); {sa['tool']} files name their samples"
            )
    inst = load_resource("instruments.yaml")
    for name, d in cfg["clinical"]["dimensions"].items():
        known_items = {int(i) for i in inst[d["instrument"]]["items"]}
        bad = [i for i in d["items"] if i not in known_items]
        if bad:
            raise ConfigError(
                f"{source}: key clinical.dimensions.{name}.items: {d['instrument']} has no item "
                f"{bad[0]}; its items are {min(known_items)}-{max(known_items)}"
            )
    ep = cfg["endpoint"]
    if ep["kind"] == "trd":
        ep.setdefault("definition", "sforzini_2021")
    elif "definition" in ep:
        raise ConfigError(
            f"{source}: key endpoint.definition applies only to endpoint.kind trd (the kind is "
            f"{ep['kind']}); remove it or set kind: trd"
        )
    sc = cfg["subtype"]
    if 1 / (sc["n_null"] + 1) >= sc["alpha"]:
        raise ConfigError(
            f"{source}: key subtype.n_null: {sc['n_null']} simulations cannot give a p-value below "
            f"alpha = {sc['alpha']:g} (the smallest is 1/(n_null + 1)); use at least "
            f"{int(1 / sc['alpha'])} or raise subtype.alpha"
        )
    if sc["method"] in ("kmeans", "consensus") and sc["max_k"] < 2:
        raise ConfigError(
            f"{source}: key subtype.max_k: {sc['method']} needs max_k >= 2 (it cannot choose one "
            "cluster; the existence test decides whether any clustering is real)"
        )
    h = cfg["clinical"].get("harmonise")
    if h:
        _check_harmonise(h, cfg["endpoint"]["instrument"], source)
    _check_simulated_instruments(cfg, source)
    from stratify.features.table import available_features

    known = available_features(cfg)
    for group, names in [
        *((f"features.{g}", v) for g, v in cfg["features"].items()),
        ("subtype.features", cfg["subtype"]["features"]),
    ]:
        for name in names:
            if name not in known:
                raise ConfigError(
                    f"{source}: key {group}: unknown feature {name!r}; features are: {', '.join(sorted(known))} "
                    "(outcome columns such as response or pct_change are never features)"
                )
    return cfg


def _check_simulated_instruments(cfg: dict[str, Any], source: str | Path) -> None:
    """A simulate block that writes only some instruments must write the endpoint's, or one that
    clinical.harmonise converts to it; otherwise no patient would have an endpoint."""
    written = (cfg.get("simulate") or {}).get("instruments")
    if written is None:
        return
    target = cfg["endpoint"]["instrument"]
    convertible = set((cfg["clinical"].get("harmonise") or {}).get("from", []))
    if target not in written and not convertible & set(written):
        raise ConfigError(
            f"{source}: key simulate.instruments: {', '.join(written)} leaves no {target} total for the endpoint "
            f"(endpoint.instrument {target}); add {target}, or convert one of them with clinical.harmonise.from"
        )


def _check_harmonise(h: dict[str, Any], target: str, source: str | Path) -> None:
    """Every instrument in clinical.harmonise.from needs a linking table to the endpoint instrument."""
    from stratify.inputs.harmonise import available_links

    have = set(available_links())
    for ln in h.get("links", []):
        if ln["from"] == ln["to"]:
            raise ConfigError(
                f"{source}: key clinical.harmonise.links: a table from {ln['from']} to itself is not a conversion"
            )
        have |= {(ln["from"], ln["to"]), (ln["to"], ln["from"])}
    for inst in h["from"]:
        if inst == target:
            raise ConfigError(
                f"{source}: key clinical.harmonise.from: {inst} is the endpoint instrument itself; "
                "list the instruments that may stand in for it"
            )
        if (inst, target) not in have:
            raise ConfigError(
                f"{source}: key clinical.harmonise.from: no linking table from {inst} to {target} "
                f"(the endpoint instrument); shipped: "
                f"{', '.join(f'{a}->{b}' for a, b in sorted(available_links()))}; add one under "
                "clinical.harmonise.links (from, to, path, source; see docs/harmonisation.md)"
            )


def read_yaml(path: str | Path) -> Any:
    """The parsed content of a YAML config file (cohort or consortium).

    Raises
    ------
    ConfigError
        The file is missing, not UTF-8 (with line and byte) or not valid YAML (with line and column).
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    try:
        with open(path, encoding="utf-8-sig") as fh:
            raw = yaml.safe_load(fh)
    except UnicodeDecodeError as exc:
        data = path.read_bytes()
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{path}: line {line}, byte {col} of the line: byte 0x{data[exc.start]:02X} is not UTF-8; "
            "expected a UTF-8 YAML file (re-save it as UTF-8)"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{at}: {what}") from None
    return raw


def load_config(path: str | Path, *, check_files: bool = True) -> dict[str, Any]:
    """Read and validate a cohort config file.

    Relative paths in it are read from the file's folder and returned absolute; with
    ``check_files`` every named file must exist (:func:`check_paths_exist`).
    """
    path = Path(path)
    raw = read_yaml(path)
    cfg = validate_config(raw, source=path, base_dir=path.parent)
    if check_files:
        check_paths_exist(cfg, source=path)
    return cfg


def genotype_files(gen: dict[str, Any]) -> dict[str, str]:
    """The genotype file(s) of ``inputs.genotypes`` by role: ``vcf``; or a PLINK 2 fileset's
    ``pgen``, ``pvar``, ``psam`` (from its prefix; a path ending in .pgen is taken as the prefix);
    or ``bgen`` and its ``bgen_sample`` file."""
    if "vcf" in gen:
        return {"vcf": gen["vcf"]}
    if "pgen" in gen:
        prefix = str(gen["pgen"]).removesuffix(".pgen")
        return {ext: f"{prefix}.{ext}" for ext in ("pgen", "pvar", "psam")}
    out = {"bgen": gen["bgen"]}
    if "sample" in gen:
        out["bgen_sample"] = gen["sample"]
    return out


def cohort_inputs(config: dict[str, Any]) -> dict[str, str]:
    """Flat mapping of every input file named in the config (role -> path)."""
    inp = config["inputs"]
    files = {k: inp[k] for k in ("patients", "symptoms", "treatments", "biomarkers") if k in inp}
    if "genotypes" in inp:
        files.update(genotype_files(inp["genotypes"]))
        if "sample_map" in inp["genotypes"]:
            files["vcf_sample_map"] = inp["genotypes"]["sample_map"]
        for i, pgs in enumerate(inp["genotypes"].get("pgs", [])):
            files[f"vcf_pgs_{i}"] = pgs
    if config.get("clinical", {}).get("dose_table"):
        files["dose_table"] = config["clinical"]["dose_table"]
    for i, ln in enumerate((config.get("clinical", {}).get("harmonise") or {}).get("links", [])):
        files[f"linking_table_{i}"] = ln["path"]
    for i, sa in enumerate(inp.get("star_alleles", [])):
        files[f"star_alleles_{i}"] = sa["path"]
        if "sample_map" in sa:
            files[f"star_alleles_{i}_sample_map"] = sa["sample_map"]
    return files
