"""CPIC antidepressant guidance per patient and medication trial.

The table ``resources/pgx/cpic_antidepressant_guidance.tsv`` holds one CPIC recommendation
per (drug, gene, phenotype): the SSRI/SNRI guideline (Bousman et al., Clin Pharmacol Ther
2023;114:51-68) for citalopram, escitalopram, sertraline (CYP2C19), paroxetine,
fluvoxamine, vortioxetine and venlafaxine (CYP2D6), and the tricyclic guideline (Hicks et
al., Clin Pharmacol Ther 2017;102:37-44) for the tertiary amines amitriptyline,
clomipramine, doxepin, imipramine, trimipramine (CYP2C19 and CYP2D6) and the secondary
amines nortriptyline and desipramine (CYP2D6). Where each row's wording was checked is in
its ``source_url_or_ref`` column and in resources/SOURCES.md.

Examples
--------
>>> from stratify.pgx.guidance import load_guidance
>>> g = load_guidance()
>>> row = g[(g.drug == "escitalopram") & (g.phenotype == "Ultrarapid Metabolizer")]
>>> row["action"].item()
'alternative'
"""

from __future__ import annotations

import math

import pandas as pd

from stratify.errors import InputError, PgxError
from stratify.paths import resource_dir

GUIDANCE_FILE = "pgx/cpic_antidepressant_guidance.tsv"
GUIDANCE_COLUMNS = [
    "drug",
    "gene",
    "phenotype",
    "recommendation",
    "action",
    "classification",
    "guideline",
    "source_url_or_ref",
    "verified",
    "notes",
]
ACTIONS = ("standard", "dose_change", "alternative", "avoid", "no_recommendation")
#: Actions a trial can get in the output besides those of the table.
NO_RESULT = "no_result"
NO_GUIDELINE = "no_guideline"
#: Actions that ask the prescriber to change something.
ACTIONABLE = frozenset({"dose_change", "alternative", "avoid"})
#: Phenotypes whose exposure to the drug is lower than in normal metabolizers (faster
#: clearance), and those whose exposure is higher (slower clearance).
LOWER_EXPOSURE = {
    "CYP2C19": frozenset({"Ultrarapid Metabolizer", "Rapid Metabolizer"}),
    "CYP2D6": frozenset({"Ultrarapid Metabolizer"}),
}
HIGHER_EXPOSURE = {
    "CYP2C19": frozenset(
        {
            "Likely Intermediate Metabolizer",
            "Intermediate Metabolizer",
            "Likely Poor Metabolizer",
            "Poor Metabolizer",
        }
    ),
    "CYP2D6": frozenset({"Intermediate Metabolizer", "Poor Metabolizer"}),
}
#: Treatment modalities whose ``agent`` is a drug.
DRUG_MODALITIES = ("medication", "augmentation")

OUTPUT_COLUMNS = [
    "patient_id",
    "episode",
    "trial",
    "agent",
    "gene",
    "phenotype",
    "recommendation",
    "action",
    "classification",
    "guideline",
    "failed",
    "possible_pk_nonresponse",
    "possible_pk_intolerance",
]


def load_guidance() -> pd.DataFrame:
    """Read the shipped CPIC antidepressant guidance table.

    Returns
    -------
    pandas.DataFrame
        One row per (drug, gene, phenotype), all columns strings: ``drug, gene,
        phenotype, recommendation, action, classification, guideline,
        source_url_or_ref, verified, notes``. ``action`` is one of standard,
        dose_change, alternative, avoid, no_recommendation; ``classification`` is
        strong, moderate, optional, no_recommendation, or "" where the sources read
        did not show it; ``verified`` is "yes" or "no".

    Raises
    ------
    PgxError
        The file lacks a column, repeats a (drug, gene, phenotype) or has an unknown
        action (a corrupted installation).

    Examples
    --------
    >>> g = load_guidance()
    >>> sorted(g["gene"].unique())
    ['CYP2C19', 'CYP2D6']
    >>> g.query("drug == 'sertraline' and phenotype == 'Poor Metabolizer'")["action"].item()
    'dose_change'
    """
    path = resource_dir() / GUIDANCE_FILE
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    absent = [c for c in GUIDANCE_COLUMNS if c not in table.columns]
    if absent:
        raise PgxError(f"{path}: lacks column(s) {', '.join(absent)}")
    key = ["drug", "gene", "phenotype"]
    dup = table[table.duplicated(key, keep=False)]
    if len(dup):
        first = dup.iloc[0]
        raise PgxError(
            f"{path}: ({first.drug}, {first.gene}, {first.phenotype}) appears more than once"
        )
    unknown = sorted(set(table["action"]) - set(ACTIONS))
    if unknown:
        raise PgxError(
            f"{path}: action(s) {', '.join(unknown)}; expected one of {', '.join(ACTIONS)}"
        )
    return table[GUIDANCE_COLUMNS].copy()


def _blank(x) -> bool:
    if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
        return True
    return str(x).strip() == ""


def _number(x) -> float:
    if _blank(x):
        return math.nan
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _trial_failed(outcome: str, baseline: float, end: float, failed_outcomes, weeks: float = math.nan,
                  min_weeks: float = 4.0, pct_change: float = math.nan, record: str = "treatments") -> bool:
    """The trial's outcome class (:func:`stratify.adequacy.classify_outcome`, the rule every
    stage shares) is in `failed_outcomes`, and it was not shorter than `min_weeks`."""
    from stratify.adequacy import classify_outcome, score_pct_change

    # Shorter than an adequate trial: not a failure (Sforzini et al. 2021: stopped before the
    # end of week 4 without clear non-response)
    if not math.isnan(weeks) and weeks < min_weeks:
        return False
    pct = score_pct_change(baseline, end, pct_change, record=record)
    return classify_outcome(outcome or None, pct) in failed_outcomes


def patient_guidance(
    treatments: pd.DataFrame,
    phenotypes: pd.DataFrame,
    *,
    failed_outcomes=("nonresponse", "partial"),
    min_weeks: float = 4.0,
) -> pd.DataFrame:
    """CPIC guidance for every medication trial and flags for pharmacokinetic failure.

    Each drug trial (modality ``medication`` or ``augmentation``; an agent written
    ``a+b`` counts as its parts) is matched with the patient's phenotype for every gene
    the CPIC table covers for that drug: CYP2C19 for citalopram, escitalopram and
    sertraline (CYP2B6, also in CPIC 2023 for sertraline, is out of scope); CYP2D6 for
    paroxetine, fluvoxamine, vortioxetine, venlafaxine, nortriptyline and desipramine;
    both for the tertiary-amine tricyclics.

    Flag rule. Pharmacokinetic non-response means a trial failed because exposure stayed
    subtherapeutic, which is what CPIC expects of faster metabolism. So
    ``possible_pk_nonresponse`` is True when all three hold:

    1. the trial failed: it lasted at least `min_weeks` weeks (when its duration is
       given) and its outcome class is in `failed_outcomes`. The outcome class is the one
       rule every stage shares (:func:`stratify.adequacy.classify_outcome`): with both
       scores present and a baseline above 0 (or, without them, the trial's
       ``pct_change``), < 25% reduction is "nonresponse", 25 to
       < 50% "partial", >= 50% "response" (Sforzini et al. 2021), whatever outcome was
       recorded; without scores the recorded outcome; a recorded "intolerance" always
       stays intolerance. Dose adequacy is not required here (see below);
    2. the phenotype lowers exposure: CYP2C19 Ultrarapid or Rapid Metabolizer, CYP2D6
       Ultrarapid Metabolizer;
    3. CPIC's action for it is alternative, avoid or dose_change.

    In the shipped table this flags failed citalopram/escitalopram in CYP2C19 UM
    (alternative) and RM (dose_change: titrate up or switch if no response), the
    tertiary-amine tricyclics in CYP2C19 UM/RM (avoid), and paroxetine, vortioxetine and
    every tricyclic in CYP2D6 UM. It does not flag sertraline in CYP2C19 UM/RM (standard
    dosing), fluvoxamine in CYP2D6 UM (no recommendation, lack of evidence) or venlafaxine
    in CYP2D6 UM (CPIC 2023: no action, minimal evidence).

    Poor- and intermediate-metabolizer rows are about higher exposure and side effects,
    not about lack of effect, so they never set ``possible_pk_nonresponse``; instead
    ``possible_pk_intolerance`` is True when the outcome is "intolerance", the phenotype
    raises exposure (CYP2C19 Likely/Intermediate, Likely/Poor; CYP2D6 Intermediate,
    Poor) and the action is alternative, avoid or dose_change.

    A flag is a hypothesis about one trial, not a finding: adherence, interacting drugs
    (phenoconversion) and dose adequacy are not examined here.

    Parameters
    ----------
    treatments
        Validated treatments table (workflow/schemas/treatments.schema.yaml): at least
        ``patient_id, episode, trial, modality, agent``; ``outcome``, ``baseline_score``,
        ``end_score`` and ``pct_change`` (percent reduction, used without scores) are used
        where present.
    phenotypes
        One row per patient and gene: ``patient_id, gene, phenotype`` with CPIC names as
        from :func:`stratify.pgx.add_phenotypes` ("" or missing = no call). A patient
        without a row for a gene is treated as a no-call.
    failed_outcomes
        Recorded outcomes that count as a failed trial.

    Returns
    -------
    pandas.DataFrame
        One row per drug trial x relevant gene, columns ``patient_id, episode, trial,
        agent, gene, phenotype, recommendation, action, classification, guideline,
        failed, possible_pk_nonresponse, possible_pk_intolerance``. A no-call (or no
        phenotype row) gives action "no_result", an empty recommendation and no flag:
        it is never taken as normal. A drug without a CPIC guideline here gives one row
        with gene "" and action "no_guideline", so it stays visible. Non-drug
        modalities (psychotherapy, ECT, ...) give no row.

    Raises
    ------
    InputError
        A required column is missing, a (patient, gene) has two phenotype rows, or a
        phenotype is not a CPIC category of its gene.

    Examples
    --------
    >>> import pandas as pd
    >>> tr = pd.DataFrame({"patient_id": ["p1", "p1", "p1"], "episode": [1, 1, 1],
    ...     "trial": [1, 2, 3], "modality": ["medication", "medication", "psychotherapy"],
    ...     "agent": ["escitalopram", "mirtazapine", "cbt"], "duration_weeks": [8, 8, 12],
    ...     "outcome": ["nonresponse", "response", "nonresponse"], "prospective": False})
    >>> ph = pd.DataFrame({"patient_id": ["p1", "p1"], "gene": ["CYP2C19", "CYP2D6"],
    ...     "phenotype": ["Ultrarapid Metabolizer", ""]})
    >>> out = patient_guidance(tr, ph)
    >>> out[["agent", "gene", "action"]].values.tolist()
    [['escitalopram', 'CYP2C19', 'alternative'], ['mirtazapine', '', 'no_guideline']]
    >>> out["possible_pk_nonresponse"].tolist()
    [True, False]
    """
    needed_t = ["patient_id", "episode", "trial", "modality", "agent"]
    absent = [c for c in needed_t if c not in treatments.columns]
    if absent:
        raise InputError(f"treatments table lacks column(s) {', '.join(absent)}")
    needed_p = ["patient_id", "gene", "phenotype"]
    absent = [c for c in needed_p if c not in phenotypes.columns]
    if absent:
        raise InputError(f"phenotypes table lacks column(s) {', '.join(absent)}")
    failed_outcomes = tuple(failed_outcomes)

    table = load_guidance()
    known = {g: set(table.loc[table.gene == g, "phenotype"]) for g in table["gene"].unique()}
    by_key = {
        (r.drug, r.gene, r.phenotype): r for r in table.itertuples(index=False)
    }
    genes_of: dict[str, list[str]] = {}
    guideline_of: dict[tuple[str, str], str] = {}
    for r in table.itertuples(index=False):
        genes_of.setdefault(r.drug, [])
        if r.gene not in genes_of[r.drug]:
            genes_of[r.drug].append(r.gene)
        guideline_of[(r.drug, r.gene)] = r.guideline

    calls: dict[tuple[str, str], str] = {}
    for k, (pid, gene, phen) in enumerate(
        zip(phenotypes["patient_id"], phenotypes["gene"], phenotypes["phenotype"])
    ):
        key = (str(pid), str(gene))
        if key in calls:
            raise InputError(
                f"phenotypes table, row {k}: patient {pid!r} has more than one {gene} phenotype"
            )
        phen = "" if _blank(phen) else str(phen)
        if phen and gene in known and phen not in known[gene]:
            raise InputError(
                f"phenotypes table, row {k}: {gene} phenotype {phen!r} is not a CPIC category; "
                f"expected one of {', '.join(sorted(known[gene]))} or '' (no call)"
            )
        calls[key] = phen

    def column(name):
        if name in treatments.columns:
            return treatments[name].tolist()
        return [None] * len(treatments)

    records = []
    for pid, episode, trial, modality, agent, outcome, base, end, weeks, pct in zip(
        treatments["patient_id"],
        treatments["episode"],
        treatments["trial"],
        treatments["modality"],
        treatments["agent"],
        column("outcome"),
        column("baseline_score"),
        column("end_score"),
        column("duration_weeks"),
        column("pct_change"),
    ):
        if modality not in DRUG_MODALITIES or _blank(agent):
            continue
        outcome = "" if _blank(outcome) else str(outcome)
        failed = _trial_failed(outcome, _number(base), _number(end), failed_outcomes, _number(weeks),
                               min_weeks, _number(pct), f"patient {pid}, episode {episode}, trial {trial}")
        for drug in (a.strip() for a in str(agent).lower().split("+")):
            if not drug:
                continue
            base_rec = {
                "patient_id": str(pid),
                "episode": episode,
                "trial": trial,
                "agent": drug,
                "failed": failed,
                "possible_pk_nonresponse": False,
                "possible_pk_intolerance": False,
            }
            if drug not in genes_of:
                records.append(
                    base_rec
                    | {
                        "gene": "",
                        "phenotype": "",
                        "recommendation": "",
                        "action": NO_GUIDELINE,
                        "classification": "",
                        "guideline": "",
                    }
                )
                continue
            for gene in genes_of[drug]:
                phen = calls.get((str(pid), gene), "")
                if not phen:
                    records.append(
                        base_rec
                        | {
                            "gene": gene,
                            "phenotype": "",
                            "recommendation": "",
                            "action": NO_RESULT,
                            "classification": "",
                            "guideline": guideline_of[(drug, gene)],
                        }
                    )
                    continue
                row = by_key[(drug, gene, phen)]
                actionable = row.action in ACTIONABLE
                records.append(
                    base_rec
                    | {
                        "gene": gene,
                        "phenotype": phen,
                        "recommendation": row.recommendation,
                        "action": row.action,
                        "classification": row.classification,
                        "guideline": row.guideline,
                        "possible_pk_nonresponse": bool(
                            failed and actionable and phen in LOWER_EXPOSURE.get(gene, ())
                        ),
                        "possible_pk_intolerance": bool(
                            outcome == "intolerance"
                            and actionable
                            and phen in HIGHER_EXPOSURE.get(gene, ())
                        ),
                    }
                )
    out = pd.DataFrame.from_records(records, columns=OUTPUT_COLUMNS)
    for c in ("failed", "possible_pk_nonresponse", "possible_pk_intolerance"):
        out[c] = out[c].astype(bool)
    return out
