rule subtype:
    input:
        config=CONFIG,
        features=f"{RESULTS}/features/features.parquet",
    output:
        assignments=f"{RESULTS}/subtype/assignments.parquet",
        profiles=report(
            f"{RESULTS}/subtype/profiles.tsv",
            caption="../report/subtype.rst",
            category="Subtypes",
        ),
        summary=f"{RESULTS}/subtype/summary.json",
    params:
        results=lambda wc, input: str(Path(input.config).parent),
    log:
        f"{LOGS}/subtype.log",
    conda:
        "../../environment.yml"
    shell:
        "stratify subtype --config {input.config} --results {params.results} --log {log}"
