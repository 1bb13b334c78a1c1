# The consortium stage (docs/consortia.md): after every cohort's stages, one job compares the
# cohorts (transport matrix, subtype replication, pooled estimates from site bundles) and writes
# the consortium report. Only with a consortium config.
if CONSORTIUM is not None:

    rule consortium:
        input:
            unpack(consortium_inputs),
        output:
            **consortium_outputs(),
        log:
            f"logs/consortium/{CONSORTIUM.name}.log",
        conda:
            "../../environment.yml"
        threads: 2
        resources:
            mem_mb=8000,
        params:
            config=shlex.quote(str(CONSORTIUM.source)),
            out=f"results/consortium/{CONSORTIUM.name}",
        shell:
            "stratify consortium --config {params.config} --results results --out {params.out} --log {log}"
