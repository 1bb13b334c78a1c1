rule report:
    input:
        config=CONFIG,
        manifest=f"{RESULTS}/validate/manifest.json",
        pgx=f"{RESULTS}/pgx/summary.json",
        clinical=f"{RESULTS}/clinical/summary.json",
        trd=f"{RESULTS}/trd/summary.json",
        subtype=f"{RESULTS}/subtype/summary.json",
        metrics=f"{RESULTS}/model/metrics.json",
        explain=f"{RESULTS}/explain/summary.json",
        heterogeneity=f"{RESULTS}/heterogeneity/summary.json",
    output:
        html=report(
            f"{RESULTS}/report/report.html",
            caption="../report/report.rst",
            category="Report",
        ),
    params:
        results=lambda wc, input: str(Path(input.config).parent),
    log:
        f"{LOGS}/report.log",
    conda:
        "../../environment.yml"
    shell:
        "stratify report --config {input.config} --results {params.results} --out {output.html} --log {log}"
