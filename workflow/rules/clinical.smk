rule clinical:
    input:
        config=CONFIG,
        manifest=f"{RESULTS}/validate/manifest.json",
    output:
        scores=f"{RESULTS}/clinical/scores.parquet",
        patients=f"{RESULTS}/clinical/patients.parquet",
        summary=f"{RESULTS}/clinical/summary.json",
    params:
        results=lambda wc, input: str(Path(input.config).parent),
    log:
        f"{LOGS}/clinical.log",
    conda:
        "../../environment.yml"
    shell:
        "stratify clinical --config {input.config} --results {params.results} --log {log}"
