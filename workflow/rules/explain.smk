rule explain:
    input:
        config=CONFIG,
        features=f"{RESULTS}/features/features.parquet",
        model=f"{RESULTS}/model/xgboost.json",
        model_features=f"{RESULTS}/model/model_features.json",
        assignments=f"{RESULTS}/subtype/assignments.parquet",
    output:
        shap=f"{RESULTS}/explain/shap_values.parquet",
        importance=f"{RESULTS}/explain/importance.tsv",
        beeswarm=report(
            f"{RESULTS}/explain/beeswarm.png",
            caption="../report/explain.rst",
            category="Explanations",
        ),
        summary=f"{RESULTS}/explain/summary.json",
    params:
        results=lambda wc, input: str(Path(input.config).parent),
    log:
        f"{LOGS}/explain.log",
    conda:
        "../../environment.yml"
    shell:
        "stratify explain --config {input.config} --results {params.results} --log {log}"
