rule heterogeneity:
    input:
        **stage_inputs("heterogeneity"),
    output:
        **stage_outputs("heterogeneity"),
    params:
        io=io_args("heterogeneity"),
    log:
        f"{LOGS}/heterogeneity.log",
    conda:
        "../../environment.yml"
    shell:
        "stratify heterogeneity {params.io} --log {log}"
