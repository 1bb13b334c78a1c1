rule heterogeneity:
    input:
        config=CONFIG,
        features=f"{RESULTS}/features/features.parquet",
        features_summary=f"{RESULTS}/features/summary.json",
    output:
        summary=f"{RESULTS}/heterogeneity/summary.json",
        cate=f"{RESULTS}/heterogeneity/cate.parquet",
    params:
        results=lambda wc, input: str(Path(input.config).parent),
    log:
        f"{LOGS}/heterogeneity.log",
    conda:
        "../../environment.yml"
    shell:
        "stratify heterogeneity --config {input.config} --results {params.results} --log {log}"
