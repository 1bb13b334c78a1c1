rule model:
    input:
        **stage_inputs("model"),
    output:
        **stage_outputs(
            "model",
            performance=lambda p: report(p, caption="../report/model.rst", category="Response model"),
        ),
    log:
        f"{LOGS}/model.log",
    conda:
        "../../environment.yml"
    threads: 2
    params:
        io=io_args("model"),
    shell:
        "stratify model fit {params.io} --threads {threads} --log {log}"
