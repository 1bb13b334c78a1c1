rule subtype:
    input:
        **stage_inputs("subtype"),
    output:
        **stage_outputs(
            "subtype",
            profiles=lambda p: report(p, caption="../report/subtype.rst", category="Subtypes"),
        ),
    params:
        io=io_args("subtype"),
    log:
        f"{LOGS}/subtype.log",
    conda:
        "../../environment.yml"
    shell:
        "stratify subtype {params.io} --log {log}"
