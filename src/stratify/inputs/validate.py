"""Stage 1: read the cohort's input tables, check them strictly, write typed Parquet.

Every check failure raises :class:`~stratify.errors.InputError` with one line naming
the file, the line (header = line 1), the column and what was expected. Nothing is
dropped silently: a record is either kept or the run stops and says which one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stratify.clinical.adequacy import load_doses
from stratify.errors import InputError, where
from stratify.inputs.harmonise import load_link
from stratify.io.resources import load_resource, load_schema
from stratify.io.schema import NUMBER, cell_error, check_table, number_error, to_number
from stratify.io.synonyms import accepted_text
from stratify.io.text import read_text_table

log = logging.getLogger(__name__)

TABLES = ("patients", "symptoms", "treatments", "biomarkers")
_KEYS = {
    "patients": ["patient_id"],
    "symptoms": ["patient_id", "week", "instrument", "item"],
    "treatments": ["patient_id", "episode", "trial"],
    "biomarkers": ["patient_id", "week", "marker"],
    "sample_map": ["sample_id"],
}


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_duplicates(df: pd.DataFrame, keys: list[str], path) -> None:
    d = df.duplicated(subset=keys, keep="first")
    if d.any():
        i = d.idxmax()
        first = df.index[(df[keys] == df.loc[i, keys]).all(axis=1)][0]
        vals = ", ".join(f"{k}={df.loc[i, k]}" for k in keys)
        raise InputError(f"{where(path, int(i) + 2)}: duplicate record ({vals}); first seen on line {int(first) + 2}")


def check_known_patients(df: pd.DataFrame, patients: set[str], *, path, patients_path) -> None:
    """Every patient_id must be in the patients table."""
    unknown = ~df["patient_id"].isin(patients)
    if unknown.any():
        i = unknown.idxmax()
        n = int(df.loc[unknown, "patient_id"].nunique())
        raise InputError(
            f"{where(path, int(i) + 2, 'patient_id')}: patient {df.loc[i, 'patient_id']!r} is not in the "
            f"patients table {patients_path}" + (f" ({n} unknown patients in all)" if n > 1 else "")
        )


def check_symptom_items(df: pd.DataFrame, *, path) -> None:
    """Items must exist on their instrument and scores lie within the item's own range.

    ``item`` is an item number as printed on the scale (1..n of the instrument) or the text
    ``total`` (any case) for a visit that keeps only the instrument's total, as older trials and
    registries do. Rules, each failure an :class:`InputError` naming file, line and column:

    * an item score is a whole number in 0..max of that item (resources/instruments.yaml;
      the message states the item's range, e.g. "a score 0-4 for HAMD17 item 1");
    * a total is a number in 0..``total_max`` of the instrument;
    * one row per patient, week, instrument and item (``1`` and ``01`` are the same item);
    * a visit with both item rows and a ``total`` row must have every item, and the total
      the items give (the instrument's ``total_rule``) must equal the ``total`` row: the
      items are then used and the total row is only a check. Items that are incomplete or
      disagree with the total are an error: give the items or the total, not both.

    Examples
    --------
    >>> s = pd.DataFrame({"patient_id": ["P1", "P2"], "week": [0.0, 0.0], "instrument": ["HAMD17", "HAMD17"],
    ...                   "item": ["1", "total"], "score": [5.0, 20.0]})
    >>> check_symptom_items(s, path="s.tsv")
    Traceback (most recent call last):
    stratify.errors.InputError: s.tsv, line 2, column 'score': expected a score 0-4 for HAMD17 item 1, found '5'
    """
    inst = load_resource("instruments.yaml")
    text = df["item"].astype(str).str.strip()
    is_total = (text.str.lower() == "total").to_numpy()
    num = to_number(text, pd.Series(is_total, index=df.index))[0].to_numpy(dtype=float)
    maxes = {(k, int(i)): v["max"] for k, d in inst.items() for i, v in d["items"].items()}
    # the item's maximum per row (-1: no such item), looked up per instrument with numpy
    codes, names = pd.factorize(df["instrument"])
    whole = np.isfinite(num) & (num % 1 == 0) & (num >= 0)
    item = np.where(whole, num, -1).astype(int)
    mx_arr = np.full(len(df), -1.0)
    tmax_arr = np.full(len(df), -1.0)
    for c, name in enumerate(names):
        rows = np.flatnonzero(codes == c)
        known = {i: m for (k, i), m in maxes.items() if k == name}
        if not known or not len(rows):
            continue
        tmax_arr[rows] = inst[name]["total_max"]
        table = np.full(max(known) + 1, -1.0)
        table[list(known)] = list(known.values())
        it = item[rows]
        ok = (it >= 0) & (it < len(table))
        mx_arr[rows[ok]] = table[it[ok]]
    mx_arr[is_total] = tmax_arr[is_total]
    mx = pd.Series(mx_arr, index=df.index, dtype=float)
    unknown = mx < 0
    if unknown.any():
        i = unknown.idxmax()
        n_items = len(inst[df.loc[i, "instrument"]]["items"])
        raise cell_error(
            path,
            i,
            "item",
            f"an item number 1-{n_items} of {df.loc[i, 'instrument']}, or 'total' for a "
            "visit with only the total score",
            str(df.loc[i, "item"]),
        )
    score = df["score"].astype(float)
    label = np.where(is_total, "total", "item")
    over = (score > mx) | (score < 0)
    if over.any():
        i = over.idxmax()
        k = df.index.get_loc(i)
        what = (
            f"a {df.loc[i, 'instrument']} total 0-{int(mx[i])}"
            if is_total[k]
            else f"a score 0-{int(mx[i])} for {df.loc[i, 'instrument']} item {int(item[k])}"
        )
        raise cell_error(path, i, "score", what, f"{score[i]:g}")
    frac = (score % 1 != 0) & (label == "item")
    if frac.any():
        i = frac.idxmax()
        raise cell_error(path, i, "score", "a whole-number item score", f"{score[i]:g}")
    # the reader's duplicate check saw the text; "1" and "01" (or "total" and "Total") are one item too
    canonical = np.where(is_total, "total", item.astype(str))
    respelled = bool((text.to_numpy(dtype=object) != canonical).any())
    if not (respelled or is_total.any()):
        return
    key = pd.DataFrame(
        {"patient_id": df["patient_id"], "week": df["week"], "instrument": df["instrument"], "item": canonical},
        index=df.index,
    )
    dup = key.duplicated(keep="first") if respelled else pd.Series(False, index=df.index)
    if dup.any():
        i = dup.idxmax()
        first = key.index[(key == key.loc[i]).all(axis=1)][0]
        raise InputError(
            f"{where(path, int(i) + 2, 'item')}: duplicate record (patient_id={key.loc[i, 'patient_id']}, "
            f"week={key.loc[i, 'week']}, instrument={key.loc[i, 'instrument']}, item "
            f"{df.loc[i, 'item']!r} is item {key.loc[i, 'item']}); first seen on line {int(first) + 2}"
        )
    if is_total.any():
        _check_items_against_totals(df, key, is_total, inst, path=path)


def _check_items_against_totals(
    df: pd.DataFrame, key: pd.DataFrame, is_total: np.ndarray, inst: dict[str, Any], *, path
) -> None:
    """A visit with both item rows and a total row: every item present and the totals equal."""
    visit = ["patient_id", "week", "instrument"]
    tot = key[is_total].assign(line=key.index[is_total] + 2, total=df.loc[is_total, "score"].astype(float))
    items = key[~is_total].assign(line=key.index[~is_total] + 2, score=df.loc[~is_total, "score"].astype(float))
    both = items.merge(tot[visit + ["line", "total"]], on=visit, suffixes=("", "_total"))
    if both.empty:
        return
    for (pid, week, name), g in both.groupby(visit, sort=False):
        spec = inst[name]
        scores = dict(zip(g["item"].astype(int), g["score"]))
        n_items = len(spec["items"])
        line_t, given = int(g["line_total"].iloc[0]), float(g["total"].iloc[0])
        if len(scores) < n_items:
            raise InputError(
                f"{where(path, line_t, 'item')}: a {name} total for patient {pid}, week {week:g}, and item scores for "
                f"{len(scores)} of its {n_items} items (first on line {int(g['line'].min())}); give all items (the "
                "total is then checked against them) or only the total"
            )
        groups = spec.get("groups") or [[int(i)] for i in spec["items"]]
        computed = float(sum(max(scores[int(i)] for i in grp) for grp in groups))
        if abs(computed - given) > 1e-9:
            raise InputError(
                f"{where(path, line_t, 'score')}: the {name} total for patient {pid}, week {week:g}, is {given:g}, but "
                f"its items (lines {int(g['line'].min())}-{int(g['line'].max())}) give {computed:g}; correct one of "
                "them or drop the total row (the items are used)"
            )


_BIOMARKER_VALUE = re.compile(rf"(<)?\s*({NUMBER})")


def parse_biomarkers(df: pd.DataFrame, *, path) -> pd.DataFrame:
    """Split "<L" values into value=L and below_detection=True; check units and ranges.

    A value is a number in plain float notation (``1.17``, ``2.57e+03``, ``.5``), or ``<``
    followed by one (``<0.2``). Values stay in the reported unit here; the clinical stage
    converts them.
    """
    units = load_resource("biomarker_units.yaml")
    out = df.copy()
    raw_value = out["value"].astype(str)
    parts = raw_value.str.extract(f"^{_BIOMARKER_VALUE.pattern}$")
    bad = parts[1].isna()
    if bad.any():
        i = bad.idxmax()
        raise number_error(
            path, i, "value", "a number, or '<' and a number for a value below the detection limit", raw_value[i]
        )
    out["below_detection"] = parts[0].notna().to_numpy(dtype=bool)
    out["value"] = parts[1].astype(float)
    for i, (m, u) in enumerate(zip(out["marker"], out["unit"])):
        if u not in units[m]["units"]:
            idx = out.index[i]
            raise cell_error(path, idx, "unit", f"a unit for {m}: {accepted_text('unit', list(units[m]['units']))}", u)
    factor = np.array([units[m]["units"][u] for m, u in zip(out["marker"], out["unit"])])
    nonpos = out["value"].to_numpy() <= 0
    if nonpos.any():
        j = int(np.argmax(nonpos))
        raise cell_error(
            path,
            out.index[j],
            "value",
            "a value above 0 (write '<L' for a value below the detection limit L)",
            raw_value.iloc[j],
        )
    canon = out["value"].to_numpy() * factor
    lo = np.array([units[m]["plausible"][0] for m in out["marker"]])
    hi = np.array([units[m]["plausible"][1] for m in out["marker"]])
    bad = (canon < lo) | (canon > hi)
    if bad.any():
        j = int(np.argmax(bad))
        m = out["marker"].iloc[j]
        raise cell_error(
            path,
            out.index[j],
            "value",
            f"a plausible {m} value ({lo[j]:g}-{hi[j]:g} {units[m]['canonical']})",
            f"{out['value'].iloc[j]:g} {out['unit'].iloc[j]}",
        )
    return out


MIN_VALUES_FOR_UNIT_CHECK = 20


def check_unit_plausibility(biomarkers: pd.DataFrame, patients: pd.DataFrame, *, path) -> None:
    """Catch unit mix-ups that single-value ranges cannot see.

    Rule: for each site, marker and reported unit with at least 20 values, the median value
    converted to the canonical unit must lie within the marker's ``typical_median`` range in
    resources/biomarker_units.yaml. For CRP the range is 0.3-20 mg/L: depressed cohorts have
    medians of about 1-3 mg/L (Osimo et al. 2019), so a site median of 0.15 "mg/L" is almost
    certainly mg/dL labelled as mg/L (10x too small), and a median of 50 mg/L is mg/L
    labelled as mg/dL. Values below the detection limit count at the limit.

    Raises
    ------
    InputError
        Naming the file, site, marker, unit, the median and the rule.
    """
    units = load_resource("biomarker_units.yaml")
    site = biomarkers["patient_id"].map(dict(zip(patients["patient_id"], patients["site"])))
    b = biomarkers.assign(site=site.fillna("(no site)"))
    for (s, m, u), g in b.groupby(["site", "marker", "unit"], sort=True):
        rng = units[m].get("typical_median")
        if rng is None or len(g) < MIN_VALUES_FOR_UNIT_CHECK:
            continue
        med = float(g["value"].median()) * units[m]["units"][u]
        if not rng[0] <= med <= rng[1]:
            canon = units[m]["canonical"]
            raise InputError(
                f"{path}: site {s}, marker {m}, unit {u}: the median of {len(g)} values is {med:g} {canon}, "
                f"outside the range expected for a cohort ({rng[0]:g}-{rng[1]:g} {canon}); the unit is probably "
                f"wrong (for CRP, mg/dL and mg/L differ 10-fold). Check the unit column for this site"
            )


def check_treatments(df: pd.DataFrame, *, path) -> None:
    """At most one prospective trial per patient."""
    pro = df[df["prospective"].fillna(False).astype(bool)]
    d = pro["patient_id"].duplicated()
    if d.any():
        i = d.idxmax()
        raise cell_error(
            path,
            i,
            "prospective",
            "at most one prospective (index) trial per patient",
            f"a second one for {pro.loc[i, 'patient_id']}",
        )


def assume_episode(df: pd.DataFrame, *, path) -> str | None:
    """Fill ``episode`` with 1 where the column is absent or a cell is empty (in place).

    A study that records one episode per patient need not write the column. Returns the
    sentence that says what was assumed (for the log and the manifest), or None.
    """
    if "episode" not in df.columns:
        df.insert(min(1, len(df.columns)), "episode", pd.array([1] * len(df), dtype="Int64"))
        return f"{path}: no 'episode' column; episode 1 assumed for all {len(df)} trials"
    empty = df["episode"].isna()
    if not empty.any():
        return None
    df.loc[empty, "episode"] = 1
    return f"{path}: 'episode' empty in {int(empty.sum())} of {len(df)} trials; episode 1 assumed for those"


def empty_table(name: str) -> pd.DataFrame:
    """An empty table with every column of the schema (for an input the cohort lacks)."""
    schema = load_schema(name)
    cols = {}
    for c, spec in schema["properties"].items():
        t = spec.get("type", "string")
        cols[c] = pd.Series([], dtype={"number": float, "integer": "Int64", "boolean": "boolean"}.get(t, object))
    df = pd.DataFrame(cols)
    if name == "biomarkers":
        df["value"] = df["value"].astype(float)
        df["below_detection"] = pd.Series([], dtype=bool)
    return df


def read_sample_map(path: str | Path) -> pd.DataFrame:
    """Read and check a sample_id -> patient_id map."""
    df = check_table(read_text_table(path), load_schema("sample_map"), path=path)
    _check_duplicates(df, _KEYS["sample_map"], path)
    _check_duplicates(df, ["patient_id"], path)
    return df


def validate_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of :func:`validate_inputs` from a validated config: ``cohort``,
    ``patient_covariates``, ``dose_table`` (``clinical.dose_table``) and ``links``
    (``clinical.harmonise.links``).

    Examples
    --------
    >>> validate_options({"cohort": "c", "inputs": {}})
    {'cohort': 'c', 'patient_covariates': (), 'dose_table': None, 'links': ()}
    """
    clin = config.get("clinical", {})
    return {
        "cohort": config["cohort"],
        "patient_covariates": tuple(config.get("patient_covariates", [])),
        "dose_table": clin.get("dose_table") or None,
        "links": tuple((clin.get("harmonise") or {}).get("links", [])),
    }


def _read_input(name: str, path, *, covariates: tuple[str, ...], manifest: dict[str, Any]) -> pd.DataFrame:
    """One input table read, checked against its schema and recorded in the manifest."""
    raw = read_text_table(path)
    record: dict[str, Any] = {}
    df = check_table(
        raw, load_schema(name), path=path, extra_numeric=covariates if name == "patients" else (), record=record
    )
    if record:
        manifest["canonicalised"][name] = record
        log.info("%s: accepted spellings mapped to canonical values: %s", name, json.dumps(record))
    if name == "treatments":
        assumed = assume_episode(df, path=path)
        if assumed:
            manifest["assumed"]["treatments.episode"] = assumed
            log.info("%s", assumed)
    _check_duplicates(df, _KEYS[name], path)
    if name == "symptoms":
        check_symptom_items(df, path=path)
    elif name == "biomarkers":
        df = parse_biomarkers(df, path=path)
    elif name == "treatments":
        check_treatments(df, path=path)
    manifest["inputs"][name] = {"path": str(path), "sha256": sha256(path), "rows": int(len(df))}
    log.info("%s: %d rows read from %s", name, len(df), path)
    if df.empty and name == "patients":
        raise InputError(f"{path}: the patients table has no rows")
    if df.empty and name == "symptoms":
        raise InputError(
            f"{path}: the symptoms table has a header and no rows; expected item scores (or "
            "instrument totals) per patient and visit: every endpoint and dimension needs them"
        )
    if df.empty and name != "patients":
        manifest["skipped"][name] = f"{path} has a header and no rows: treated as absent"
        log.warning("%s: a header and no rows; the %s table is treated as absent", path, name)
    return df.reset_index(drop=True)


def _check_genotype_files(
    gen: Mapping[str, Any] | None, pids: set[str], *, patients_path, manifest: dict[str, Any]
) -> None:
    """The genotype file(s) (a VCF with its index; a pgen's three files; a BGEN and its sample
    file) and the sample map exist; the map names known patients; a pgen's or BGEN's samples and
    variants can be read (their counts agree)."""
    from stratify.config import genotype_files

    if gen is None:
        manifest["skipped"]["genotypes"] = "no VCF given (inputs.genotypes)"
        return
    files = {**genotype_files(gen), **({"sample_map": gen["sample_map"]} if "sample_map" in gen else {})}
    for role, path in files.items():
        p = Path(path)
        if not p.exists():
            key = {"pvar": "pgen", "psam": "pgen", "bgen_sample": "sample"}.get(role, role)
            raise InputError(f"{p}: file not found (inputs.genotypes.{key})")
        manifest["inputs"][f"genotypes.{role}"] = {"path": str(p), "sha256": sha256(p)}
    if "vcf" not in gen:
        from stratify.genotypes.records import GenotypeInput, check_readable

        check_readable(GenotypeInput.from_config(dict(gen)))  # a GenotypeError names the file and what is wrong
        return
    vcf = Path(gen["vcf"])
    if not (Path(str(vcf) + ".tbi").exists() or Path(str(vcf) + ".csi").exists()):
        raise InputError(
            f"{vcf}: no index found ({vcf}.tbi or {vcf}.csi); "
            f"create one with `tabix -p vcf {vcf}` or `bcftools index {vcf}`"
        )
    if "sample_map" in gen:
        sm = read_sample_map(gen["sample_map"])
        check_known_patients(sm, pids, path=gen["sample_map"], patients_path=patients_path)


def _check_star_allele_files(star: list, pids: set[str], *, patients_path, manifest: dict[str, Any]) -> None:
    """Every star-allele file exists; its sample map names known patients."""
    for i, sa in enumerate(star):
        p = Path(sa["path"])
        if not p.exists():
            raise InputError(f"{p}: file not found (inputs.star_alleles[{i}].path)")
        if "sample_map" in sa:
            sm = read_sample_map(sa["sample_map"])
            check_known_patients(sm, pids, path=sa["sample_map"], patients_path=patients_path)
            manifest["inputs"][f"star_alleles[{i}].sample_map"] = {
                "path": sa["sample_map"],
                "sha256": sha256(sa["sample_map"]),
            }
        manifest["inputs"][f"star_alleles[{i}]"] = {"path": str(p), "sha256": sha256(p), "tool": sa["tool"]}
    if not star:
        manifest["skipped"]["star_alleles"] = "no star-allele calls given (inputs.star_alleles)"


def _check_reference_files(dose_table, links, *, manifest: dict[str, Any]) -> None:
    """A study's own dose table and linking tables are read (and fail here, before any stage runs)."""
    if dose_table:
        doses = load_doses(dose_table)
        manifest["inputs"]["clinical.dose_table"] = {
            "path": str(dose_table),
            "sha256": sha256(dose_table),
            "rows": int(len(doses)),
        }
    for i, ln in enumerate(links):
        load_link(ln["path"], from_instrument=ln["from"], to_instrument=ln["to"], source=ln["source"])
        manifest["inputs"][f"clinical.harmonise.links[{i}]"] = {
            "path": str(ln["path"]),
            "sha256": sha256(ln["path"]),
            "from": ln["from"],
            "to": ln["to"],
            "source": ln["source"],
        }


def validate_inputs(
    inputs: Mapping[str, Any],
    *,
    cohort: str,
    patient_covariates: tuple[str, ...] = (),
    dose_table: str | Path | None = None,
    links: tuple[Mapping[str, Any], ...] = (),
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Read and check every input table named in ``inputs`` (the config's ``inputs`` block).

    ``patient_covariates`` are extra numeric columns of the patients table; ``dose_table``
    and ``links`` (``from``, ``to``, ``path``, ``source``) a study's own minimum-dose and
    linking tables, read here so that a malformed one fails before any stage runs.
    :func:`validate_options` gives all four from a config.

    Returns
    -------
    tables
        name -> typed DataFrame, for patients, symptoms, treatments, biomarkers (an absent
        optional table is returned empty).
    manifest
        What was read: per input its path, SHA-256 and rows, or why it was skipped;
        ``canonicalised``: per table the column names and values read in an accepted spelling
        other than the canonical one, with row counts, and missing-value spellings;
        ``assumed``: what was filled in (``treatments.episode``).
    """
    manifest: dict[str, Any] = {"cohort": cohort, "inputs": {}, "skipped": {}, "canonicalised": {}, "assumed": {}}
    tables: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        if name not in inputs:
            tables[name] = empty_table(name)
            manifest["skipped"][name] = f"not given in the config (inputs.{name})"
            log.info("%s: not given, skipped", name)
            continue
        tables[name] = _read_input(name, inputs[name], covariates=tuple(patient_covariates), manifest=manifest)
    pids = set(tables["patients"]["patient_id"])
    for name in TABLES[1:]:
        if name in inputs:
            check_known_patients(tables[name], pids, path=inputs[name], patients_path=inputs["patients"])
    if "biomarkers" in inputs:
        check_unit_plausibility(tables["biomarkers"], tables["patients"], path=inputs["biomarkers"])
    _check_genotype_files(inputs.get("genotypes"), pids, patients_path=inputs["patients"], manifest=manifest)
    _check_star_allele_files(
        inputs.get("star_alleles") or [], pids, patients_path=inputs["patients"], manifest=manifest
    )
    _check_reference_files(dose_table, links, manifest=manifest)
    manifest["n_patients"] = len(pids)
    return tables, manifest
