"""What makes one simulated cohort look like another site's: its site names, its patient and
sample ids, and which symptom instruments it rated.

Consortium cohorts (:mod:`stratify.simulate.consortium`) differ in these, as real cohorts do:
site names that no other cohort uses, ids that never collide when cohorts are pooled, and
symptom scales of their own (one cohort rated the clinician HAMD-17, another only the
self-rated QIDS-SR16 and IDS-SR30). Everything here is applied after every random draw, so a
relabelled cohort has exactly the patients, scores, markers and genotypes of the cohort drawn
with the same seed without these options, and the defaults change nothing.

The cohort's config then follows its instruments (:func:`endpoint_config`): a cohort without
HAMD-17 items keeps the HAMD-17 response endpoint, converted from QIDS-SR16 totals with the
shipped linking table (Rush AJ et al. Biol Psychiatry 2003;54:573-583; docs/harmonisation.md),
so that every cohort of a consortium has its endpoint on one metric; symptom dimensions whose
instrument was not rated are left out of the feature lists (:func:`feature_config`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from stratify.errors import InputError
from stratify.io.resources import load_resource, load_schema
from stratify.simulate.clinical import INSTRUMENTS, SITES

__all__ = ["check_labels", "endpoint_config", "feature_config", "relabel"]

_ID = re.compile(r"[A-Za-z0-9_.:-]*")
_SITE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_. -]*")


def check_labels(*, instruments: Sequence[str] | None, sites: Sequence[str] | None, id_prefix: str) -> None:
    """Check the relabelling options; raises :class:`~stratify.errors.InputError` naming the option.

    >>> check_labels(instruments=["QIDS_SR16", "IDS_SR30"], sites=None, id_prefix="B-")
    >>> check_labels(instruments=["MADRS"], sites=None, id_prefix="")
    Traceback (most recent call last):
    ...
    stratify.errors.InputError: --instruments MADRS: expected one or more of HAMD17, QIDS_SR16, IDS_SR30 (the simulated scales), each once
    """
    if instruments is not None:
        inst = list(instruments)
        if not inst or any(i not in INSTRUMENTS for i in inst) or len(set(inst)) != len(inst):
            raise InputError(
                f"--instruments {','.join(inst) or '(none)'}: expected one or more of "
                f"{', '.join(INSTRUMENTS)} (the simulated scales), each once"
            )
    if sites is not None:
        names = list(sites)
        if len(names) != len(SITES) or len(set(names)) != len(names) or not all(_SITE.fullmatch(s) for s in names):
            raise InputError(
                f"--sites {','.join(names) or '(none)'}: expected {len(SITES)} distinct site names (letters, "
                f"digits, '_', '.', '-' or spaces), which replace {', '.join(s[0] for s in SITES)} in that order"
            )
    if not _ID.fullmatch(id_prefix):
        raise InputError(
            f"--id-prefix {id_prefix!r}: expected letters, digits, '_', '.', ':' or '-' (patient ids are "
            "made of these; docs/inputs.md)"
        )


def relabel(
    c: dict[str, Any],
    *,
    instruments: Sequence[str] | None = None,
    sites: Sequence[str] | None = None,
    id_prefix: str = "",
) -> dict[str, Any]:
    """A copy of a simulated cohort (:func:`stratify.simulate.cohort.simulate_cohort`'s dict)
    with only the symptom rows of ``instruments``, the sites renamed to ``sites`` (in the order
    of :data:`stratify.simulate.clinical.SITES`) and ``id_prefix`` put before every patient and
    sample id, in the tables, the truth and the sample ids of the genotype files."""
    check_labels(instruments=instruments, sites=sites, id_prefix=id_prefix)
    tables = dict(c["tables"])
    truth = c["truth"].copy()
    if instruments is not None:
        sym = tables["symptoms"]
        tables["symptoms"] = sym[sym["instrument"].isin(list(instruments))].reset_index(drop=True)
    if sites is not None:
        rename = {s[0]: new for s, new in zip(SITES, sites, strict=True)}
        tables["patients"] = tables["patients"].assign(site=tables["patients"]["site"].map(rename))
        truth["site"] = truth["site"].map(rename)
    sample_ids = c["sample_ids"]
    if id_prefix:
        tables = {k: df.assign(patient_id=id_prefix + df["patient_id"].astype(str)) for k, df in tables.items()}
        sm = tables["sample_map"]
        tables["sample_map"] = sm.assign(sample_id=id_prefix + sm["sample_id"].astype(str))
        truth["patient_id"] = id_prefix + truth["patient_id"].astype(str)
        sample_ids = np.array([id_prefix + s for s in sample_ids], dtype=object)
    return {**c, "tables": tables, "truth": truth, "sample_ids": sample_ids}


def endpoint_config(instruments: Sequence[str] | None) -> dict[str, Any]:
    """The written config's ``endpoint`` and, for a cohort without HAMD-17, ``clinical`` block.

    >>> endpoint_config(None)
    {'endpoint': {'kind': 'response', 'instrument': 'HAMD17', 'week': 8}}
    >>> endpoint_config(["QIDS_SR16", "IDS_SR30"])["clinical"]
    {'harmonise': {'from': ['QIDS_SR16']}}
    >>> endpoint_config(["IDS_SR30"])["endpoint"]["instrument"]
    'IDS_SR30'
    """
    inst = list(instruments) if instruments is not None else list(INSTRUMENTS)
    if "HAMD17" in inst:
        return {"endpoint": {"kind": "response", "instrument": "HAMD17", "week": 8}}
    if "QIDS_SR16" in inst:
        # HAMD-17 response from QIDS-SR16 totals (the shipped Rush et al. 2003 table)
        return {
            "endpoint": {"kind": "response", "instrument": "HAMD17", "week": 8},
            "clinical": {"harmonise": {"from": ["QIDS_SR16"]}},
        }
    # no linking table to HAMD-17 is shipped for IDS-SR30: response on its own scale
    return {"endpoint": {"kind": "response", "instrument": inst[0], "week": 8}}


def feature_config(instruments: Sequence[str]) -> dict[str, Any]:
    """The ``features`` and ``subtype.features`` lists of the config schema's defaults, less the
    symptom dimensions (resources/dimensions.yaml) whose instrument is not in ``instruments``.

    >>> f = feature_config(["QIDS_SR16", "IDS_SR30"])
    >>> "anxiety_somatization" in f["features"]["clinical"], "aes" in f["subtype"]["features"]
    (False, True)
    """
    props = load_schema("config")["properties"]
    dims = load_resource("dimensions.yaml")
    absent = {d for d, spec in dims.items() if spec["instrument"] not in set(instruments)}
    groups = props["features"]["properties"]
    return {
        "features": {g: [f for f in groups[g]["default"] if f not in absent] for g in groups},
        "subtype": {"features": [f for f in props["subtype"]["properties"]["features"]["default"] if f not in absent]},
    }
