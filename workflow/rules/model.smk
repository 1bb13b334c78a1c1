rule model:
    input:
        **stage_inputs("model"),
    output:
        **stage_outputs(
            "model",
            performance=lambda p: report(p, caption="../report/model.rst", category="Response model"),
        ),
    params:
        io=io_args("model"),
    log:
        f"{LOGS}/model.log",
    threads: 2
    conda:
        "../../environment.yml"
    shell:
        "stratify model fit {params.io} --threads {threads} --log {log}"
