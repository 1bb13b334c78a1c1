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
    log:
        f"{LOGS}/subtype.log",
    shell:
        "{STRATIFY} subtype --config {input.config} --results {RESULTS} --log {log}"
