"""The trd stage: treatment-resistant depression under every published definition.

One module per definition (:mod:`~stratify.trd.sforzini` with our PK variant,
:mod:`~stratify.trd.thase_rush`, :mod:`~stratify.trd.maudsley`, :mod:`~stratify.trd.conway`,
:mod:`~stratify.trd.markowitz`), the per-patient loop and conventions they share
(:mod:`~stratify.trd.common`), the registry that runs them side by side
(:mod:`~stratify.trd.staging`) and their agreement (:mod:`~stratify.trd.concordance`).
"""

from stratify.trd.common import TRIAL_COLUMNS
from stratify.trd.concordance import (
    BINARY_CALLS,
    CONCORDANCE_COLUMNS,
    binary_calls,
    concordance,
)
from stratify.trd.conway import conway_2017
from stratify.trd.markowitz import load_psychotherapies, markowitz_2022
from stratify.trd.maudsley import maudsley_staging
from stratify.trd.sforzini import SFORZINI_COUNTED, sforzini_2021, sforzini_pk_variant
from stratify.trd.staging import DEFINITIONS, Definition, stage_all, trd_options
from stratify.trd.thase_rush import thase_rush_1997

__all__ = [
    "BINARY_CALLS",
    "CONCORDANCE_COLUMNS",
    "DEFINITIONS",
    "SFORZINI_COUNTED",
    "TRIAL_COLUMNS",
    "Definition",
    "binary_calls",
    "concordance",
    "conway_2017",
    "load_psychotherapies",
    "markowitz_2022",
    "maudsley_staging",
    "sforzini_2021",
    "sforzini_pk_variant",
    "stage_all",
    "thase_rush_1997",
    "trd_options",
]
