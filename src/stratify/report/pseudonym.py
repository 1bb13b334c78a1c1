"""Patient identifiers in the report: salted pseudonyms, and the check that no raw identifier is left.

With ``report.pseudonymise`` the report is built inside :func:`pseudonymising`; every place that
shows a patient identifier passes it through :func:`pid`. The finished page is then searched for
raw identifiers (:func:`raw_identifiers_in`).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import hmac
import html
import re
from collections.abc import Iterator
from typing import Any

from markupsafe import escape

SALT_ENV = "STRATIFY_REPORT_SALT"


class Pseudonymiser:
    """Salted, keyed hashes of patient identifiers: ``anon-`` and the first 12 hex digits of
    HMAC-SHA256(salt, identifier). Without the salt a pseudonym cannot be linked back to its
    identifier, and the same salt gives the same pseudonym in every run.

    >>> p = Pseudonymiser("s3cret")
    >>> p("P00001") == p("P00001"), p("P00001") == p("P00002"), p("P00001")[:5], len(p("P00001"))
    (True, False, 'anon-', 17)
    >>> Pseudonymiser("other")("P00001") == p("P00001")
    False
    """

    def __init__(self, salt: str):
        if not salt:
            raise ValueError("a pseudonymisation salt must not be empty")
        self._key = salt.encode()

    def __call__(self, patient_id: Any) -> str:
        return "anon-" + hmac.new(self._key, str(patient_id).encode(), hashlib.sha256).hexdigest()[:12]


# the pseudonymiser of the report being built (None: identifiers as they are)
_PSEUDO: contextvars.ContextVar[Pseudonymiser | None] = contextvars.ContextVar("stratify_report_pseudo", default=None)


@contextlib.contextmanager
def pseudonymising(salt: str) -> Iterator[Pseudonymiser]:
    """Within the block, :func:`pid` replaces every identifier by its salted pseudonym."""
    p = Pseudonymiser(salt)
    token = _PSEUDO.set(p)
    try:
        yield p
    finally:
        _PSEUDO.reset(token)


def active() -> bool:
    """Whether the report being built pseudonymises patient identifiers."""
    return _PSEUDO.get() is not None


def pid(x: Any) -> str:
    """A patient identifier as the report shows it (pseudonymised when the option is on).

    >>> pid("P1")
    'P1'
    >>> with pseudonymising("s"):
    ...     pid("P1")[:5]
    'anon-'
    """
    p = _PSEUDO.get()
    return p(x) if p is not None else str(x)


def raw_identifiers_in(page: str, ids: list[str]) -> list[str]:
    """The identifiers of ``ids`` that occur in ``page`` as whole tokens, outside embedded
    ``data:`` images (base64 text can contain any short string by chance). An identifier with
    characters HTML escapes is looked for as written and escaped (by Python's ``html.escape``
    and by Jinja's MarkupSafe, which spell quotes differently).

    >>> raw_identifiers_in("<td>P001</td><td>P0012</td><img src='data:image/png;base64,P002'>", ["P001", "P002"])
    ['P001']
    >>> raw_identifiers_in("<td>O&#39;Neil</td>", ["O'Neil"])
    ["O'Neil"]
    """
    text = re.sub(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+", "data:", page)
    tokens = set(re.findall(r"[A-Za-z0-9_.:-]+", text))
    plain = re.compile(r"[A-Za-z0-9_.:-]+")
    return [
        i
        for i in ids
        if (i in tokens if plain.fullmatch(i) else (i in text or html.escape(i) in text or str(escape(i)) in text))
    ]
