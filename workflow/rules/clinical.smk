rule clinical:
    input:
        config=CONFIG,
        manifest=f"{RESULTS}/validate/manifest.json",
    output:
        scores=f"{RESULTS}/clinical/scores.parquet",
        patients=f"{RESULTS}/clinical/patients.parquet",
        summary=f"{RESULTS}/clinical/summary.json",
    log:
        f"{LOGS}/clinical.log",
    shell:
        "{STRATIFY} clinical --config {input.config} --results {RESULTS} --log {log}"
