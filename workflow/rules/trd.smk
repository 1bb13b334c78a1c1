rule trd:
    input:
        **stage_inputs("trd"),
    output:
        **stage_outputs(
            "trd",
            concordance=lambda p: report(p, caption="../report/trd.rst", category="Treatment resistance"),
        ),
    log:
        f"{LOGS}/trd.log",
    conda:
        "../../environment.yml"
    params:
        io=io_args("trd"),
    shell:
        "stratify trd {params.io} --log {log}"
