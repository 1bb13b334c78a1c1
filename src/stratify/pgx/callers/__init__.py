"""Read star-allele calls made by other tools into one table.

One module per caller format family (:mod:`.cyrius`, :mod:`.pharmcat`, :mod:`.pypgx`, :mod:`.aldy`,
:mod:`.stellarpgx`, :mod:`.plain`), the shared diplotype parser and call table in :mod:`.common`,
and :func:`read_calls` with the registry of readers in :mod:`.read`. To add a caller format, add a
module with a ``read_<tool>(path, *, sample=None, gene=None)`` that returns rows of
:data:`CALL_COLUMNS` (built with :func:`.common.row`), and one line to :data:`.read.READERS`.

Every reader returns the columns of :data:`CALL_COLUMNS`:

``sample, gene, diplotype, haplotype1, haplotype2, copy_number, source_tool, status,
alternatives, note``

* ``diplotype`` is ``"<h1>/<h2>"`` with the haplotypes in star-number order (``*1/*4``, never
  ``*4/*1``); "" for a no-call.
* ``status`` is "called", "ambiguous" (``diplotype`` holds the first candidate,
  ``alternatives`` the others joined by ";") or "no-call".
* ``copy_number`` is the number of CYP2D6 gene copies (hybrids such as ``*36``/``*68``
  count, the deletion ``*5`` does not) that the diplotype implies; NaN when unknown (``xN``,
  a no-call, candidates that disagree) and for other genes.
* ``note`` keeps what the tool said beyond the diplotype (e.g. a Cyrius filter), "" if
  nothing.

Supported tools (:data:`SUPPORTED_TOOLS`):

``cyrius``
    Cyrius ``<prefix>.tsv`` (Illumina/Cyrius README): header ``Sample  Genotype  Filter``.
    ``PASS`` -> called. ``More_than_one_possible_genotype`` -> ambiguous, the genotypes
    joined by ";". ``Not_assigned_to_haplotypes`` (``*1_*2_*68``, ``*1x4``) -> ambiguous, with
    every way of splitting the alleles into two haplotypes as candidates and the raw call
    in ``note``. ``LowQ_high_CN`` (>= 6 copies, copy number approximated) -> called, with
    the filter in ``note``. Genotype ``None`` -> no-call. Gene is always CYP2D6.
``plain``
    TSV with header and columns ``sample, gene, diplotype``; optional ``status``
    (called/ambiguous/no-call; default: called, or no-call for an empty diplotype),
    ``alternatives`` and ``note``.
``pharmcat_outside``
    PharmCAT outside-call TSV: ``GENE<TAB>diplotype[<TAB>phenotype[<TAB>activity]]`` per
    line, no header, one sample (named by ``sample=`` or the file stem); ``#`` comments.
``pharmcat_report``
    PharmCAT ``<sample>.report.tsv`` (CallsOnlyFormat): line 1 ``PharmCAT <version>``, then
    the header (``Gene, Source Diplotype, Phenotype, Activity Score, ...``; a leading
    ``Sample ID`` column in single-file mode names each row's sample). Every gene row is
    kept. ``no call``, ``Unknown/Unknown`` or empty -> no-call; diplotypes joined by `` OR ``,
    or a gene on several rows (one per possible diplotype) -> ambiguous; `` AND `` (the lowest-function genes DPYD/RYR1: variants, not a
    diplotype) -> called, text kept. ``note``: outside call, phenotype, activity score,
    missing positions. Allele names are kept verbatim (spaces included). Sample:
    ``sample=`` or the file name without ``.report.tsv``.
``pharmcat_phenotype``
    PharmCAT ``<sample>.phenotype.json``: ``geneReports`` per gene (PharmCAT 3) or per source
    (PharmCAT 2: the ``CPIC`` block is used). Diplotypes from ``sourceDiplotypes``
    (``allele1``/``allele2`` names); several -> ambiguous; ``Unknown`` alleles or
    ``callSource`` NONE -> no-call; ``callSource`` OUTSIDE, phenotypes and activity score go
    to ``note``. Sample: ``sample=``, ``matcherMetadata.sampleId`` or the file name.
``pypgx``
    PyPGx ``results.zip`` (an Archive: ``metadata.txt`` with ``Gene=``/``SemanticType=
    SampleTable[Results]`` and ``data.tsv``) or a bare ``data.tsv`` (gene from ``gene=``):
    unnamed sample column, ``Genotype, Phenotype, Haplotype1, Haplotype2, AlternativePhase,
    VariantData, CNV``. ``Indeterminate``/empty Genotype -> no-call. ``AlternativePhase``
    lists star alleles (not diplotypes) whose phase could differ: kept in ``note`` with the
    PyPGx phenotype and a non-Normal CNV.
``aldy``
    Aldy ``.aldy``: header ``#Sample Gene SolutionID Major Minor Copy ...``, ``#Solution N:``
    comments, one row per allele/variant. One call per sample and gene; ``Major``
    (``*1/*4+*4.021.ALDY``) is reduced to major star alleles (``*1/*4+*4``: suballele
    numbers, ``.ALDY`` tags and legacy letters go; ``-like`` stays, so a novel function
    change stays visible). Solutions that differ after that -> ambiguous; identical ones
    -> called. Every solution's raw ``Major`` and comment go to ``note``.
``stellarpgx``
    StellarPGx per-sample ``<sample>_<gene>.alleles`` (the block after ``Result:``; gene from
    ``<GENE> Star Allele Calling with StellarPGx``) or a summary TSV ``sample<TAB>diplotype
    [<TAB>note]`` (gene from ``gene=``). ``a or b`` -> ambiguous; ``No_call``, "Possible
    novel allele ..." and bracketed background alleles (``[*1/*2]``) -> no-call with the
    text in ``note`` (a novel allele's function is unknown, so the background is no call).
    A call flagged "Duplication present" or "Possible ... gene deletion (*5) present" is a
    no-call too (text in ``note``): its candidates come from SNVs alone and do not say
    which haplotype carries the extra or missing gene copy. Other notes stay in ``note``.

Examples
--------
>>> import os, tempfile
>>> p = os.path.join(tempfile.mkdtemp(), "cyrius.tsv")
>>> with open(p, "w") as fh:
...     _ = fh.write("Sample\\tGenotype\\tFilter\\nNA1\\t*2/*1\\tPASS\\nNA2\\tNone\\tNone\\n")
>>> read_calls(p, "cyrius")[["sample", "diplotype", "status", "copy_number"]].values.tolist()
[['NA1', '*1/*2', 'called', 2.0], ['NA2', '', 'no-call', nan]]
"""

from stratify.pgx.callers.common import CALL_COLUMNS, STATUSES
from stratify.pgx.callers.read import READERS, SUPPORTED_TOOLS, read_calls

__all__ = ["CALL_COLUMNS", "READERS", "STATUSES", "SUPPORTED_TOOLS", "read_calls"]
