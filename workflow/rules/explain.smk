rule explain:
    input:
        **stage_inputs("explain"),
    output:
        # waterfalls/highest.png, lowest.png, median.png: the patients are named in summary.json
        **stage_outputs(
            "explain",
            beeswarm=lambda p: report(p, caption="../report/explain.rst", category="Explanations"),
            dependence=lambda p: report(p, caption="../report/explain.rst", category="Explanations"),
        ),
    log:
        f"{LOGS}/explain.log",
    conda:
        "../../environment.yml"
    params:
        io=io_args("explain"),
    shell:
        "stratify explain {params.io} --log {log}"
