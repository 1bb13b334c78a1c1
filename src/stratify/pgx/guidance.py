"""CPIC antidepressant guidance per patient and medication trial.

The table ``resources/pgx/cpic_antidepressant_guidance.tsv`` holds one CPIC recommendation
per (drug, gene, phenotype): the SSRI/SNRI guideline (Bousman et al., Clin Pharmacol Ther
2023;114:51-68) for citalopram, escitalopram, sertraline (CYP2C19; sertraline also
CYP2B6, alone and combined with CYP2C19 in ``cpic_sertraline_cyp2c19_cyp2b6.tsv``), paroxetine,
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
from stratify.io.paths import read_reference_tsv, resource_dir
from stratify.pgx.phenoconversion import concurrent_agents, convert, inhibitors_of

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
#: Candidate diplotypes imply different CPIC recommendations (listed in ``candidates``).
AMBIGUOUS = "ambiguous"
#: CPIC 2023 keys sertraline on CYP2C19 x CYP2B6 together (PharmCAT's sertraline.json).
COMBINED_FILE = "pgx/cpic_sertraline_cyp2c19_cyp2b6.tsv"
COMBINED = {"sertraline": ("CYP2C19", "CYP2B6")}
#: Standard starting doses (FDA labels), for CPIC's "titrate if no response" advice.
STARTING_DOSE_FILE = "pgx/starting_doses.tsv"
#: The CPIC wording of that advice (citalopram/escitalopram CYP2C19 Rapid; sertraline
#: CYP2C19 and CYP2B6 both Rapid/Ultrarapid): a failed trial that never went above the
#: starting dose did not test it.
TITRATE_FIRST = "If patient does not adequately respond to recommended maintenance dosing, consider titrating"
#: Actions that ask the prescriber to change something.
ACTIONABLE = frozenset({"dose_change", "alternative", "avoid"})
#: Phenotypes whose exposure to the drug is lower than in normal metabolizers (faster
#: clearance), and those whose exposure is higher (slower clearance).
LOWER_EXPOSURE = {
    "CYP2C19": frozenset({"Ultrarapid Metabolizer", "Rapid Metabolizer"}),
    "CYP2D6": frozenset({"Ultrarapid Metabolizer"}),
    "CYP2B6": frozenset({"Ultrarapid Metabolizer", "Rapid Metabolizer"}),
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
    "CYP2B6": frozenset({"Intermediate Metabolizer", "Poor Metabolizer"}),
}
#: Treatment modalities whose ``agent`` is a drug.
DRUG_MODALITIES = ("medication", "augmentation")

OUTPUT_COLUMNS = [
    "patient_id",
    "episode",
    "trial",
    "agent",
    "gene",
    "genotype_phenotype",
    "phenotype",
    "phenoconversion",
    "recommendation",
    "action",
    "classification",
    "guideline",
    "lookup",
    "candidates",
    "failed",
    "possible_pk_nonresponse",
    "possible_pk_intolerance",
    "flag_reason",
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
        CPIC's strength: strong, moderate, optional or no_recommendation (every row
        has one since issue 9); ``verified`` is "yes" or "no".

    Raises
    ------
    PgxError
        The file lacks a column, repeats a (drug, gene, phenotype) or has an unknown
        action (a corrupted installation).

    Examples
    --------
    >>> g = load_guidance()
    >>> sorted(g["gene"].unique())
    ['CYP2B6', 'CYP2C19', 'CYP2D6']
    >>> g.query("drug == 'sertraline' and gene == 'CYP2C19' and phenotype == 'Poor Metabolizer'")["action"].item()
    'dose_change'
    """
    path = resource_dir() / GUIDANCE_FILE
    table = read_reference_tsv(path, GUIDANCE_COLUMNS, error=PgxError)
    key = ["drug", "gene", "phenotype"]
    dup = table[table.duplicated(key, keep=False)]
    if len(dup):
        first = dup.iloc[0]
        raise PgxError(f"{path}: ({first.drug}, {first.gene}, {first.phenotype}) appears more than once")
    unknown = sorted(set(table["action"]) - set(ACTIONS))
    if unknown:
        raise PgxError(f"{path}: action(s) {', '.join(unknown)}; expected one of {', '.join(ACTIONS)}")
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


def _trial_failed(
    outcome: str,
    baseline: float,
    end: float,
    failed_outcomes,
    weeks: float = math.nan,
    min_weeks: float = 4.0,
    pct_change: float = math.nan,
    record: str = "treatments",
) -> bool:
    """The trial's outcome class (:func:`stratify.clinical.adequacy.classify_outcome`, the rule every
    stage shares) is in `failed_outcomes`, and it was not shorter than `min_weeks`."""
    from stratify.clinical.adequacy import classify_outcome, score_pct_change

    # Shorter than an adequate trial: not a failure (Sforzini et al. 2021: stopped before the
    # end of week 4 without clear non-response)
    if not math.isnan(weeks) and weeks < min_weeks:
        return False
    pct = score_pct_change(baseline, end, pct_change, record=record)
    return classify_outcome(outcome or None, pct) in failed_outcomes


def load_combined() -> dict[tuple[str, str], dict]:
    """CPIC's sertraline rows keyed by (CYP2C19 phenotype, CYP2B6 phenotype), both called.

    The 48 rows of ``resources/pgx/cpic_sertraline_cyp2c19_cyp2b6.tsv`` (PharmCAT's export
    of CPIC v1.28.0, ``sertraline.json``); the rows with one gene "No Result" are the
    single-gene rows of the main table.

    Raises
    ------
    PgxError
        A column is missing, a pair repeats or an action is unknown (a corrupted installation).
    """
    path = resource_dir() / COMBINED_FILE
    cols = ["cyp2c19_phenotype", "cyp2b6_phenotype", "recommendation", "action", "classification"]
    t = read_reference_tsv(path, cols, error=PgxError)
    if t.duplicated(cols[:2]).any() or not set(t["action"]) <= set(ACTIONS):
        raise PgxError(f"{path}: a (CYP2C19, CYP2B6) pair repeats or an action is not one of {', '.join(ACTIONS)}")
    return {(r.cyp2c19_phenotype, r.cyp2b6_phenotype): r._asdict() for r in t.itertuples(index=False)}


def load_starting_doses() -> dict[str, float]:
    """Standard starting dose (mg/day) per drug from ``resources/pgx/starting_doses.tsv``.

    >>> load_starting_doses()["escitalopram"]
    10.0
    """
    path = resource_dir() / STARTING_DOSE_FILE
    t = read_reference_tsv(path, ["drug", "starting_dose_mg_day"], error=PgxError)
    try:
        return {d: float(v) for d, v in zip(t["drug"], t["starting_dose_mg_day"])}
    except ValueError as e:
        raise PgxError(f"{path}: needs columns drug and a numeric starting_dose_mg_day ({e})") from e


def _candidates(text, pid, gene, known) -> list[tuple[str, str]]:
    """Parse ``candidate_phenotypes`` ("*1/*4: Intermediate Metabolizer; *4/*4: Poor Metabolizer")."""
    if _blank(text):
        return []
    out = []
    for part in str(text).split(";"):
        dip, sep, phen = part.strip().rpartition(": ")
        if not sep or not dip or (known and phen not in known):
            raise InputError(
                f"phenotypes table, patient {pid!r}, {gene}: candidate_phenotypes entry {part.strip()!r} "
                f"is not 'diplotype: CPIC phenotype'; expected e.g. '*1/*4: Intermediate Metabolizer'"
            )
        out.append((dip.strip(), phen))
    return out


def _read_calls(phenotypes: pd.DataFrame, known: dict[str, set]) -> dict[tuple[str, str], dict]:
    """(patient, gene) -> phenotype, activity score, lower-bound flag and candidates."""

    def col(name, default):
        return phenotypes[name].tolist() if name in phenotypes.columns else [default] * len(phenotypes)

    calls: dict[tuple[str, str], dict] = {}
    rows = zip(
        phenotypes["patient_id"],
        phenotypes["gene"],
        phenotypes["phenotype"],
        col("activity_score", None),
        col("activity_lower_bound", False),
        col("candidate_phenotypes", ""),
    )
    for k, (pid, gene, phen, score, lower, cands) in enumerate(rows):
        key = (str(pid), str(gene))
        if key in calls:
            raise InputError(f"phenotypes table, row {k}: patient {pid!r} has more than one {gene} phenotype")
        phen = "" if _blank(phen) else str(phen)
        if phen and gene in known and phen not in known[gene]:
            raise InputError(
                f"phenotypes table, row {k}: {gene} phenotype {phen!r} is not a CPIC category; "
                f"expected one of {', '.join(sorted(known[gene]))} or '' (no call)"
            )
        options = _candidates(cands, pid, gene, known.get(gene))
        if len({p for _, p in options}) == 1:
            phen, options = options[0][1], []  # the candidates agree: that is the phenotype
        calls[key] = {
            "phenotype": phen,
            "score": _number(score),
            "lower": bool(lower) if not _blank(lower) else False,
            "candidates": options,
        }
    return calls


def _flags(gene, phen, rec, failed, outcome, drug, dose, starts) -> tuple[bool, bool, str]:
    """(possible_pk_nonresponse, possible_pk_intolerance, reason) of one phenotype's CPIC row."""
    action, text = rec["action"], rec["recommendation"]
    where = f"{gene} {phen} (CPIC: {action}, {rec['classification']})"
    if outcome == "intolerance" and action in ACTIONABLE and phen in HIGHER_EXPOSURE.get(gene, ()):
        return False, True, f"stopped for intolerance; {where}: exposure higher than in normal metabolizers"
    if not (failed and phen in LOWER_EXPOSURE.get(gene, ())):
        return False, False, ""
    if action in ("alternative", "avoid"):
        return True, False, f"failed trial; {where}: exposure lower than in normal metabolizers"
    if TITRATE_FIRST not in text:
        return False, False, ""
    start = starts.get(drug)
    if start is None:
        return (
            False,
            False,
            f"not flagged: {where} advises titrating if no response; no starting dose on file for {drug}",
        )
    if math.isnan(dose):
        return (
            False,
            False,
            (
                f"not flagged: {where} advises titrating above the standard starting dose "
                f"({start:g} mg/day) if no response; the trial's dose is not recorded"
            ),
        )
    if dose <= start:
        return (
            True,
            False,
            (
                f"failed at {dose:g} mg/day, not above the standard starting dose {start:g} mg/day; "
                f"{where} advises titrating to a higher dose before switching"
            ),
        )
    return (
        False,
        False,
        (
            f"not flagged: titrated to {dose:g} mg/day, above the standard starting dose "
            f"{start:g} mg/day, as {where} advises"
        ),
    )


class _Tables:
    """The guidance tables, read once per call of :func:`patient_guidance`."""

    def __init__(self):
        table = load_guidance()
        self.known = {g: set(table.loc[table.gene == g, "phenotype"]) for g in table["gene"].unique()}
        self.by_key = {(r.drug, r.gene, r.phenotype): r._asdict() for r in table.itertuples(index=False)}
        self.genes_of: dict[str, list[str]] = {}
        self.guideline_of: dict[tuple[str, str], str] = {}
        for r in table.itertuples(index=False):
            self.genes_of.setdefault(r.drug, [])
            if r.gene not in self.genes_of[r.drug]:
                self.genes_of[r.drug].append(r.gene)
            self.guideline_of[(r.drug, r.gene)] = r.guideline
        self.combined = load_combined()
        self.starts = load_starting_doses()

    def lookup(self, drug: str, gene: str, phen: str, partner: tuple[str, str] | None) -> dict:
        """The CPIC row for `phen`; for sertraline with the partner gene called, the combined row."""
        row = dict(self.by_key[(drug, gene, phen)], lookup="")
        if partner is not None and partner[1]:
            pair = {gene: phen, partner[0]: partner[1]}
            a, b = COMBINED[drug]
            both = self.combined[(pair[a], pair[b])]
            row.update(
                recommendation=both["recommendation"],
                action=both["action"],
                classification=both["classification"],
                lookup=f"{a}={pair[a]}; {b}={pair[b]}",
            )
        return row


def _gene_row(tables, drug, gene, call, partner, inhibitors, trial_info) -> dict:
    """One output row: a trial's drug and one gene, every candidate diplotype considered."""
    failed, outcome, dose = trial_info
    options = call["candidates"] or [("", call["phenotype"])]
    results = []
    for dip, phen in options:
        score = call["score"] if not dip else math.nan
        conv, note = convert(gene, phen, score, call["lower"], inhibitors)
        rec = tables.lookup(drug, gene, conv, partner)
        results.append(
            (dip, phen, conv, note, rec, _flags(gene, conv, rec, failed, outcome, drug, dose, tables.starts))
        )
    out = {
        "gene": gene,
        "genotype_phenotype": call["phenotype"],
        "guideline": tables.guideline_of[(drug, gene)],
        "phenoconversion": " | ".join(dict.fromkeys(r[3] for r in results if r[3])),
        "candidates": "",
    }
    _, _, conv, _, rec, (nonresp, intol, reason) = results[0]
    if len(results) > 1:
        out["candidates"] = " | ".join(
            f"{dip}: {phen}"
            + (f" (phenoconverted: {cv})" if cv != phen else "")
            + f" -> {r['action']} ({r['classification']}): {r['recommendation']}"
            for dip, phen, cv, _, r, _ in results
        )
        same_rec = len({r[4]["recommendation"] for r in results}) == 1
        if len({r[2] for r in results}) > 1:
            conv = call["phenotype"]
        if not same_rec:
            rec = {"recommendation": "", "action": AMBIGUOUS, "classification": "", "lookup": ""}
        # a flag needs every candidate to raise it: the call does not say which diplotype is true
        nonresp = all(r[5][0] for r in results)
        intol = all(r[5][1] for r in results)
        reason = results[0][5][2] if (nonresp or intol) else ("" if same_rec else "candidate diplotypes differ")
    return out | {
        "phenotype": conv,
        "recommendation": rec["recommendation"],
        "action": rec["action"],
        "classification": rec["classification"],
        "lookup": rec["lookup"],
        "possible_pk_nonresponse": bool(nonresp),
        "possible_pk_intolerance": bool(intol),
        "flag_reason": reason,
    }


def patient_guidance(
    treatments: pd.DataFrame,
    phenotypes: pd.DataFrame,
    *,
    failed_outcomes=("nonresponse", "partial"),
    min_weeks: float = 4.0,
) -> pd.DataFrame:
    """CPIC guidance for every drug trial, after phenoconversion, and pharmacokinetic flags.

    Each drug trial (modality ``medication`` or ``augmentation``; an agent written
    ``a+b`` counts as its parts) is matched with the patient's phenotype for every gene
    the CPIC table covers for that drug: CYP2C19 for citalopram and escitalopram;
    CYP2C19 and CYP2B6 for sertraline (with both called, CPIC's combined row,
    :func:`load_combined`); CYP2D6 for paroxetine, fluvoxamine, vortioxetine,
    venlafaxine, nortriptyline and desipramine; CYP2C19 and CYP2D6 for the
    tertiary-amine tricyclics.

    Phenoconversion (:mod:`stratify.pgx.phenoconversion`): a strong or moderate inhibitor
    of the gene taken concurrently (same row, or an augmentation and the medication trial
    it augments) converts the genotype phenotype (``genotype_phenotype``) into the one
    used for the guidance and the flags (``phenotype``); ``phenoconversion`` says how.

    Ambiguous calls: where the phenotypes table has ``candidate_phenotypes`` and the
    candidates agree, that phenotype is used; where they differ, each candidate's
    phenotype and CPIC row is listed in ``candidates`` (as PharmCAT does); the row's
    recommendation is the shared one if all candidates share it, else action "ambiguous".

    Flags. ``possible_pk_nonresponse``: the trial failed (it lasted at least `min_weeks`
    weeks when its duration is given, and its outcome class, :func:`stratify.clinical.adequacy.classify_outcome`,
    is in `failed_outcomes`), the phenotype lowers exposure (CYP2C19 Ultrarapid/Rapid,
    CYP2D6 Ultrarapid, CYP2B6 Ultrarapid/Rapid), and either CPIC's action is alternative or
    avoid, or CPIC's advice is to titrate up if there is no response (CYP2C19 Rapid for
    citalopram/escitalopram, an optional recommendation; sertraline CYP2C19 x CYP2B6 both
    faster) and the trial's ``dose_mg_day`` (the highest dose reached) did not exceed the
    standard starting dose (``resources/pgx/starting_doses.tsv``). ``possible_pk_intolerance``:
    outcome "intolerance", a phenotype that raises exposure (CYP2C19 Likely/Intermediate,
    Likely/Poor; CYP2D6 and CYP2B6 Intermediate, Poor) and an action other than standard or
    no recommendation. ``flag_reason`` says why (or why a failed faster-metabolizer trial
    was not flagged). A flag is a hypothesis about one trial, not a finding.

    Parameters
    ----------
    treatments
        Validated treatments table: at least ``patient_id, episode, trial, modality,
        agent``; ``outcome``, ``baseline_score``, ``end_score``, ``pct_change``,
        ``duration_weeks`` and ``dose_mg_day`` are used where present.
    phenotypes
        One row per patient and gene: ``patient_id, gene, phenotype`` (CPIC names, "" or
        missing = no call); optional ``activity_score``, ``activity_lower_bound`` (CYP2D6)
        and ``candidate_phenotypes``. A patient without a row for a gene is a no-call.
    failed_outcomes
        Outcome classes that count as a failed trial.
    min_weeks
        A trial shorter than this is not a failure.

    Returns
    -------
    pandas.DataFrame
        One row per drug trial x relevant gene, columns :data:`OUTPUT_COLUMNS`. A no-call
        gives action "no_result" and no flag (never taken as normal); a drug without a
        CPIC guideline here gives one row with gene "" and action "no_guideline".

    Raises
    ------
    InputError
        A required column is missing, a (patient, gene) has two phenotype rows, or a
        phenotype (or candidate phenotype) is not a CPIC category of its gene.

    Examples
    --------
    >>> import pandas as pd
    >>> tr = pd.DataFrame({"patient_id": ["p1", "p1"], "episode": [1, 1], "trial": [1, 2],
    ...     "modality": ["medication", "augmentation"], "agent": ["nortriptyline", "fluoxetine"],
    ...     "duration_weeks": [8, 8], "outcome": ["nonresponse", "nonresponse"], "prospective": False})
    >>> ph = pd.DataFrame({"patient_id": ["p1"], "gene": ["CYP2D6"], "phenotype": ["Normal Metabolizer"],
    ...     "activity_score": [2.0]})
    >>> out = patient_guidance(tr, ph)
    >>> out[["agent", "genotype_phenotype", "phenotype", "action"]].values.tolist()[0]
    ['nortriptyline', 'Normal Metabolizer', 'Poor Metabolizer', 'avoid']
    """
    needed_t = ["patient_id", "episode", "trial", "modality", "agent"]
    absent = [c for c in needed_t if c not in treatments.columns]
    if absent:
        raise InputError(f"treatments table lacks column(s) {', '.join(absent)}")
    absent = [c for c in ["patient_id", "gene", "phenotype"] if c not in phenotypes.columns]
    if absent:
        raise InputError(f"phenotypes table lacks column(s) {', '.join(absent)}")
    failed_outcomes = tuple(failed_outcomes)
    tables = _Tables()
    calls = _read_calls(phenotypes, tables.known)
    together = concurrent_agents(treatments) if len(treatments) else {}

    def column(name):
        return treatments[name].tolist() if name in treatments.columns else [None] * len(treatments)

    records = []
    for pid, episode, trial, modality, agent, outcome, base, end, weeks, pct, dose in zip(
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
        column("dose_mg_day"),
    ):
        if modality not in DRUG_MODALITIES or _blank(agent):
            continue
        outcome = "" if _blank(outcome) else str(outcome)
        failed = _trial_failed(
            outcome,
            _number(base),
            _number(end),
            failed_outcomes,
            _number(weeks),
            min_weeks,
            _number(pct),
            f"patient {pid}, episode {episode}, trial {trial}",
        )
        key = (str(pid), episode, trial)
        for drug in (a.strip() for a in str(agent).lower().split("+")):
            if drug:
                base_rec = {"patient_id": str(pid), "episode": episode, "trial": trial, "agent": drug, "failed": failed}
                others = together.get(key, set()) - {drug}
                records += [
                    base_rec | r
                    for r in _drug_rows(tables, calls, str(pid), drug, others, (failed, outcome, _number(dose)))
                ]
    out = pd.DataFrame.from_records(records, columns=OUTPUT_COLUMNS)
    for c in ("failed", "possible_pk_nonresponse", "possible_pk_intolerance"):
        out[c] = out[c].astype(bool)
    return out


def _drug_rows(tables, calls, pid, drug, others, trial_info) -> list[dict]:
    """The output rows of one drug of one trial (one per gene of its CPIC guideline)."""
    blank = {
        "genotype_phenotype": "",
        "phenotype": "",
        "phenoconversion": "",
        "recommendation": "",
        "classification": "",
        "lookup": "",
        "candidates": "",
        "possible_pk_nonresponse": False,
        "possible_pk_intolerance": False,
        "flag_reason": "",
    }
    if drug not in tables.genes_of:
        return [blank | {"gene": "", "action": NO_GUIDELINE, "guideline": ""}]
    rows = []
    for gene in tables.genes_of[drug]:
        call = calls.get((pid, gene))
        if call is None or not (call["phenotype"] or call["candidates"]):
            rows.append(blank | {"gene": gene, "action": NO_RESULT, "guideline": tables.guideline_of[(drug, gene)]})
            continue
        partner = None
        if drug in COMBINED:
            pgene = next(g for g in COMBINED[drug] if g != gene)
            pcall = calls.get((pid, pgene))
            pphen = pcall["phenotype"] if pcall else ""
            if pphen:
                pphen = convert(pgene, pphen, pcall["score"], pcall["lower"], inhibitors_of(pgene, others))[0]
            partner = (pgene, pphen)
        rows.append(_gene_row(tables, drug, gene, call, partner, inhibitors_of(gene, others), trial_info))
    return rows
