rule subtype:
    input:
        **stage_inputs("subtype"),
    output:
        **stage_outputs(
            "subtype",
            profiles=lambda p: report(p, caption="../report/subtype.rst", category="Subtypes"),
        ),
    log:
        f"{LOGS}/subtype.log",
    conda:
        "../../environment.yml"
    params:
        io=io_args("subtype"),
    shell:
        "stratify subtype {params.io} --log {log}"
