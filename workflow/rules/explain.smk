rule explain:
    input:
        config=CONFIG,
        features=f"{RESULTS}/features/features.parquet",
        model=f"{RESULTS}/model/xgboost.json",
        model_features=f"{RESULTS}/model/model_features.json",
        assignments=f"{RESULTS}/subtype/assignments.parquet",
        subtype_summary=f"{RESULTS}/subtype/summary.json",
    output:
        shap=f"{RESULTS}/explain/shap_values.parquet",
        importance=f"{RESULTS}/explain/importance.tsv",
        beeswarm=report(
            f"{RESULTS}/explain/beeswarm.png",
            caption="../report/explain.rst",
            category="Explanations",
        ),
        dependence=report(
            f"{RESULTS}/explain/dependence.png",
            caption="../report/explain.rst",
            category="Explanations",
        ),
        interactions=f"{RESULTS}/explain/interactions.tsv",
        # one waterfall_<patient_id>.png per chosen patient; which ones is in summary.json
        waterfalls=directory(f"{RESULTS}/explain/waterfalls"),
        summary=f"{RESULTS}/explain/summary.json",
    params:
        results=lambda wc, input: str(Path(input.config).parent),
    log:
        f"{LOGS}/explain.log",
    conda:
        "../../environment.yml"
    shell:
        "stratify explain --config {input.config} --results {params.results} --log {log}"
