"""Convert depression-scale totals between instruments with published linking tables.

Consortia whose sites used different scales (HAMD-17, QIDS-SR16, MADRS) can put their totals
on one scale. Every conversion uses a *linking table*: for each integer total of the source
instrument, the range ``[to_low, to_high]`` of corresponding totals of the target instrument.
Every converted value says so (:func:`harmonise_totals` adds ``converted``,
``converted_from`` and ``conversion_source``).

stratify ships one table, QIDS-SR16 -> HAMD-17 (Rush et al. 2003, as published at
ids-qids.org; see resources/SOURCES.md, "Cross-instrument linking"). Its reverse,
HAMD-17 -> QIDS-SR16, is built from it. HAMD-17 <-> MADRS (Leucht et al. 2018) and
QIDS-SR16 <-> MADRS (Carmody et al. 2006) are **not** shipped: their full tables could not be
read and checked. A study that holds them passes its own table through :func:`load_link`.
Conversions are never chained (QIDS-SR16 -> HAMD-17 -> MADRS is refused): each pair needs a
table of its own.

Rules
-----
- Forward (a table as written): an integer score gives the midpoint of ``[to_low, to_high]``.
- Reverse (built from a forward table): a target-instrument integer score ``s`` gives the
  mean of every ``from_score`` whose ``[to_low, to_high]`` contains ``s``. A score that no
  row covers has no counterpart and gives NaN (logged with the reason).
- Non-integer totals (prorated) are interpolated linearly between the converted values of
  the two neighbouring integers. NaN stays NaN. A value outside the instrument's range
  raises :class:`~stratify.errors.InputError`.
- Same instrument: the values are returned unchanged and are not marked converted.

See docs/harmonisation.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from stratify.errors import InputError, where
from stratify.io.paths import resource_dir
from stratify.io.resources import load_resource
from stratify.io.text import read_text_table

log = logging.getLogger(__name__)

#: Total-score range ``(0, total_max)`` of every instrument in resources/instruments.yaml
#: (HAMD17 0-52, QIDS_SR16 0-27, MADRS 0-60, IDS_SR30 0-84, PHQ9 0-27).
INSTRUMENT_RANGE: dict[str, tuple[int, int]] = {
    name: (0, int(spec["total_max"])) for name, spec in load_resource("instruments.yaml").items()
}

COLUMNS = ("from_score", "to_low", "to_high")

#: The linking tables shipped under resources/harmonisation/ (provenance and checksums in
#: resources/SOURCES.md). Key: (from instrument, to instrument).
SHIPPED: dict[tuple[str, str], dict[str, str]] = {
    ("QIDS_SR16", "HAMD17"): {
        "file": "harmonisation/qids_sr16_hamd17.tsv",
        "source": "Rush AJ et al. Biol Psychiatry 2003;54:573-583 (QIDS-SR16 to HRSD17 table at "
        "ids-qids.org/interpretation.html, adapted from Rush et al. 2003 and Trivedi et al. 2004)",
    },
}

#: Published linking studies whose tables are not shipped; named in the error that asks for one.
KNOWN_UNSHIPPED: dict[frozenset[str], str] = {
    frozenset({"HAMD17", "MADRS"}): "Leucht S et al. J Affect Disord 2018;226:326-331 (equipercentile linking)",
    frozenset({"QIDS_SR16", "MADRS"}): "Carmody TJ et al. J Affect Disord 2006;95:115-118",
}


@dataclass(frozen=True, eq=False)
class Link:
    """A linking table from one instrument's total to another's.

    Attributes
    ----------
    from_instrument, to_instrument : str
        Instrument names as in resources/instruments.yaml (``HAMD17``, ``QIDS_SR16``, ``MADRS``).
    table : pandas.DataFrame
        One row per integer ``from_score`` 0..max of ``from_instrument``, with ``to_low`` and
        ``to_high`` (the corresponding range of ``to_instrument`` totals) and ``value``, the
        converted value of that integer (the midpoint for a table as written; for a reversed
        table the mean of the covering scores, with ``to_low``/``to_high`` their minimum and
        maximum, and all three NaN where no score covers). Must not be mutated.
    source : str
        Citation of the published table.
    path : pathlib.Path or None
        The file the table was read from.
    reverse : bool
        True for a table built by :func:`reverse_link` from one written the other way.
    """

    from_instrument: str
    to_instrument: str
    table: pd.DataFrame
    source: str
    path: Path | None = None
    reverse: bool = False

    @property
    def name(self) -> str:
        """``FROM->TO`` with the file, for messages."""
        return f"{self.from_instrument}->{self.to_instrument} linking table ({self.path})"


def _range(instrument: str) -> tuple[int, int]:
    if instrument not in INSTRUMENT_RANGE:
        raise InputError(f"unknown instrument {instrument!r}; expected one of {', '.join(INSTRUMENT_RANGE)}")
    return INSTRUMENT_RANGE[instrument]


def load_link(path: str | Path, *, from_instrument: str, to_instrument: str, source: str) -> Link:
    """Read and check a linking table (tab-separated ``from_score, to_low, to_high``).

    The table needs one row for every integer total 0..max of ``from_instrument``. ``to_low``
    and ``to_high`` are numbers within ``to_instrument``'s range with ``to_low <= to_high``.
    Both must be non-decreasing down the table (linking tables are monotone). Every problem
    raises :class:`~stratify.errors.InputError` naming the file, the line (header = line 1),
    the column and what was expected.

    Parameters
    ----------
    path : str or pathlib.Path
        The table. ``.csv`` files are read comma-separated.
    from_instrument, to_instrument : str
        What the table converts from and to (names as in resources/instruments.yaml).
    source : str
        Citation of the published table; copied into every converted row.

    Returns
    -------
    Link
        With a ``value`` column: the midpoint of each row's range.

    Examples
    --------
    >>> link = shipped_links()["QIDS_SR16", "HAMD17"]
    >>> link.table.loc[1, ["to_low", "to_high", "value"]].tolist()   # QIDS 1 -> HAMD 1-2, i.e. 1.5
    [1.0, 2.0, 1.5]
    """
    path = Path(path)
    lo_from, hi_from = _range(from_instrument)
    lo_to, hi_to = _range(to_instrument)
    if from_instrument == to_instrument:
        raise InputError(f"{path}: a linking table needs two different instruments, got {from_instrument} twice")
    if not str(source).strip():
        raise InputError(f"{path}: give the citation of the linking table (source=...)")
    raw = read_text_table(path)
    missing = [c for c in COLUMNS if c not in raw.columns]
    extra = [c for c in raw.columns if c not in COLUMNS]
    if missing or extra:
        found = ", ".join(raw.columns)
        what = (
            f"missing column {', '.join(repr(c) for c in missing)}"
            if missing
            else f"unexpected column {', '.join(repr(c) for c in extra)}"
        )
        raise InputError(f"{where(path, 1)}: {what}; expected exactly the columns {', '.join(COLUMNS)} (found {found})")
    if raw.empty:
        raise InputError(f"{path}: no rows; expected one row per {from_instrument} score {lo_from}..{hi_from}")
    lines = raw.index.to_numpy() + 2
    cols: dict[str, np.ndarray] = {}
    for col in COLUMNS:
        text = raw[col].str.strip()
        num = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
        want = "an integer" if col == "from_score" else "a number"
        bad = np.isnan(num) | ((num % 1 != 0) if col == "from_score" else False)
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(f"{where(path, int(lines[i]), col)}: expected {want}, found {text.iloc[i]!r}")
        lo, hi, inst = (lo_from, hi_from, from_instrument) if col == "from_score" else (lo_to, hi_to, to_instrument)
        out = (num < lo) | (num > hi)
        if out.any():
            i = int(np.argmax(out))
            raise InputError(
                f"{where(path, int(lines[i]), col)}: expected a {inst} score within its range "
                f"{lo}..{hi}, found {text.iloc[i]!r}"
            )
        cols[col] = num
    lo, hi = cols["to_low"], cols["to_high"]
    inverted = lo > hi
    if inverted.any():
        i = int(np.argmax(inverted))
        raise InputError(
            f"{where(path, int(lines[i]), 'to_low')}: expected to_low <= to_high, found to_low "
            f"{raw['to_low'].iloc[i].strip()} > to_high {raw['to_high'].iloc[i].strip()}"
        )
    fs = cols["from_score"].astype(int)
    seen: dict[int, int] = {}
    for line, s in zip(lines, fs):
        if s in seen:
            raise InputError(
                f"{where(path, int(line), 'from_score')}: duplicate from_score {s} (first on line "
                f"{seen[s]}); expected each {from_instrument} score once"
            )
        seen[int(s)] = int(line)
    absent = sorted(set(range(lo_from, hi_from + 1)) - set(seen))
    if absent:
        raise InputError(
            f"{path}: column 'from_score' must list every {from_instrument} score {lo_from}..{hi_from} "
            f"once; missing {_show(absent)}"
        )
    order = np.argsort(fs, kind="stable")
    for col, vals in (("to_low", lo), ("to_high", hi)):
        v = vals[order]
        drop = np.flatnonzero(np.diff(v) < 0)
        if drop.size:
            a, b = order[drop[0]], order[drop[0] + 1]
            raise InputError(
                f"{where(path, int(lines[b]), col)}: expected {col} to be non-decreasing with "
                f"from_score (linking tables are monotone), found {raw[col].iloc[b].strip()} for "
                f"from_score {fs[b]} after {raw[col].iloc[a].strip()} for from_score {fs[a]} "
                f"(line {lines[a]})"
            )
    table = pd.DataFrame({"from_score": fs[order], "to_low": lo[order], "to_high": hi[order]})
    table["value"] = (table["to_low"] + table["to_high"]) / 2
    return Link(from_instrument, to_instrument, table, str(source), path)


def reverse_link(link: Link) -> Link:
    """The reverse of a linking table: for each target score, the mean of the covering scores.

    Target scores covered by no row get NaN in ``to_low``, ``to_high`` and ``value``.

    Examples
    --------
    >>> rev = reverse_link(shipped_links()["QIDS_SR16", "HAMD17"])
    >>> rev.table.loc[18, ["to_low", "to_high", "value"]].tolist()   # HAMD 18: rows of QIDS 14, 15
    [14.0, 15.0, 14.5]
    """
    lo_t, hi_t = _range(link.to_instrument)
    scores = np.arange(lo_t, hi_t + 1)
    f = link.table["from_score"].to_numpy(dtype=float)
    covers = (link.table["to_low"].to_numpy()[None, :] <= scores[:, None]) & (
        scores[:, None] <= link.table["to_high"].to_numpy()[None, :]
    )
    n = covers.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, (covers * f).sum(axis=1) / np.maximum(n, 1), np.nan)
    low = np.where(n > 0, np.where(covers, f, np.inf).min(axis=1), np.nan)
    high = np.where(n > 0, np.where(covers, f, -np.inf).max(axis=1), np.nan)
    table = pd.DataFrame({"from_score": scores, "to_low": low, "to_high": high, "value": mean})
    source = (
        f"{link.source}; reversed (mean of the {link.from_instrument} scores whose "
        f"{link.to_instrument} range contains the score)"
    )
    return Link(link.to_instrument, link.from_instrument, table, source, link.path, reverse=True)


def shipped_links() -> dict[tuple[str, str], Link]:
    """The linking tables shipped with stratify, as written (QIDS_SR16 -> HAMD17).

    Examples
    --------
    >>> sorted(shipped_links())
    [('QIDS_SR16', 'HAMD17')]
    """
    return {
        pair: load_link(
            resource_dir() / spec["file"], from_instrument=pair[0], to_instrument=pair[1], source=spec["source"]
        )
        for pair, spec in SHIPPED.items()
    }


def available_links(extra: list[Link] | None = None) -> dict[tuple[str, str], Link]:
    """The shipped tables, the user's tables (``extra``) and the reverse of each.

    A user table replaces a shipped one for the same pair. A table written in a direction wins
    over one reversed into it. Two user tables for the same pair are an error.

    Examples
    --------
    >>> sorted(available_links())
    [('HAMD17', 'QIDS_SR16'), ('QIDS_SR16', 'HAMD17')]
    """
    written: dict[tuple[str, str], Link] = dict(shipped_links())
    users: set[tuple[str, str]] = set()
    for link in extra or []:
        if not isinstance(link, Link):
            raise TypeError(f"extra must hold Link objects (from load_link), got {type(link).__name__}")
        pair = (link.from_instrument, link.to_instrument)
        if pair in users:
            raise InputError(
                f"two linking tables from {pair[0]} to {pair[1]}: {written[pair].path} and {link.path}; give one"
            )
        if pair in written:
            log.info("the %s replaces the shipped one", link.name)
        users.add(pair)
        written[pair] = link
    out = dict(written)
    for (a, b), link in written.items():
        if (b, a) not in written:
            out[b, a] = reverse_link(link)
    return out


def _resolve(links) -> dict[tuple[str, str], Link]:
    if links is None:
        return available_links()
    if isinstance(links, Mapping):
        return dict(links)
    if isinstance(links, Link):
        return available_links([links])
    return available_links(list(links))


def _missing_link(from_instrument: str, to_instrument: str, links: Mapping) -> InputError:
    have = ", ".join(f"{a}->{b}" for a, b in sorted(links)) or "none"
    known = KNOWN_UNSHIPPED.get(frozenset({from_instrument, to_instrument}))
    return InputError(
        f"no linking table from {from_instrument} to {to_instrument} (available: {have}); supply one with "
        f"load_link(path, from_instrument={from_instrument!r}, to_instrument={to_instrument!r}, source=...): "
        f"a tab-separated file with columns from_score, to_low, to_high and one row per {from_instrument} "
        f"score {INSTRUMENT_RANGE[from_instrument][0]}..{INSTRUMENT_RANGE[from_instrument][1]}"
        + (f" (published: {known})" if known else "")
    )


def _check_range(x: np.ndarray, instrument: str, labels=None) -> None:
    lo, hi = _range(instrument)
    bad = ~np.isnan(x) & ((x < lo) | (x > hi))
    if bad.any():
        i = int(np.argmax(bad.ravel()))
        at = f" ({labels(i)})" if labels is not None else ""
        raise InputError(f"{instrument} total {x.ravel()[i]:g}{at} is outside the instrument's range {lo}..{hi}")


def _apply(x: np.ndarray, link: Link) -> tuple[np.ndarray, np.ndarray]:
    """Converted values and a mask of values that fell on an uncovered score (NaN)."""
    v = link.table["value"].to_numpy(dtype=float)
    lo = link.table["from_score"].iloc[0]
    flat = x.ravel()
    ok = ~np.isnan(flat)
    k = np.zeros(flat.shape, dtype=int)
    k[ok] = np.floor(flat[ok]).astype(int) - lo
    k = np.clip(k, 0, len(v) - 1)
    w = np.where(ok, flat - (k + lo), 0.0)
    k1 = np.minimum(k + 1, len(v) - 1)
    with np.errstate(invalid="ignore"):
        out = np.where(w == 0, v[k], (1 - w) * v[k] + w * v[k1])
    out = np.where(ok, out, np.nan)
    gap = ok & np.isnan(out)
    return out.reshape(x.shape), gap.reshape(x.shape)


def _gap_reason(link: Link, values: np.ndarray) -> str:
    """Why ``values`` (which fell on uncovered scores of a reversed table) give NaN."""
    v = np.unique(values)
    ints = np.unique(np.concatenate([np.floor(v), np.ceil(v)])).astype(int)
    lo = int(link.table["from_score"].iloc[0])
    uncovered = [s for s in ints if np.isnan(link.table["value"].iloc[s - lo])]
    plural = "s" if len(uncovered) > 1 else ""
    return (
        f"{link.from_instrument} score{plural} {_show(uncovered)} ha{'ve' if plural else 's'} no "
        f"corresponding {link.to_instrument} score in the {link.name}: no row of the table it was "
        f"reversed from covers {'them' if plural else 'it'} (total{'s' if len(v) > 1 else ''} "
        f"{_show(v)} give NaN)"
    )


def _show(values, n: int = 10) -> str:
    values = list(values)
    text = ", ".join(f"{x:g}" for x in values[:n])
    return text + (f" and {len(values) - n} more" if len(values) > n else "")


def convert(values, *, from_instrument: str, to_instrument: str, links=None) -> np.ndarray:
    """Convert totals from one instrument's scale to another's with a linking table.

    An integer total gives the midpoint of the table's ``[to_low, to_high]`` (forward table) or
    the mean of the covering ``from_score`` values (reversed table). A non-integer total
    (e.g. prorated 11.6) is interpolated linearly between its two neighbouring integers. NaN
    stays NaN. A score that the reversed table does not cover gives NaN, with a warning.

    Parameters
    ----------
    values : float or array-like of float
        Totals on ``from_instrument``'s scale.
    from_instrument, to_instrument : str
        Instrument names (``HAMD17``, ``QIDS_SR16``, ``MADRS``, ...). The same name twice
        returns the values unchanged.
    links : dict, list of Link, Link or None
        A mapping as returned by :func:`available_links`, used as is; or user tables
        (:func:`load_link`) added to the shipped ones with :func:`available_links`; None means
        the shipped tables only.

    Returns
    -------
    numpy.ndarray of float
        Same shape as ``values``.

    Raises
    ------
    InputError
        A value outside ``from_instrument``'s range, an unknown instrument, or no table for
        the pair (the message says how to supply one).

    Examples
    --------
    >>> convert([1, 4, 4.5, 5, 27], from_instrument="QIDS_SR16", to_instrument="HAMD17")
    array([ 1.5 ,  5.5 ,  6.25,  7.  , 44.  ])
    >>> convert([18, 40], from_instrument="HAMD17", to_instrument="QIDS_SR16")
    array([14.5, 27. ])
    >>> convert(30, from_instrument="QIDS_SR16", to_instrument="HAMD17")
    Traceback (most recent call last):
    stratify.errors.InputError: QIDS_SR16 total 30 is outside the instrument's range 0..27
    """
    x = np.asarray(values, dtype=float)
    _range(to_instrument)
    _check_range(x, from_instrument)
    if from_instrument == to_instrument:
        return x.copy()
    table = _resolve(links)
    link = table.get((from_instrument, to_instrument))
    if link is None:
        raise _missing_link(from_instrument, to_instrument, table)
    out, gap = _apply(x, link)
    if gap.any():
        log.warning("%s", _gap_reason(link, x[gap]))
    return out


def harmonise_totals(totals: pd.DataFrame, *, target: str, links=None) -> pd.DataFrame:
    """Put every total of a long table on one instrument's scale, marking converted rows.

    ``totals`` has columns ``patient_id, week, instrument, total`` (as written by
    :func:`stratify.clinical.scores.instrument_totals`). A copy is returned, same rows in the same
    order, with four columns added:

    - ``total_<target>`` (float): the total itself for ``target`` rows; the converted total
      for rows of an instrument with a linking table to ``target``; NaN otherwise.
    - ``converted`` (bool): True where ``total_<target>`` comes (or, for a NaN total, would
      come) from a linking table.
    - ``converted_from``: the row's instrument where converted, else ``""``.
    - ``conversion_source``: the table's citation where converted; ``""`` for ``target``
      rows; otherwise why there is no value (``"no linking table from X to TARGET"``, or
      the score the reversed table does not cover).

    Parameters
    ----------
    totals : pandas.DataFrame
        Long table of totals.
    target : str
        Instrument to put the totals on.
    links : dict, list of Link, Link or None
        As in :func:`convert`.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> t = pd.DataFrame({"patient_id": ["P1", "P2", "P3"], "week": 0.0,
    ...                   "instrument": ["HAMD17", "QIDS_SR16", "PHQ9"], "total": [20.0, 11.6, 12.0]})
    >>> out = harmonise_totals(t, target="HAMD17")
    >>> out[["instrument", "converted_from", "converted", "total_HAMD17"]]   # 11.6: 14.5 + 0.6 * (16 - 14.5)
      instrument converted_from  converted  total_HAMD17
    0     HAMD17                     False          20.0
    1  QIDS_SR16      QIDS_SR16       True          15.4
    2       PHQ9                     False           NaN
    >>> out.loc[2, "conversion_source"]
    'no linking table from PHQ9 to HAMD17'
    """
    missing = [c for c in ("instrument", "total") if c not in totals.columns]
    if missing:
        raise InputError(
            f"harmonise_totals: totals table lacks column {', '.join(repr(c) for c in missing)}; "
            "expected patient_id, week, instrument, total"
        )
    _range(target)
    table = _resolve(links)
    n = len(totals)
    inst = totals["instrument"].astype(object).to_numpy()
    x = pd.to_numeric(totals["total"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    value = np.full(n, np.nan)
    converted = np.zeros(n, dtype=bool)
    conv_from = np.full(n, "", dtype=object)
    conv_source = np.full(n, "", dtype=object)

    def labels(rows):
        def at(i):
            r = rows[i]
            bits = [f"{c} {totals[c].iloc[r]}" for c in ("patient_id", "week") if c in totals.columns]
            return ", ".join(bits) or f"row {r + 1}"

        return at

    for name in pd.unique(inst):
        rows = np.flatnonzero(inst == name)
        if name == target:
            _check_range(x[rows], target, labels(rows))
            value[rows] = x[rows]
            continue
        link = table.get((name, target))
        if link is None:
            conv_source[rows] = f"no linking table from {name} to {target}"
            continue
        _check_range(x[rows], name, labels(rows))
        out, gap = _apply(x[rows], link)
        value[rows] = out
        ok = rows[~gap]
        converted[ok] = True
        conv_from[ok] = name
        conv_source[ok] = link.source
        if gap.any():
            for r in rows[gap]:
                conv_source[r] = _gap_reason(link, x[[r]])
            log.warning("%s (%d rows)", _gap_reason(link, x[rows][gap]), int(gap.sum()))
    out = totals.copy()
    out[f"total_{target}"] = value
    out["converted"] = converted
    out["converted_from"] = conv_from
    out["conversion_source"] = conv_source
    return out


__all__ = [
    "INSTRUMENT_RANGE",
    "Link",
    "load_link",
    "reverse_link",
    "shipped_links",
    "available_links",
    "convert",
    "harmonise_totals",
]
