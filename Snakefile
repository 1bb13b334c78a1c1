# stratify: pharmacogenomic and biomarker stratification for treatment-resistant depression.
#
#   snakemake --cores 2                                  # the demo cohort (config.yaml)
#   snakemake --cores 2 --configfile cohorts/<name>.yaml # another cohort
#   snakemake --cores 2 --configfile cohorts/consortium_demo.yaml  # a consortium (docs/consortia.md)
#
# Run in the repository root: Snakemake reads workflow/profiles/default through the link
# profiles -> workflow/profiles (it looks for profiles/default beside the Snakefile).
#
# Each rule calls one `stratify` command; all logic lives in src/stratify.
from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


if not config:

    configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/genotypes.smk"
include: "workflow/rules/pgx.smk"
include: "workflow/rules/clinical.smk"
include: "workflow/rules/trd.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/subtype.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/heterogeneity.smk"
include: "workflow/rules/explain.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/consortium.smk"


rule all:
    default_target: True
    input:
        final_targets(),


onsuccess:
    print(f"\nstratify: done (logs in {', '.join(f'logs/{c}/' for c in COHORTS)}). Open the report:")
    for _path in final_targets():
        print(f"  {_path}" if Path(_path).exists() else f"  {_path} (not made: run without a target)")


onerror:
    print("\nstratify: a stage failed. Its one-line error is above; the full log is in logs/<cohort>/<stage>.log")
