rule model:
    input:
        config=CONFIG,
        features=f"{RESULTS}/features/features.parquet",
    output:
        model=f"{RESULTS}/model/xgboost.json",
        features=f"{RESULTS}/model/model_features.json",
        metrics=f"{RESULTS}/model/metrics.json",
        oof=f"{RESULTS}/model/oof_predictions.parquet",
        performance=report(f"{RESULTS}/model/performance.png", caption="../report/model.rst", category="Response model"),
        calibration=f"{RESULTS}/model/calibration.png",
        folds=f"{RESULTS}/model/folds.tsv",
        card=f"{RESULTS}/model/model_card.md",
    params:
        results=lambda wc, input: str(Path(input.config).parent),
    log:
        f"{LOGS}/model.log",
    threads: 2
    conda:
        "../../environment.yml"
    shell:
        "stratify model fit --config {input.config} --results {params.results} --threads {threads} --log {log}"
