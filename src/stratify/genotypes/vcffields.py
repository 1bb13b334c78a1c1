"""Vectorised reading of a FORMAT field other than GT (the imputed dosage DS) from a VCF record.

A record's sample columns are one byte string; the tabs give each sample's start and the
colons inside a sample its fields, in FORMAT order. For the field with FORMAT key index
``k`` (GT = 0, DS usually 1), a sample's value starts after its k-th colon and ends at the
next colon or tab. A sample with fewer fields than FORMAT lists (trailing fields dropped,
as VCF 4.x allows) has the value missing. Decimals in plain notation (``1``, ``0.123``,
``2.000``) are parsed with numpy for all samples at once (the integer mantissa divided by a
power of ten, so the result is the correctly rounded value that ``float()`` gives); anything
else (``1e-3``) goes through ``float()``; ``.`` is missing.
"""

from __future__ import annotations

import numpy as np

from stratify.errors import GenotypeError

_TAB, _COLON, _DOT, _ZERO = 9, 58, 46, 48
_WIDTH = 12  # the widest value the vectorised parser reads; wider ones go through float()
_POW10 = 10.0 ** np.arange(_WIDTH + 1)
_SEPARATOR = np.zeros(256, dtype=bool)
_SEPARATOR[[_COLON, _TAB, 10, 13]] = True
DOSAGE_UNIT = 16384  # PLINK 2's dosage resolution (kDosageMid in plink2's pgenlib)


def format_index(fmt: bytes, key: bytes) -> int | None:
    """Position of ``key`` among the FORMAT keys (``GT:DS:GP``, DS -> 1), None if absent."""
    keys = fmt.split(b":")
    return keys.index(key) if key in keys else None


def field_spans(body: np.ndarray, starts: np.ndarray, ends: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(first byte, stop) of the k-th field (k >= 1) of each sample ``[starts, ends)`` of
    ``body``; stop == first where the sample has fewer than k + 1 fields."""
    colons = np.flatnonzero(body == _COLON)
    i = np.searchsorted(colons, starts) + (k - 1)  # the sample's k-th colon, if it is inside the sample
    padded = np.append(colons, [body.size, body.size])
    c = padded[np.minimum(i, colons.size)]
    has = (i < colons.size) & (c < ends)
    first = np.where(has, c + 1, ends)
    nxt = padded[np.minimum(i + 1, colons.size)]
    stop = np.where(has, np.minimum(nxt, ends), ends)
    return first, stop


def _fixed_spans(
    body: np.ndarray, starts: np.ndarray, ends: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """The spans of field ``k == 1`` when every sample has a 3-byte GT and a value of the first
    sample's width after it (``0/1:0.123:...``, as imputation servers write them) or ``.``: checked
    with a few byte gathers, no scan of the record; (None, None) when that does not hold. A
    span that holds a separator is caught by :func:`parse_decimals` (not a plain decimal)."""
    if k != 1 or not starts.size or ends[0] - starts[0] < 5:
        return None, None
    first = starts + 4
    col = body[int(starts[0]) + 4 : int(ends[0])].tobytes()
    width = len(col.split(b":", 1)[0])
    # a missing value '.' is the one other width allowed
    stop = first + np.where(
        (body.take(first, mode="clip") == _DOT) & _SEPARATOR.take(body.take(first + 1, mode="clip")), 1, width
    )
    if not (
        (body.take(starts + 3, mode="clip") == _COLON).all()
        and (stop <= ends).all()
        and _SEPARATOR.take(body.take(stop, mode="clip")).all()
        and (stop < body.size).all()
    ):
        return None, None
    return first, stop


def plain_decimals(body: np.ndarray, first: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The decimal numbers in ``body[first:stop]`` as float64 (NaN where the value is ``.`` or
    empty) and a mask of the values not read (another spelling, for :func:`other_decimals`).

    Values of one length are parsed together, a column of bytes at a time: ``d`` or ``d.ddd``
    (one digit before the point, as DS is written) as the integer mantissa over a power of ten,
    which gives the correctly rounded value, as ``float()`` does."""
    length = stop - first
    out = np.full(first.size, np.nan)
    missing = (length == 0) | ((length == 1) & (body.take(first, mode="clip") == _DOT))
    todo = ~missing
    counts = np.bincount(np.minimum(length[todo], _WIDTH + 1), minlength=_WIDTH + 2)
    widths = [w for w in np.flatnonzero(counts[: _WIDTH + 1]).tolist() if w != 2]
    for width in widths:
        rows = np.flatnonzero(todo & (length == width)) if len(widths) > 1 else np.flatnonzero(todo)
        f = first[rows]
        mant = body.take(f) - np.uint8(_ZERO)  # uint8: a non-digit wraps above 9
        ok = mant <= 9
        mant = mant.astype(np.int32 if width <= 10 else np.int64)  # 9 digits fit an int32
        if width > 2:
            ok &= body.take(f + 1) == _DOT
            for j in range(2, width):
                dj = body.take(f + j) - np.uint8(_ZERO)
                ok &= dj <= 9
                mant = mant * 10 + dj
        if ok.all():
            out[rows] = mant / _POW10[max(width - 2, 0)]
            todo[rows] = False
        else:
            out[rows[ok]] = mant[ok] / _POW10[max(width - 2, 0)]
            todo[rows[ok]] = False
    return out, todo


def other_decimals(
    body: np.ndarray,
    first: np.ndarray,
    stop: np.ndarray,
    out: np.ndarray,
    todo: np.ndarray,
    where: str,
    what: str,
    sample_cols: np.ndarray,
) -> None:
    """Read the values ``todo`` into ``out`` with ``float()`` (exponents, signs, 10, .5), or a
    named error for one that is not a number (``sample_cols``: column numbers, 0-based)."""
    for i in np.flatnonzero(todo):  # rare: other spellings (10, .5, 1e-3, +1), or not a number
        raw = bytes(body[first[i] : stop[i]]).decode("ascii", "replace")
        try:
            out[i] = float(raw)
        except ValueError:
            raise GenotypeError(
                f"{where}, sample column {int(sample_cols[i]) + 1}: {what} {raw!r} is not a number (expected "
                "a decimal such as 0.25, or . when missing)"
            ) from None


def read_dosage_field(
    body: np.ndarray, starts: np.ndarray, ends: np.ndarray, k: int, where: str, *, sample_cols: np.ndarray
) -> np.ndarray:
    """DS (the expected ALT count, 0 to 2) of each sample ``[starts, ends)``, NaN when missing,
    held at PLINK 2's dosage resolution of 1/16384 (``plink2 --vcf dosage=DS`` rounds DS to that
    grid on import and a pgen stores it so, so the same data give the same scores from either
    file; the rounding moves a value by at most 3.1e-5, below the 5e-4 of a 3-decimal DS).

    ``sample_cols`` = the samples' column numbers (0-based) for error messages."""
    first, stop = _fixed_spans(body, starts, ends, k)
    if first is not None:
        ds, todo = plain_decimals(body, first, stop)
    if first is None or todo.any():  # not the fixed layout: find each sample's field
        first, stop = field_spans(body, starts, ends, k)
        ds, todo = plain_decimals(body, first, stop)
    other_decimals(body, first, stop, ds, todo, where, "DS", sample_cols)
    bad = (ds < 0) | (ds > 2)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise GenotypeError(
            f"{where}, sample column {int(sample_cols[i]) + 1}: DS {float(ds[i]):g} is outside 0..2 "
            "(expected the dosage of the ALT allele of a diploid biallelic call)"
        )
    return (np.floor(ds * DOSAGE_UNIT + 0.5) / DOSAGE_UNIT).astype(np.float32)
